-- Duplicate check: both counts are 0 when every change reached the lake exactly once.
SELECT 'same change delivered twice' AS duplicate_kind,
       count(*) - count(DISTINCT dedup_key) AS extra_rows
FROM predictions
UNION ALL
SELECT 'more than one insert per event and model',
       count(*) - count(DISTINCT concat(event_id, '#', endpoint))
FROM predictions
WHERE change_type = 'INSERT'
