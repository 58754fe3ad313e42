import { z } from 'zod';
import { Slug, Timestamp, toTimestamp } from './common.js';

export const AlertKind = z.enum([
  'goal_deviation',
  'constraint_violation',
  'stagnation',
  'data_gap',
  'anomaly',
]);
export type AlertKind = z.infer<typeof AlertKind>;

export const AlertState = z.enum(['pending', 'firing', 'resolved']);
export type AlertState = z.infer<typeof AlertState>;

export const Severity = z.enum(['warning', 'critical']);
export type Severity = z.infer<typeof Severity>;

/** One version of an alert. Every change (state, severity, acknowledgement) is a new version. */
export const AlertEvent = z.strictObject({
  alertId: z.string().regex(/^[a-f0-9]{32}$/),
  version: z.number().int().min(1),
  moduleId: Slug,
  moduleVersion: z.number().int().min(1),
  ruleId: Slug,
  kind: AlertKind,
  severity: Severity,
  state: AlertState,
  owner: Slug,
  openedAt: Timestamp,
  updatedAt: Timestamp,
  resolvedAt: Timestamp.optional(),
  observed: z.number().nullable(),
  target: z.number().nullable(),
  shortfall: z.number().nullable(),
  message: z.string(),
  acknowledgedBy: z.string().optional(),
  acknowledgedAt: Timestamp.optional(),
  note: z.string().optional(),
  /**
   * Why a resolved alert closed other than by recovery: `restated` when a correction of the data
   * removed its cause (the corrected numbers never showed the deviation).
   */
  reason: z.enum(['restated']).optional(),
});
export type AlertEvent = z.infer<typeof AlertEvent>;

/**
 * An AlertEvent inside the system (the engine's alert trackers, the processor's outputs and restore,
 * the gateway's state): its times in epoch ms (`openedMs`, `updatedMs`, `resolvedMs`,
 * `acknowledgedMs`) instead of RFC 3339 text. The public shape is made once where a version leaves:
 * the `alerts.events` record, the stored body the API answers with (`publicAlert`); what is read
 * back from those is made internal again with `storedAlert`.
 */
export const AlertEventMs = AlertEvent.omit({
  openedAt: true,
  updatedAt: true,
  resolvedAt: true,
  acknowledgedAt: true,
}).extend({
  openedMs: z.number().int().min(0),
  updatedMs: z.number().int().min(0),
  resolvedMs: z.number().int().min(0).optional(),
  acknowledgedMs: z.number().int().min(0).optional(),
});
export type AlertEventMs = z.infer<typeof AlertEventMs>;

/** The public shape of an alert version (fields in the order of AlertEvent, absent ones left out). */
export function publicAlert(a: AlertEventMs): AlertEvent {
  return {
    alertId: a.alertId,
    version: a.version,
    moduleId: a.moduleId,
    moduleVersion: a.moduleVersion,
    ruleId: a.ruleId,
    kind: a.kind,
    severity: a.severity,
    state: a.state,
    owner: a.owner,
    openedAt: toTimestamp(a.openedMs),
    updatedAt: toTimestamp(a.updatedMs),
    ...(a.resolvedMs === undefined ? {} : { resolvedAt: toTimestamp(a.resolvedMs) }),
    observed: a.observed,
    target: a.target,
    shortfall: a.shortfall,
    message: a.message,
    ...(a.acknowledgedBy === undefined ? {} : { acknowledgedBy: a.acknowledgedBy }),
    ...(a.acknowledgedMs === undefined ? {} : { acknowledgedAt: toTimestamp(a.acknowledgedMs) }),
    ...(a.note === undefined ? {} : { note: a.note }),
    ...(a.reason === undefined ? {} : { reason: a.reason }),
  };
}

/** An alert version read back in its public shape (a stored body, an `alerts.events` record), with its times in epoch ms. */
export function storedAlert(a: AlertEvent): AlertEventMs {
  const { openedAt, updatedAt, resolvedAt, acknowledgedAt, ...rest } = a;
  return {
    ...rest,
    openedMs: Date.parse(openedAt),
    updatedMs: Date.parse(updatedAt),
    ...(resolvedAt === undefined ? {} : { resolvedMs: Date.parse(resolvedAt) }),
    ...(acknowledgedAt === undefined ? {} : { acknowledgedMs: Date.parse(acknowledgedAt) }),
  };
}

/** `POST /v1/alerts/:id/ack` body (and the WS `ack` op). */
export const AlertAck = z.strictObject({ note: z.string().trim().min(1, 'must not be empty').max(2000) });
export type AlertAck = z.infer<typeof AlertAck>;

/**
 * The `metrics.raw` header that marks a record as a command to the processor instead of a metric
 * event; its value names the command (`alert.ack`). Only the gateway and api roles write it, and
 * sign it (`commandSignatureHeader`): agencies may produce straight to `metrics.raw`, so a command
 * is executed only with a valid signature. Ingest never forwards client headers.
 */
export const commandHeader = 'glasshouse-command';

/**
 * The `metrics.raw` header carrying a command's signature: lowercase hex HMAC-SHA256, under the key
 * the roles share, of `<command name>\n<record key>\n<record value>` (core/validation/command-signature.ts).
 */
export const commandSignatureHeader = 'glasshouse-signature';

/** Command names carried in the `glasshouse-command` header. */
export const AlertCommandName = z.enum(['alert.ack']);
export type AlertCommandName = z.infer<typeof AlertCommandName>;

/**
 * The body of an `alert.ack` command on `metrics.raw` (key: the alert's moduleId, so it reaches the
 * partition whose processor owns the alert). The processor writes the acknowledged version; `at`
 * (epoch ms) becomes `acknowledgedAt`, so a replayed command is recognised and changes nothing.
 */
export const AlertAckCommand = z.strictObject({
  alertId: z.string().regex(/^[a-f0-9]{32}$/),
  by: z.string().min(1).max(128),
  note: AlertAck.shape.note,
  at: z.number().int().min(0),
});
export type AlertAckCommand = z.infer<typeof AlertAckCommand>;

/** An alert version from a bus record's value, or undefined when it is not one. */
export function alertFromRecord(value: Buffer): AlertEvent | undefined {
  try {
    const parsed = AlertEvent.safeParse(JSON.parse(value.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
