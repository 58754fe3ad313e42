import { z } from 'zod';
import { AuditEntry } from '../../schemas/audit.js';
import { ModulePut, Sociotechnician } from '../../schemas/registry.js';
import { PrincipalKindSchema, RegistryRecord } from '../core/registry/records.js';

/** An audit entry to append as given (e.g. an alert acknowledgement); the sequencer adds the chain fields. */
export const AppendCommand = z.strictObject({
  op: z.literal('audit.append'),
  action: z.string().min(1),
  subject: z.string().min(1),
  before: z.unknown(),
  after: z.unknown(),
  rationale: z.string().nullable(),
  flags: z.array(z.string()).optional(),
});

/** A registry change, executed by the one sequencer against the registry's current state. */
export const Command = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('module.put'), module: ModulePut }),
  z.strictObject({ op: z.literal('sociotechnician.put'), sociotechnician: Sociotechnician }),
  z.strictObject({
    op: z.literal('principal.create'),
    kind: PrincipalKindSchema,
    id: z.string(),
    name: z.string(),
    secretHash: z.string(),
    secretCheck: z.string().optional(),
  }),
  z.strictObject({ op: z.literal('principal.revoke'), kind: PrincipalKindSchema, id: z.string() }),
  /**
   * Adds the pre-check to a credential issued before it existed, after the holder's secret passed
   * scrypt; `version` is the entry it was checked against, so a revoked or re-issued one is left alone.
   */
  z.strictObject({
    op: z.literal('principal.check'),
    kind: PrincipalKindSchema,
    id: z.string(),
    version: z.number().int().min(1),
    secretCheck: z.string().min(1),
  }),
  AppendCommand,
]);
export type Command = z.input<typeof Command>;
export type ParsedCommand = z.output<typeof Command>;

export const CommandError = z.strictObject({
  code: z.string(),
  message: z.string(),
  status: z.number().int(),
  details: z.unknown().optional(),
});
export type CommandError = z.infer<typeof CommandError>;

/** What a command produced: the audit entry (null when nothing changed), the answer, and the registry records. */
export const CommandOutcome = z.discriminatedUnion('ok', [
  z.strictObject({
    ok: z.literal(true),
    entry: AuditEntry.nullable(),
    value: z.unknown(),
    records: z.array(RegistryRecord),
  }),
  z.strictObject({ ok: z.literal(false), error: CommandError }),
]);
export type CommandOutcome = z.output<typeof CommandOutcome>;

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
    command: Command,
  }),
  z.strictObject({ type: z.literal('result'), requestId: z.string().min(1), outcome: CommandOutcome }),
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
