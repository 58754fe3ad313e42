-- Corrections (an agency restates or retracts an earlier event).
-- metric_events: which version a correction replaced, whether it retracts, and its note.
-- rollups: the newest row of a bucket wins (updated_ms), no longer the fullest (count), since a
-- correction can take events out of a bucket. The version column of a ReplacingMergeTree is fixed at
-- creation, so the table is rebuilt from its collapsed rows and swapped in.

ALTER TABLE metric_events ADD COLUMN supersedes String DEFAULT '' AFTER module_version;
ALTER TABLE metric_events ADD COLUMN retract UInt8 DEFAULT 0 AFTER supersedes;
ALTER TABLE metric_events ADD COLUMN note String DEFAULT '' AFTER retract;

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

RENAME TABLE rollups TO rollups_by_count, rollups_by_time TO rollups;

DROP TABLE rollups_by_count;

-- performance_updates: when each was published (the batch's processing time). A correction restates
-- a value at an asOf already published: the newest publication wins, earlier ones stay for vintages.
CREATE TABLE IF NOT EXISTS performance_updates_published (
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

INSERT INTO performance_updates_published SELECT module_id, goal_id, as_of_ms, module_version, status, value, body, as_of_ms AS published_ms, as_of_at FROM performance_updates;

RENAME TABLE performance_updates TO performance_updates_unpublished, performance_updates_published TO performance_updates;

DROP TABLE performance_updates_unpublished;
