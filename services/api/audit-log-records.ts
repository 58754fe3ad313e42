import { z } from 'zod';
import { AuditEntry } from '../../schemas/audit.js';
import { ChangeRequest } from '../core/registry/changes.js';
import { RegistryRecord } from '../core/registry/records.js';

export const ChangeError = z.strictObject({
  code: z.string(),
  message: z.string(),
  /**
   * Set only when the sequencer could not execute the request (503); a refusal carries its code alone,
   * and the route that made the request picks the HTTP status (api/routes/refusals.ts).
   */
  status: z.number().int().optional(),
  details: z.unknown().optional(),
});
export type ChangeError = z.infer<typeof ChangeError>;

/** What a command produced: the audit entry (null when nothing changed), the answer, and the registry records. */
export const ChangeOutcome = z.discriminatedUnion('ok', [
  z.strictObject({
    ok: z.literal(true),
    entry: AuditEntry.nullable(),
    value: z.unknown(),
    records: z.array(RegistryRecord),
  }),
  z.strictObject({ ok: z.literal(false), error: ChangeError }),
]);
export type ChangeOutcome = z.output<typeof ChangeOutcome>;

/**
 * The records of the single-partition `audit.log` topic: requests from any process, and the
 * sequencer's results, correlated by `requestId`. `expiresAt` (epoch ms) bounds when a request may
 * still be executed, so a caller that gave up (503) is never surprised by a late write.
 */
export const AuditLogRecord = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('request'),
    requestId: z.string().min(1),
    actor: z.string().min(1),
    expiresAt: z.number().int(),
    /**
     * When the request was made (epoch ms): the entry's `at` (never before the previous entry's), so
     * executing the same request again makes the same entry. Absent in requests of older versions.
     */
    requestedAt: z.number().int().optional(),
    command: ChangeRequest,
  }),
  z.strictObject({ type: z.literal('result'), requestId: z.string().min(1), outcome: ChangeOutcome }),
]);
export type AuditLogRecord = z.output<typeof AuditLogRecord>;

/** Parses one `audit.log` record; undefined when it is not one. */
export function parseAuditLogRecord(value: Buffer): AuditLogRecord | undefined {
  try {
    const parsed = AuditLogRecord.safeParse(JSON.parse(value.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
