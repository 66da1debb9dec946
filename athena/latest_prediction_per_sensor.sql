-- Latest prediction per sensor: the state a control room shows.
SELECT sensor,
       max("timestamp") AS last_reading_ms,
       max_by(model, "timestamp") AS model,
       max_by(prediction, "timestamp") AS prediction,
       max_by(probability, "timestamp") AS probability
FROM prediction_events
GROUP BY sensor
ORDER BY sensor
