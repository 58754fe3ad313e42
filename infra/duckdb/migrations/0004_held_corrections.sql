-- Corrections held for an admin's approval (services/ports/tables.ts, held_corrections). No index
-- (see 0001): the adapter keeps, per id, the row of the greatest version (the decision).

CREATE TABLE IF NOT EXISTS held_corrections (
  id VARCHAR NOT NULL,
  module_id VARCHAR NOT NULL,
  agency_id VARCHAR NOT NULL,
  event_id VARCHAR NOT NULL,
  metric VARCHAR NOT NULL,
  supersedes VARCHAR NOT NULL,
  replaces VARCHAR NOT NULL,
  target_observed_ms BIGINT NOT NULL,
  held_ms BIGINT NOT NULL,
  state VARCHAR NOT NULL,
  version UINTEGER NOT NULL,
  decided_by VARCHAR NOT NULL,
  decided_ms BIGINT NOT NULL,
  rationale VARCHAR NOT NULL,
  event VARCHAR NOT NULL
);
