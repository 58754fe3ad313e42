-- Corrections (an agency restates or retracts an earlier event): which version a correction
-- replaced, whether it retracts, and its note. (rollups needs no change here: the adapter's read-time
-- dedup follows the catalog's version column, now updated_ms.) Safe to run twice, like ClickHouse's.

ALTER TABLE metric_events ADD COLUMN IF NOT EXISTS supersedes VARCHAR DEFAULT '';
ALTER TABLE metric_events ADD COLUMN IF NOT EXISTS retract BOOLEAN DEFAULT false;
ALTER TABLE metric_events ADD COLUMN IF NOT EXISTS note VARCHAR DEFAULT '';

-- performance_updates: when each was published (the batch's processing time); the newest publication
-- of an asOf wins. Rows from before: published at their asOf.
ALTER TABLE performance_updates ADD COLUMN IF NOT EXISTS published_ms BIGINT DEFAULT 0;
UPDATE performance_updates SET published_ms = as_of_ms WHERE published_ms = 0;
