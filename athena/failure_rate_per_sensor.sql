-- Failure rate per sensor per minute: the share of readings the model scored as a failure.
SELECT sensor,
       date_trunc('minute', from_unixtime("timestamp" / 1000)) AS minute,
       count(*) AS readings,
       sum(prediction) AS predicted_failures,
       round(avg(CAST(prediction AS double)), 4) AS failure_rate
FROM prediction_events
GROUP BY 1, 2
ORDER BY minute, sensor
