-- View: live model quality, per model and per day of the readings (UTC), from
-- labelled_predictions (predictions joined with their outcomes). Rows with day null hold the
-- last 7 days together (the health line, nrt status and the alarms read them).
-- labelled: the readings with an outcome. Classifiers: accuracy and macro F1 (the mean over the
-- labels predicted or observed of each label's F1); binary models also precision, recall and F1
-- of the positive label, at the model's threshold (the stored label is that decision).
-- Regression: MAE, RMSE and bias (the mean of predicted minus actual).
-- A 95 % interval where one is standard: Wilson's for a proportion (accuracy, precision,
-- recall), the normal one with the sample standard deviation for a mean (MAE, bias); a small
-- sample shows as a wide interval. F1, macro F1 and RMSE have none.
CREATE OR REPLACE VIEW model_quality AS
WITH labelled AS (
    SELECT model, kind, day, predicted_label, actual_label, predicted_value, actual_value,
           max(positive_label) OVER (PARTITION BY model) AS positive
    FROM labelled_predictions
),
periods AS (
    SELECT labelled.*, CAST(day AS varchar) AS period FROM labelled
    UNION ALL
    SELECT labelled.*, 'last 7 days' FROM labelled WHERE day >= current_date - INTERVAL '6' DAY
),
per_label AS (
    SELECT model, period, avg(2.0 * tp / (2 * tp + fp + fn)) AS macro_f1
    FROM (
        SELECT model, period, label, sum(tp) AS tp, sum(fp) AS fp, sum(fn) AS fn
        FROM (
            SELECT model, period, predicted_label AS label,
                   CASE WHEN predicted_label = actual_label THEN 1 ELSE 0 END AS tp,
                   CASE WHEN predicted_label <> actual_label THEN 1 ELSE 0 END AS fp,
                   0 AS fn
            FROM periods
            WHERE kind <> 'regression' AND actual_label IS NOT NULL
            UNION ALL
            SELECT model, period, actual_label, 0, 0, CASE WHEN predicted_label <> actual_label THEN 1 ELSE 0 END
            FROM periods
            WHERE kind <> 'regression' AND actual_label IS NOT NULL
        ) AS sides
        GROUP BY model, period, label
    ) AS labels
    GROUP BY model, period
),
counts AS (
    SELECT model, max(kind) AS kind, period, max(positive) AS positive_label,
           count_if(kind = 'regression' AND actual_value IS NOT NULL AND predicted_value IS NOT NULL)
               + count_if(kind <> 'regression' AND actual_label IS NOT NULL) AS labelled,
           count_if(kind <> 'regression' AND actual_label IS NOT NULL AND predicted_label = actual_label) AS correct,
           count_if(kind = 'binary' AND predicted_label = positive AND actual_label = positive) AS tp,
           count_if(kind = 'binary' AND predicted_label = positive AND actual_label <> positive) AS fp,
           count_if(kind = 'binary' AND predicted_label <> positive AND actual_label = positive) AS fn,
           avg(abs(predicted_value - actual_value)) AS mae,
           stddev_samp(abs(predicted_value - actual_value)) AS mae_sd,
           sqrt(avg(power(predicted_value - actual_value, 2))) AS rmse,
           avg(predicted_value - actual_value) AS bias,
           stddev_samp(predicted_value - actual_value) AS bias_sd
    FROM periods
    GROUP BY model, period
),
shares AS (
    SELECT c.*, m.macro_f1, 1.959963984540054 AS z,
           CASE WHEN c.kind = 'regression' THEN NULL ELSE c.labelled END AS n_accuracy,
           CASE WHEN c.kind = 'binary' AND c.positive_label IS NOT NULL THEN c.tp + c.fp END AS n_precision,
           CASE WHEN c.kind = 'binary' AND c.positive_label IS NOT NULL THEN c.tp + c.fn END AS n_recall
    FROM counts c
    LEFT JOIN per_label m ON m.model = c.model AND m.period = c.period
)
SELECT model, kind, TRY_CAST(period AS date) AS day, labelled,
       positive_label,
       CAST(correct AS double) / nullif(n_accuracy, 0) AS accuracy,
       (correct + z * z / 2) / nullif(n_accuracy + z * z, 0)
           - z / nullif(n_accuracy + z * z, 0) * sqrt(CAST(correct AS double) * (n_accuracy - correct) / nullif(n_accuracy, 0) + z * z / 4) AS accuracy_low,
       (correct + z * z / 2) / nullif(n_accuracy + z * z, 0)
           + z / nullif(n_accuracy + z * z, 0) * sqrt(CAST(correct AS double) * (n_accuracy - correct) / nullif(n_accuracy, 0) + z * z / 4) AS accuracy_high,
       CASE WHEN kind <> 'regression' THEN macro_f1 END AS macro_f1,
       CAST(tp AS double) / nullif(n_precision, 0) AS precision,
       (tp + z * z / 2) / nullif(n_precision + z * z, 0)
           - z / nullif(n_precision + z * z, 0) * sqrt(CAST(tp AS double) * (n_precision - tp) / nullif(n_precision, 0) + z * z / 4) AS precision_low,
       (tp + z * z / 2) / nullif(n_precision + z * z, 0)
           + z / nullif(n_precision + z * z, 0) * sqrt(CAST(tp AS double) * (n_precision - tp) / nullif(n_precision, 0) + z * z / 4) AS precision_high,
       CAST(tp AS double) / nullif(n_recall, 0) AS recall,
       (tp + z * z / 2) / nullif(n_recall + z * z, 0)
           - z / nullif(n_recall + z * z, 0) * sqrt(CAST(tp AS double) * (n_recall - tp) / nullif(n_recall, 0) + z * z / 4) AS recall_low,
       (tp + z * z / 2) / nullif(n_recall + z * z, 0)
           + z / nullif(n_recall + z * z, 0) * sqrt(CAST(tp AS double) * (n_recall - tp) / nullif(n_recall, 0) + z * z / 4) AS recall_high,
       CASE WHEN n_precision IS NOT NULL THEN coalesce(2.0 * tp / nullif(2 * tp + fp + fn, 0), 0.0) END AS f1,
       mae,
       mae - z * mae_sd / sqrt(labelled) AS mae_low,
       mae + z * mae_sd / sqrt(labelled) AS mae_high,
       rmse,
       bias,
       bias - z * bias_sd / sqrt(labelled) AS bias_low,
       bias + z * bias_sd / sqrt(labelled) AS bias_high
FROM shares
