import { z } from 'zod';
import { Slug, Timestamp } from './common.js';

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
});
export type AlertEvent = z.infer<typeof AlertEvent>;

/** `POST /v1/alerts/:id/ack` body (and the WS `ack` op). */
export const AlertAck = z.strictObject({ note: z.string().trim().min(1, 'must not be empty').max(2000) });
export type AlertAck = z.infer<typeof AlertAck>;
