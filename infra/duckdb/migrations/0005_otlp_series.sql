-- The last cumulative point taken of each OTLP series (services/ports/tables.ts, otlp_series).
-- No index (see 0001): the adapter keeps, per (agency_id, series_id), the row of greatest time_ms.

CREATE TABLE IF NOT EXISTS otlp_series (
  agency_id VARCHAR NOT NULL,
  series_id VARCHAR NOT NULL,
  start_ns VARCHAR NOT NULL,
  time_ns VARCHAR NOT NULL,
  time_ms BIGINT NOT NULL,
  value DOUBLE NOT NULL,
  base DOUBLE NOT NULL
);
