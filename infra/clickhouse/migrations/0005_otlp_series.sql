-- The last cumulative point taken of each OTLP series (services/ports/tables.ts, otlp_series).
-- The newest point wins for one (agency_id, series_id).

CREATE TABLE IF NOT EXISTS otlp_series (
  agency_id String,
  series_id String,
  start_ns String,
  time_ns String,
  time_ms Int64,
  value Float64,
  base Float64
) ENGINE = ReplacingMergeTree(time_ms)
ORDER BY (agency_id, series_id);
