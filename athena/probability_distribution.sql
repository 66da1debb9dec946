-- Confidence per classifier, in twentieths: the probability of the positive label (binary) or
-- of the predicted label (multi-class). A healthy classifier is sure either way; the dashboard
-- draws the counts on a log scale, so a bucket of one prediction still shows.
SELECT model,
       kind,
       least(floor(probability * 20) / 20, 0.95) AS bucket_from,
       count(*) AS predictions
FROM prediction_events
WHERE probability IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY model, bucket_from
