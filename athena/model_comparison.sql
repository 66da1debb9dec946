-- Model comparison on the same sensors: only sensors that more than one model scored.
WITH per_sensor AS (
    SELECT model, sensor, count(*) AS predictions, sum(prediction) AS failures, sum(probability) AS probability_sum
    FROM prediction_events
    GROUP BY model, sensor
),
shared AS (
    SELECT sensor FROM per_sensor GROUP BY sensor HAVING count(DISTINCT model) > 1
)
SELECT model,
       count(*) AS sensors,
       sum(predictions) AS predictions,
       round(CAST(sum(failures) AS double) / sum(predictions), 4) AS failure_rate,
       round(sum(probability_sum) / sum(predictions), 4) AS mean_probability
FROM per_sensor
WHERE sensor IN (SELECT sensor FROM shared)
GROUP BY model
ORDER BY model
