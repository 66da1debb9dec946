-- Binary classifiers: the share of readings given the positive label, per model per minute
-- (positive_label: see prediction_events.sql; a model whose lake rows leave it unknown has its
-- labels' shares in label_rate_per_minute.sql instead). minute is a timestamp without time zone (UTC),
-- as reading_time is, for QuickSight's direct queries.
SELECT model,
       date_trunc('minute', reading_time) AS minute,
       max(positive_label) AS positive_label,
       count(*) AS readings,
       count_if(label = positive_label) AS positives,
       round(CAST(count_if(label = positive_label) AS double) / count(*), 4) AS share
FROM prediction_events
WHERE kind = 'binary' AND positive_label IS NOT NULL
GROUP BY 1, 2
ORDER BY model, minute
