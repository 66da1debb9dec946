-- Live quality monitor (statemachine/monitor.asl.json runs this text): each model's headline
-- metric over the last 7 days (nrt/lake/quality.py: F1 for binary, macro F1 for multi-class,
-- MAE for regression), its labelled readings, and its direction (1: higher is better, -1: lower).
SELECT model, labelled, live, direction
FROM (
    SELECT model, labelled,
           CASE kind WHEN 'binary' THEN f1 WHEN 'multiclass' THEN macro_f1 ELSE mae END AS live,
           CASE kind WHEN 'regression' THEN -1 ELSE 1 END AS direction
    FROM model_quality
    WHERE day IS NULL
) AS recent
WHERE live IS NOT NULL
ORDER BY model
