-- Confidence per classifier, in tenths: the probability of the positive label (binary) or of
-- the predicted label (multi-class). A healthy classifier is sure either way.
SELECT model,
       least(floor(probability * 10) / 10, 0.9) AS bucket_from,
       count(*) AS predictions
FROM prediction_events
WHERE probability IS NOT NULL
GROUP BY 1, 2
ORDER BY model, bucket_from
