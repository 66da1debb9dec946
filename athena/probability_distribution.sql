-- Probability distribution per model, in tenths: a healthy classifier is sure either way.
SELECT model,
       least(floor(probability * 10) / 10, 0.9) AS bucket_from,
       count(*) AS predictions
FROM prediction_events
GROUP BY 1, 2
ORDER BY model, bucket_from
