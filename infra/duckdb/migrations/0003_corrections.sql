-- Corrections (an agency restates or retracts an earlier event): which version a correction
-- replaced, whether it retracts, and its note. (rollups needs no change here: the adapter's read-time
-- dedup follows the catalog's version column, now updated_ms.)

ALTER TABLE metric_events ADD COLUMN supersedes VARCHAR DEFAULT '';
ALTER TABLE metric_events ADD COLUMN retract BOOLEAN DEFAULT false;
ALTER TABLE metric_events ADD COLUMN note VARCHAR DEFAULT '';

-- performance_updates: when each was published (the batch's processing time); the newest publication
-- of an asOf wins, earlier ones stay for vintages. Rows from before: published at their asOf.
ALTER TABLE performance_updates ADD COLUMN published_ms BIGINT DEFAULT 0;
UPDATE performance_updates SET published_ms = as_of_ms;
