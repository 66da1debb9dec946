-- Distribution of predicted values per regression model: twenty equal-width buckets from the
-- model's lowest to its highest value (bucket 0 to 19; all in bucket 0 when every value is the same).
SELECT model,
       bucket,
       count(*) AS predictions,
       round(lowest + bucket * width, 4) AS value_from,
       round(lowest + (bucket + 1) * width, 4) AS value_to
FROM (
    SELECT model,
           lowest,
           width,
           CAST(coalesce(least(floor((value - lowest) / nullif(width, 0)), 19), 0) AS integer) AS bucket
    FROM (
        SELECT model,
               value,
               min(value) OVER (PARTITION BY model) AS lowest,
               (max(value) OVER (PARTITION BY model) - min(value) OVER (PARTITION BY model)) / 20 AS width
        FROM prediction_events
        WHERE kind = 'regression' AND value IS NOT NULL
    ) AS spread
) AS bucketed
GROUP BY model, bucket, lowest, width
ORDER BY model, bucket
