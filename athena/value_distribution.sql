-- Distribution of predicted values per regression model, in ten equal-count buckets (deciles).
SELECT model,
       decile,
       count(*) AS predictions,
       round(min(value), 4) AS value_from,
       round(max(value), 4) AS value_to
FROM (
    SELECT model, value, ntile(10) OVER (PARTITION BY model ORDER BY value) AS decile
    FROM prediction_events
    WHERE kind = 'regression'
) AS ranked
GROUP BY model, decile
ORDER BY model, decile
