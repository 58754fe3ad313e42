import { z } from 'zod';
import { AlertEvent, AlertKind } from './alert.js';
import { Timestamp } from './common.js';

/** The body a webhook receives: the signed Glasshouse payload, a Slack message or a Teams message card. */
export const WebhookFormat = z.enum(['json', 'slack', 'teams']);
export type WebhookFormat = z.infer<typeof WebhookFormat>;

/** `POST /v1/webhooks` body: where to POST every alert version, the signing secret, which alert kinds. */
export const WebhookCreate = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .max(2000, 'must be at most 2000 characters'),
  /** HMAC-SHA256 key; generated (and shown once) when absent. */
  secret: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
  /** Alert kinds to receive; every kind when absent. */
  events: z.array(AlertKind).min(1).max(AlertKind.options.length).optional(),
  /** `json` (default): the signed WebhookPayload; `slack`: a Slack incoming-webhook message; `teams`: a MessageCard. */
  format: WebhookFormat.default('json'),
});
export type WebhookCreate = z.infer<typeof WebhookCreate>;

/** One delivery of one alert version to one webhook. */
export const WebhookDelivery = z.strictObject({
  deliveryId: z.string(),
  webhookId: z.string(),
  alertId: z.string(),
  alertVersion: z.number().int().min(1),
  /**
   * `retrying` while its first attempts remain; `failed` once they are spent (kept, and sent again,
   * in order, when the receiver recovers); `pending` while it waits, never attempted, behind an
   * earlier undelivered one of the same webhook; `delivered` at last. Never deleted.
   */
  state: z.enum(['pending', 'retrying', 'delivered', 'failed']),
  /** Attempts so far (0 while pending). */
  attempts: z.number().int().min(0),
  /** When it was last attempted (while pending: when it was queued). */
  lastAttemptAt: Timestamp,
  /** HTTP status of the last attempt, when the receiver answered. */
  lastStatus: z.number().int().optional(),
  lastError: z.string().optional(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** A webhook subscription as admins see it: never its secret. */
export const Webhook = z.strictObject({
  id: z.string(),
  url: z.string(),
  events: z.array(AlertKind),
  format: WebhookFormat,
  createdAt: Timestamp,
  createdBy: z.string(),
  delivery: z.strictObject({
    lastSuccessAt: Timestamp.optional(),
    lastFailureAt: Timestamp.optional(),
    lastError: z.string().optional(),
    /** Among the recent deliveries listed: how many are delivered, failed (to be sent again), retrying, pending. */
    delivered: z.number().int(),
    failed: z.number().int(),
    retrying: z.number().int(),
    pending: z.number().int(),
    attempts: z.number().int(),
    recent: z.array(WebhookDelivery),
  }),
});
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreated = z.strictObject({ webhook: Webhook, secret: z.string() });

/** The JSON body POSTed to a webhook: signed as `X-Glasshouse-Signature: sha256=<hex HMAC of these bytes>`. */
export const WebhookPayload = z.strictObject({
  type: z.literal('alert'),
  deliveryId: z.string(),
  webhookId: z.string(),
  /** When this attempt was sent; also in `X-Glasshouse-Timestamp` (epoch seconds). Signed with the body. */
  sentAt: Timestamp,
  alert: AlertEvent,
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;
