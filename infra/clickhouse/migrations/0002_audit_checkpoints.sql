-- Signed checkpoints of the audit log's Merkle tree (services/ports/tables.ts, audit_checkpoints).
-- The row with the most witness cosignatures wins for one (origin, size).

CREATE TABLE IF NOT EXISTS audit_checkpoints (
  origin String,
  size Int64,
  signed_ms Int64,
  cosignatures UInt32,
  note String
) ENGINE = ReplacingMergeTree(cosignatures)
ORDER BY (origin, size);
