-- Corrections held for an admin's approval (services/ports/tables.ts, held_corrections): an admin's
-- decision (version 2) wins over the held row (version 1). Safe to run twice and concurrently.

CREATE TABLE IF NOT EXISTS held_corrections (
  id String,
  module_id String,
  agency_id String,
  event_id String,
  metric String,
  supersedes String,
  replaces String,
  target_observed_ms Int64,
  held_ms Int64,
  state String,
  version UInt32,
  decided_by String,
  decided_ms Int64,
  rationale String,
  event String
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
