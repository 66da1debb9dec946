-- View: one row per stored prediction, in its latest state, over the last 7 days of arrivals.
-- The lake holds every change (INSERT, MODIFY, REMOVE) and may hold a redelivered change
-- twice; dashboards read this view instead.
CREATE OR REPLACE VIEW prediction_events AS
SELECT event_id, sensor, "timestamp", model, endpoint, prediction, probability,
       predicted_at, changed_at, ingested_at, dt, hour
FROM (
    SELECT p.*,
           row_number() OVER (PARTITION BY sensor, "timestamp" ORDER BY changed_at DESC, dedup_key) AS version
    FROM predictions p
    WHERE dt >= date_format(current_date - INTERVAL '7' DAY, '%Y-%m-%d')
) AS changes
WHERE version = 1 AND change_type <> 'REMOVE'
