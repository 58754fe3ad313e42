import { z } from 'zod';
import { AlertEvent } from './alert.js';
import { PerformanceUpdate } from './performance.js';
import { Proposal } from './proposals.js';

/** `module:<id>`, `domain:<name>`, `alerts`, `alerts:<moduleId>` or `scoreboard`. */
export const Channel = z
  .string()
  .regex(
    /^(?:module:[a-z0-9][a-z0-9_-]{0,63}|domain:[a-z0-9][a-z0-9_-]{0,63}|alerts|alerts:[a-z0-9][a-z0-9_-]{0,63}|scoreboard)$/,
    'must be module:<id>, domain:<name>, alerts, alerts:<moduleId> or scoreboard',
  );
export type Channel = z.infer<typeof Channel>;

/** Messages a client sends on `/v1/live`. */
export const ClientMessage = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('subscribe'),
    channel: Channel,
    since: z.number().int().min(0).optional(),
    epoch: z.string().max(64).optional(),
  }),
  z.strictObject({ op: z.literal('unsubscribe'), channel: Channel }),
  z.strictObject({ op: z.literal('auth'), token: z.string().min(1).max(512) }),
  z.strictObject({
    op: z.literal('ack'),
    alertId: z.string().max(64),
    note: z.string().trim().min(1).max(2000),
  }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

const envelope = { channel: Channel, epoch: z.string(), seq: z.number().int().min(0) };

/** Messages the server sends on `/v1/live`. */
export const ServerMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('snapshot'),
    ...envelope,
    recovered: z.boolean().optional(),
    data: z.unknown(),
  }),
  z.strictObject({ type: z.literal('update'), ...envelope, data: PerformanceUpdate }),
  z.strictObject({ type: z.literal('alert'), ...envelope, data: AlertEvent }),
  /** A proposal of a module changed (proposed, approved, rejected, ...): on `module:<id>` and `domain:<name>`. */
  z.strictObject({ type: z.literal('proposal'), ...envelope, data: Proposal }),
  z.strictObject({
    type: z.literal('ok'),
    op: z.string(),
    channel: Channel.optional(),
    alertId: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('error'),
    code: z.string(),
    message: z.string(),
    op: z.string().optional(),
  }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** WebSocket close codes (4000-4999 are the application's). */
export const closeCodes = {
  goingAway: 1001,
  messageTooBig: 1009,
  slowConsumer: 4008,
  flood: 4029,
} as const;
