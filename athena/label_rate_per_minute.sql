-- Label rates per classifier per minute: the share of readings given each label
-- (for the failure model, label 1 is a predicted failure).
SELECT model,
       date_trunc('minute', from_unixtime("timestamp" / 1000)) AS minute,
       label,
       count(*) AS readings,
       round(CAST(count(*) AS double) / sum(count(*)) OVER (PARTITION BY model, date_trunc('minute', from_unixtime("timestamp" / 1000))), 4) AS share
FROM prediction_events
WHERE kind IN ('binary', 'multiclass')
GROUP BY 1, 2, 3
ORDER BY model, minute, label
