import { z } from 'zod';
import { AlertEvent, AlertKind } from '../../../schemas/alert.js';
import { Timestamp } from '../../../schemas/common.js';
import { type Webhook, WebhookDelivery, WebhookFormat } from '../../../schemas/webhooks.js';
import type { Store } from '../../ports/store.js';

/**
 * Webhook subscriptions and their deliveries live in `registry_entities` (append-only, latest
 * version per (kind, id) wins): kind `webhook` (id = webhook id; version 1 created, 2 deleted) and
 * kind `webhook_delivery` (id = `<webhookId>:<alertId>:<alertVersion>`, version = attempts so far).
 * An undelivered delivery (pending or failed) also keeps the alert version it carries and when it was
 * queued, so it can be sent again in order after a restart. The secret is stored as given: signing needs it.
 */
export const webhookKind = 'webhook';
export const deliveryKind = 'webhook_delivery';

export const StoredWebhook = z.strictObject({
  id: z.string(),
  url: z.string(),
  secret: z.string(),
  events: z.array(AlertKind),
  /** Absent on subscriptions made before formats existed: `json`. */
  format: WebhookFormat.default('json'),
  createdAt: Timestamp,
  createdBy: z.string(),
});
export type StoredWebhook = z.infer<typeof StoredWebhook>;

/** A delivery as stored: the public record, plus the payload and queue time while it is undelivered. */
export const StoredDelivery = WebhookDelivery.extend({
  alert: AlertEvent.optional(),
  /** Epoch ms it was first queued for sending again: the order undelivered ones are sent in. */
  queuedMs: z.number().optional(),
});
export type StoredDelivery = z.infer<typeof StoredDelivery>;

function publicDelivery({
  alert: _alert,
  queuedMs: _queuedMs,
  ...delivery
}: StoredDelivery): WebhookDelivery {
  return delivery;
}

export function deliveryIdOf(webhookId: string, alertId: string, alertVersion: number): string {
  return `${webhookId}:${alertId}:${alertVersion}`;
}

/** Subscriptions that are not deleted. */
export async function activeWebhooks(store: Store): Promise<StoredWebhook[]> {
  const rows = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: webhookKind },
      { column: 'deleted', op: '=', value: false },
    ],
    orderBy: [{ column: 'updated_ms', direction: 'asc' }],
    limit: 10_000,
  });
  return rows.flatMap((row) => {
    const parsed = StoredWebhook.safeParse(row.body);
    return parsed.success ? [parsed.data] : [];
  });
}

/** One subscription (deleted or not), or undefined. */
export async function findWebhook(
  store: Store,
  id: string,
): Promise<{ webhook: StoredWebhook; deleted: boolean } | undefined> {
  const [row] = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: webhookKind },
      { column: 'id', op: '=', value: id },
    ],
    limit: 1,
  });
  const parsed = row ? StoredWebhook.safeParse(row.body) : undefined;
  return parsed?.success ? { webhook: parsed.data, deleted: row!.deleted } : undefined;
}

export async function saveWebhook(store: Store, webhook: StoredWebhook, deleted: boolean, atMs: number) {
  await store.insert('registry_entities', [
    { kind: webhookKind, id: webhook.id, version: deleted ? 2 : 1, updated_ms: atMs, deleted, body: webhook },
  ]);
}

/** The stored state of one delivery, or undefined. */
export async function findDelivery(store: Store, deliveryId: string): Promise<StoredDelivery | undefined> {
  const [row] = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: deliveryKind },
      { column: 'id', op: '=', value: deliveryId },
    ],
    limit: 1,
  });
  const parsed = row ? StoredDelivery.safeParse(row.body) : undefined;
  return parsed?.success ? parsed.data : undefined;
}

export async function saveDelivery(store: Store, delivery: StoredDelivery): Promise<void> {
  await store.insert('registry_entities', [
    {
      kind: deliveryKind,
      id: delivery.deliveryId,
      version: delivery.attempts,
      updated_ms: Date.parse(delivery.lastAttemptAt),
      deleted: false,
      body: delivery,
    },
  ]);
}

/**
 * A webhook's most recent deliveries, newest first, optionally only in one state. Delivery ids
 * start with `<webhookId>:`, so the ids of one webhook form the range [`<id>:`, `<id>;`).
 */
export async function recentDeliveries(
  store: Store,
  webhookId: string,
  limit: number,
  state?: WebhookDelivery['state'],
): Promise<WebhookDelivery[]> {
  return (await storedDeliveries(store, webhookId, state ? 10_000 : limit))
    .filter((d) => state === undefined || d.state === state)
    .slice(0, limit)
    .map(publicDelivery);
}

/**
 * The deliveries of a webhook still to be sent again (pending or failed, with their payload), in
 * the order they were queued (versions of one alert in version order).
 */
export async function undeliveredDeliveries(store: Store, webhookId: string): Promise<StoredDelivery[]> {
  const undelivered = (await storedDeliveries(store, webhookId, 10_000)).filter(
    (d) => (d.state === 'pending' || d.state === 'failed') && d.alert !== undefined,
  );
  return undelivered.sort((a, b) => (a.queuedMs ?? 0) - (b.queuedMs ?? 0) || a.alertVersion - b.alertVersion);
}

async function storedDeliveries(store: Store, webhookId: string, limit: number): Promise<StoredDelivery[]> {
  const rows = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: deliveryKind },
      { column: 'id', op: '>=', value: `${webhookId}:` },
      { column: 'id', op: '<', value: `${webhookId};` },
    ],
    orderBy: [{ column: 'updated_ms', direction: 'desc' }],
    limit,
  });
  return rows.flatMap((row) => {
    const parsed = StoredDelivery.safeParse(row.body);
    return parsed.success ? [parsed.data] : [];
  });
}

/** A subscription as admins see it, with the status of its recent deliveries. Never the secret. */
export function publicWebhook(webhook: StoredWebhook, recent: WebhookDelivery[]): Webhook {
  const success = recent.find((d) => d.state === 'delivered');
  const failure = recent.find((d) => d.lastError !== undefined);
  return {
    id: webhook.id,
    url: webhook.url,
    events: webhook.events,
    format: webhook.format,
    createdAt: webhook.createdAt,
    createdBy: webhook.createdBy,
    delivery: {
      ...(success ? { lastSuccessAt: success.lastAttemptAt } : {}),
      ...(failure ? { lastFailureAt: failure.lastAttemptAt, lastError: failure.lastError } : {}),
      delivered: recent.filter((d) => d.state === 'delivered').length,
      failed: recent.filter((d) => d.state === 'failed').length,
      retrying: recent.filter((d) => d.state === 'retrying').length,
      pending: recent.filter((d) => d.state === 'pending').length,
      attempts: recent.reduce((sum, d) => sum + d.attempts, 0),
      recent,
    },
  };
}
