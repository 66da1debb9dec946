-- Label rates per classifier per minute: the share of readings given each label, every label
-- of every model (the dashboard draws it for multi-class models; binary ones have
-- positive_share_per_minute.sql).
SELECT model,
       kind,
       date_trunc('minute', from_unixtime("timestamp" / 1000)) AS minute,
       label,
       count(*) AS readings,
       round(CAST(count(*) AS double) / sum(count(*)) OVER (PARTITION BY model, date_trunc('minute', from_unixtime("timestamp" / 1000))), 4) AS share
FROM prediction_events
WHERE kind IN ('binary', 'multiclass')
GROUP BY 1, 2, 3, 4
ORDER BY model, minute, label
