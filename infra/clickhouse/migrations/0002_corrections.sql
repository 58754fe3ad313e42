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
