-- Training set from production: one model's scored readings joined with what really happened
-- (its outcomes), for retraining (the retraining workflow's QueryLake state; its one execution
-- parameter is the model's name). Each side is read in its latest state per (model, event_id):
-- the last change wins, a change delivered twice counts once, a REMOVEd reading or outcome is
-- left out. Features are the reading's input (JSON, as the model was given it); the label or
-- value is the outcome's. Ordered by reading time, oldest first: the preparation step holds out
-- the newest readings.
WITH wanted AS (
    SELECT ? AS model
),
readings AS (
    SELECT p.event_id, p.sensor, p.ts, p.input, p.change_type,
           row_number() OVER (PARTITION BY p.model, p.event_id ORDER BY p.changed_at DESC, p.dedup_key) AS version
    FROM predictions p
    JOIN wanted w ON p.model = w.model
),
truths AS (
    SELECT o.event_id, o.label, o.value, o.observed_at, o.change_type,
           row_number() OVER (PARTITION BY o.model, o.event_id ORDER BY o.changed_at DESC, o.dedup_key) AS version
    FROM outcomes o
    JOIN wanted w ON o.model = w.model
)
SELECT r.event_id,
       r.sensor,
       r.ts AS reading_ms,
       r.input,
       t.label,
       t.value,
       t.observed_at
FROM readings r
JOIN truths t ON t.event_id = r.event_id
WHERE r.version = 1 AND r.change_type <> 'REMOVE'
  AND t.version = 1 AND t.change_type <> 'REMOVE'
  AND r.input IS NOT NULL
  AND (t.label IS NOT NULL OR t.value IS NOT NULL)
ORDER BY r.ts, r.event_id
