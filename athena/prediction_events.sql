-- View: one row per stored prediction (a reading scored by one model), in its latest state,
-- over the last 7 days of arrivals. The lake holds every change (INSERT, MODIFY, REMOVE) and
-- may hold a redelivered change twice; dashboards read this view instead.
-- kind: binary, multiclass or regression. label: the predicted label as text (classifiers);
-- value: the predicted number (regression). Rows written before labels and values existed
-- (prediction int, binary 0/1) read as binary, with that number as their label.
-- reading_time: the reading's timestamp (epoch ms) as a timestamp, for QuickSight's direct queries.
-- positive_label (binary only): the model's positive label. The lake's probability is the
-- positive label's whatever was predicted, so it is the label whose probability that is (the
-- other one when the predicted label's is not). Without probabilities (rows written before
-- them, or a model with no predict_proba) it is 1 for labels 0/1, else unknown (null).
-- At exactly 0.5 the predicted label counts as positive (right for the default threshold).
-- The table's column is ts (timestamp is a Hive keyword); the view names it "timestamp".
CREATE OR REPLACE VIEW prediction_events AS
SELECT event_id, sensor, ts AS "timestamp",
       CAST(from_unixtime(ts / 1000.0) AS timestamp) AS reading_time,
       model, endpoint,
       coalesce(kind, 'binary') AS kind,
       coalesce(label, CAST(prediction AS varchar)) AS label,
       CASE WHEN coalesce(kind, 'binary') <> 'binary' THEN NULL
            WHEN probabilities IS NULL OR cardinality(map_keys(probabilities)) <> 2
                 THEN CASE WHEN coalesce(label, CAST(prediction AS varchar)) IN ('0', '1') THEN '1' END
            WHEN element_at(probabilities, label) = probability THEN label
            WHEN element_at(map_keys(probabilities), 1) = label THEN element_at(map_keys(probabilities), 2)
            ELSE element_at(map_keys(probabilities), 1)
       END AS positive_label,
       value, probability, probabilities, input,
       predicted_at, changed_at, ingested_at, dt, hour
FROM (
    SELECT p.*,
           row_number() OVER (PARTITION BY sensor, ts, endpoint ORDER BY changed_at DESC, dedup_key) AS version
    FROM predictions p
    WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
) AS changes
WHERE version = 1 AND change_type <> 'REMOVE'
