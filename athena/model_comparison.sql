-- Model comparison on the same readings: every pair of models that scored the same sensor
-- and timestamp. Classifiers: how often their labels agree; regressors: how far apart their
-- values are.
SELECT a.model AS model_a,
       b.model AS model_b,
       count(*) AS shared_readings,
       round(avg(CASE WHEN a.label IS NULL OR b.label IS NULL THEN NULL
                      WHEN a.label = b.label THEN 1.0 ELSE 0.0 END), 4) AS label_agreement,
       round(avg(abs(a.value - b.value)), 4) AS mean_abs_value_difference,
       round(avg(a.probability), 4) AS mean_probability_a,
       round(avg(b.probability), 4) AS mean_probability_b
FROM prediction_events a
JOIN prediction_events b
  ON a.sensor = b.sensor AND a."timestamp" = b."timestamp" AND a.model < b.model
GROUP BY a.model, b.model
ORDER BY a.model, b.model
