-- The storage catalog (services/ports/tables.ts) as DuckDB tables.
-- Deliberately no PRIMARY KEY, UNIQUE or other index: DuckDB's unique indexes combined with
-- ON CONFLICT can make WAL replay fail after a kill (duckdb#18732). Tables are append-only and the
-- adapter deduplicates at read time with row_number() over the catalog key, latest version first.
-- json columns are VARCHAR holding JSON text (the json extension may not be installable offline).

CREATE TABLE IF NOT EXISTS metric_events (
  module_id VARCHAR NOT NULL,
  agency_id VARCHAR NOT NULL,
  event_id VARCHAR NOT NULL,
  metric VARCHAR NOT NULL,
  value DOUBLE NOT NULL,
  observed_ms BIGINT NOT NULL,
  received_ms BIGINT NOT NULL,
  dimensions VARCHAR NOT NULL,
  late BOOLEAN NOT NULL,
  module_version UINTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS rollups (
  module_id VARCHAR NOT NULL,
  rule_id VARCHAR NOT NULL,
  metric VARCHAR NOT NULL,
  width_ms BIGINT NOT NULL,
  bucket_ms BIGINT NOT NULL,
  module_version UINTEGER NOT NULL,
  count BIGINT NOT NULL,
  sum DOUBLE NOT NULL,
  min DOUBLE NOT NULL,
  max DOUBLE NOT NULL,
  last_value DOUBLE NOT NULL,
  last_ms BIGINT NOT NULL,
  last_event_id VARCHAR NOT NULL,
  sketch VARCHAR NOT NULL,
  updated_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS performance_updates (
  module_id VARCHAR NOT NULL,
  goal_id VARCHAR NOT NULL,
  as_of_ms BIGINT NOT NULL,
  module_version UINTEGER NOT NULL,
  status VARCHAR NOT NULL,
  value DOUBLE NOT NULL,
  body VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS alerts (
  alert_id VARCHAR NOT NULL,
  version UINTEGER NOT NULL,
  module_id VARCHAR NOT NULL,
  rule_id VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  state VARCHAR NOT NULL,
  opened_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  body VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS module_versions (
  module_id VARCHAR NOT NULL,
  version UINTEGER NOT NULL,
  updated_ms BIGINT NOT NULL,
  body VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS registry_entities (
  kind VARCHAR NOT NULL,
  id VARCHAR NOT NULL,
  version UINTEGER NOT NULL,
  updated_ms BIGINT NOT NULL,
  deleted BOOLEAN NOT NULL,
  body VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT NOT NULL,
  at_ms BIGINT NOT NULL,
  actor VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  subject VARCHAR NOT NULL,
  hash VARCHAR NOT NULL,
  body VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS dead_letters (
  id VARCHAR NOT NULL,
  source_topic VARCHAR NOT NULL,
  source_partition UINTEGER NOT NULL,
  source_offset VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  received_ms BIGINT NOT NULL,
  headers VARCHAR NOT NULL,
  payload VARCHAR NOT NULL,
  replayed_ms BIGINT NOT NULL
);
