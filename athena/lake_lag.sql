-- End-to-end lag per minute of arrival: reading timestamp to arrival in the lake's stream.
SELECT date_trunc('minute', from_unixtime(ingested_at / 1000)) AS minute,
       count(*) AS rows,
       approx_percentile(ingested_at - ts, 0.5) AS p50_lag_ms,
       approx_percentile(ingested_at - ts, 0.99) AS p99_lag_ms,
       max(ingested_at - ts) AS max_lag_ms
FROM predictions
WHERE change_type = 'INSERT'
  AND dt >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
GROUP BY 1
ORDER BY 1
