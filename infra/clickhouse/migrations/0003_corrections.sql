-- Corrections (an agency restates or retracts an earlier event).
-- Every statement may run twice, and in two processes at once (replicas starting together): the
-- adapter applies ADD COLUMN IF NOT EXISTS itself on servers that lack it (18.16), tables are created
-- with IF NOT EXISTS, and a copy into a new table collapses with an earlier copy of the same rows.

-- metric_events: which version a correction replaced, whether it retracts, and its note.
ALTER TABLE metric_events ADD COLUMN IF NOT EXISTS supersedes String DEFAULT '' AFTER module_version;
ALTER TABLE metric_events ADD COLUMN IF NOT EXISTS retract UInt8 DEFAULT 0 AFTER supersedes;
ALTER TABLE metric_events ADD COLUMN IF NOT EXISTS note String DEFAULT '' AFTER retract;

-- rollups: the newest row of a bucket wins (updated_ms), no longer the fullest (count), since a
-- correction can take events out of a bucket. The version column of a ReplacingMergeTree is fixed
-- at creation, so the catalog's rollups live in a new table (services/adapters/clickhouse/tables.ts),
-- filled with the old table's winners. Rows written since carry a later updated_ms and win.
CREATE TABLE IF NOT EXISTS rollups_by_time (
  module_id String,
  rule_id String,
  metric String,
  width_ms Int64,
  bucket_ms Int64,
  module_version UInt32,
  count Int64,
  sum Float64,
  min Float64,
  max Float64,
  last_value Float64,
  last_ms Int64,
  last_event_id String,
  sketch String,
  updated_ms Int64,
  bucket_at DateTime
) ENGINE = ReplacingMergeTree(updated_ms)
PARTITION BY toYYYYMM(bucket_at)
ORDER BY (module_id, rule_id, width_ms, bucket_ms);

INSERT INTO rollups_by_time SELECT module_id, rule_id, metric, width_ms, bucket_ms, module_version, count, sum, min, max, last_value, last_ms, last_event_id, sketch, updated_ms, bucket_at FROM rollups FINAL;

-- performance_updates: when each was published (the batch's processing time). A correction restates
-- a value at an asOf already published: the newest publication wins. Rows from before were
-- published at their asOf.
CREATE TABLE IF NOT EXISTS performance_updates_by_time (
  module_id String,
  goal_id String,
  as_of_ms Int64,
  module_version UInt32,
  status String,
  value Float64,
  body String,
  published_ms Int64,
  as_of_at DateTime
) ENGINE = ReplacingMergeTree(published_ms)
PARTITION BY toYYYYMM(as_of_at)
ORDER BY (module_id, goal_id, as_of_ms);

INSERT INTO performance_updates_by_time SELECT module_id, goal_id, as_of_ms, module_version, status, value, body, as_of_ms AS published_ms, as_of_at FROM performance_updates FINAL;
