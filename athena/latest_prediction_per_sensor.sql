-- Latest prediction per sensor and model: the state a control room shows.
SELECT sensor,
       model,
       max("timestamp") AS last_reading_ms,
       max_by(kind, "timestamp") AS kind,
       max_by(label, "timestamp") AS label,
       max_by(value, "timestamp") AS value,
       max_by(probability, "timestamp") AS probability
FROM prediction_events
GROUP BY sensor, model
ORDER BY sensor, model
