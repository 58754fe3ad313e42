-- The storage catalog (services/ports/tables.ts) as ClickHouse tables.
-- Runs on 18.16 (Debian bookworm) and current servers: no DateTime64, TTL, codecs or Nullable.
-- Every table is a ReplacingMergeTree ordered by the catalog key, so a replayed row collapses;
-- readers use FINAL. Partitioning uses a DateTime derived from a key column (it never changes for a
-- key), because ReplacingMergeTree only collapses rows within one partition. The adapter fills the
-- DateTime columns on insert: 18.16 does not apply DEFAULT expressions to fields omitted from JSONEachRow.
-- bool is UInt8 (0/1); json is String.

CREATE TABLE IF NOT EXISTS metric_events (
  module_id String,
  agency_id String,
  event_id String,
  metric String,
  value Float64,
  observed_ms Int64,
  received_ms Int64,
  dimensions String,
  late UInt8,
  module_version UInt32,
  observed_at DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (module_id, agency_id, event_id);

CREATE TABLE IF NOT EXISTS rollups (
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
) ENGINE = ReplacingMergeTree(count)
PARTITION BY toYYYYMM(bucket_at)
ORDER BY (module_id, rule_id, width_ms, bucket_ms);

CREATE TABLE IF NOT EXISTS performance_updates (
  module_id String,
  goal_id String,
  as_of_ms Int64,
  module_version UInt32,
  status String,
  value Float64,
  body String,
  as_of_at DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(as_of_at)
ORDER BY (module_id, goal_id, as_of_ms);

CREATE TABLE IF NOT EXISTS alerts (
  alert_id String,
  version UInt32,
  module_id String,
  rule_id String,
  kind String,
  state String,
  opened_ms Int64,
  updated_ms Int64,
  body String
) ENGINE = ReplacingMergeTree
ORDER BY (alert_id, version);

CREATE TABLE IF NOT EXISTS module_versions (
  module_id String,
  version UInt32,
  updated_ms Int64,
  body String
) ENGINE = ReplacingMergeTree
ORDER BY (module_id, version);

CREATE TABLE IF NOT EXISTS registry_entities (
  kind String,
  id String,
  version UInt32,
  updated_ms Int64,
  deleted UInt8,
  body String
) ENGINE = ReplacingMergeTree(version)
ORDER BY (kind, id);

CREATE TABLE IF NOT EXISTS audit_log (
  seq Int64,
  at_ms Int64,
  actor String,
  action String,
  subject String,
  hash String,
  body String
) ENGINE = ReplacingMergeTree
ORDER BY seq;

CREATE TABLE IF NOT EXISTS dead_letters (
  id String,
  source_topic String,
  source_partition UInt32,
  source_offset String,
  reason String,
  received_ms Int64,
  headers String,
  payload String,
  replayed_ms Int64
) ENGINE = ReplacingMergeTree(replayed_ms)
ORDER BY id;
