-- Signed checkpoints of the audit log's Merkle tree (services/ports/tables.ts, audit_checkpoints).
-- No index (see 0001): the adapter keeps, per (origin, size), the row with the most cosignatures.

CREATE TABLE IF NOT EXISTS audit_checkpoints (
  origin VARCHAR NOT NULL,
  size BIGINT NOT NULL,
  signed_ms BIGINT NOT NULL,
  cosignatures UINTEGER NOT NULL,
  note VARCHAR NOT NULL
);
