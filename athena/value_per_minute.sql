-- Predicted values per regression model per minute: count, mean, median and range.
SELECT model,
       date_trunc('minute', from_unixtime("timestamp" / 1000)) AS minute,
       count(*) AS readings,
       round(avg(value), 4) AS mean_value,
       round(approx_percentile(value, 0.5), 4) AS median_value,
       round(min(value), 4) AS min_value,
       round(max(value), 4) AS max_value
FROM prediction_events
WHERE kind = 'regression'
GROUP BY 1, 2
ORDER BY model, minute
