import { z } from 'zod';
import { Timestamp } from './common.js';

const Hash = z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex characters (SHA-256)');

/** The `prevHash` of the first entry. */
export const genesisHash = '0'.repeat(64);

/**
 * One entry of the append-only, hash-chained audit log.
 * hash = SHA-256 (hex) of the RFC 8785 canonical JSON of the entry without `hash`.
 */
export const AuditEntry = z.strictObject({
  seq: z.number().int().min(1),
  at: Timestamp,
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
  rationale: z.string().nullable(),
  flags: z.array(z.string()).optional(),
  prevHash: Hash,
  hash: Hash,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditVerification = z.union([
  z.strictObject({ valid: z.literal(true), length: z.number().int(), head: z.string() }),
  z.strictObject({
    valid: z.literal(false),
    length: z.number().int(),
    brokenAt: z.number().int(),
    reason: z.string(),
  }),
]);
export type AuditVerification = z.infer<typeof AuditVerification>;
