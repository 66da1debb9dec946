-- View: each prediction that has an outcome (what really happened for the reading), one row per
-- model and event_id. Predictions and outcomes match on model and event_id (the one sent, else
-- "<sensor>:<timestamp>"); each side is its latest change (a redelivered change counts once, by
-- dedup_key) and a removed one is dropped. Outcomes may arrive weeks after the prediction, or
-- before it: both sides are read over the last 35 days of arrivals.
-- day: the reading's day (UTC). predicted_label / predicted_value: the model's answer (its label
-- is the decision at the model's threshold); actual_label / actual_value: the outcome.
-- positive_label (binary only): the model's positive label, found as prediction_events.sql finds it.
CREATE OR REPLACE VIEW labelled_predictions AS
WITH predicted AS (
    SELECT p.*,
           row_number() OVER (PARTITION BY model, event_id ORDER BY changed_at DESC, dedup_key) AS version
    FROM predictions p
    WHERE dt >= date_format(current_date - INTERVAL '35' DAY, '%Y-%m-%d')
),
observed AS (
    SELECT o.*,
           row_number() OVER (PARTITION BY model, event_id ORDER BY changed_at DESC, dedup_key) AS version
    FROM outcomes o
    WHERE dt >= date_format(current_date - INTERVAL '35' DAY, '%Y-%m-%d')
)
SELECT p.model, p.event_id, p.sensor, p.ts AS "timestamp",
       CAST(from_unixtime(p.ts / 1000.0) AS date) AS day,
       coalesce(p.kind, 'binary') AS kind,
       coalesce(p.label, CAST(p.prediction AS varchar)) AS predicted_label,
       CASE WHEN coalesce(p.kind, 'binary') <> 'binary' THEN NULL
            WHEN p.probabilities IS NULL OR cardinality(map_keys(p.probabilities)) <> 2
                 THEN CASE WHEN coalesce(p.label, CAST(p.prediction AS varchar)) IN ('0', '1') THEN '1' END
            WHEN element_at(p.probabilities, p.label) = p.probability THEN p.label
            WHEN element_at(map_keys(p.probabilities), 1) = p.label THEN element_at(map_keys(p.probabilities), 2)
            ELSE element_at(map_keys(p.probabilities), 1)
       END AS positive_label,
       p.value AS predicted_value,
       o.label AS actual_label,
       o.value AS actual_value
FROM predicted p
JOIN observed o ON o.model = p.model AND o.event_id = p.event_id
WHERE p.version = 1 AND p.change_type <> 'REMOVE' AND o.version = 1 AND o.change_type <> 'REMOVE'
