import { z } from 'zod';
import { AlertEvent } from '../../../schemas/alert.js';
import { Subscription } from '../../../schemas/subscriptions.js';
import type { Store } from '../../ports/store.js';

/**
 * Notification subscriptions and what was sent live in `registry_entities`, like webhooks: kind
 * `subscription` (version 1 created, 2 deleted); kind `email_delivery` (id `<subId>:<alertId>:<version>`
 * or `<subId>:digest:<day>`; version = attempts), whose `sent` state makes a version's message go out
 * once; kind `digest_item` (id `<subId>:<alertId>:<version>`), the versions a digest subscriber
 * will get in the digest of the day they were published (updated_ms).
 */
const subscriptionKind = 'subscription';
const deliveryKind = 'email_delivery';
const digestItemKind = 'digest_item';

export const EmailDelivery = z.strictObject({
  id: z.string(),
  state: z.enum(['sent', 'failed']),
  attempts: z.number().int().min(1),
  lastError: z.string().optional(),
  /** Kept while failed (a temporary refusal), so the message can be sent again when the server recovers. */
  message: z
    .strictObject({
      from: z.string(),
      to: z.string(),
      subject: z.string(),
      text: z.string(),
      messageId: z.string(),
      inReplyTo: z.string().optional(),
      headers: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});
export type EmailDelivery = z.infer<typeof EmailDelivery>;

export async function saveSubscription(store: Store, s: Subscription, deleted: boolean, atMs: number) {
  await store.insert('registry_entities', [
    { kind: subscriptionKind, id: s.id, version: deleted ? 2 : 1, updated_ms: atMs, deleted, body: s },
  ]);
}

/** Subscriptions not deleted (of one overseer when given). */
export async function activeSubscriptions(store: Store, overseerId?: string): Promise<Subscription[]> {
  const rows = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: subscriptionKind },
      { column: 'deleted', op: '=', value: false },
    ],
    orderBy: [{ column: 'updated_ms', direction: 'asc' }],
    limit: 10_000,
  });
  return rows.flatMap((row) => {
    const parsed = Subscription.safeParse(row.body);
    return parsed.success && (overseerId === undefined || parsed.data.overseerId === overseerId)
      ? [parsed.data]
      : [];
  });
}

export async function findEmailDelivery(store: Store, id: string): Promise<EmailDelivery | undefined> {
  const [row] = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: deliveryKind },
      { column: 'id', op: '=', value: id },
    ],
    limit: 1,
  });
  const parsed = row ? EmailDelivery.safeParse(row.body) : undefined;
  return parsed?.success ? parsed.data : undefined;
}

export async function saveEmailDelivery(store: Store, delivery: EmailDelivery, atMs: number): Promise<void> {
  await store.insert('registry_entities', [
    {
      kind: deliveryKind,
      id: delivery.id,
      version: delivery.attempts,
      updated_ms: atMs,
      deleted: false,
      body: delivery,
    },
  ]);
}

/** Deliveries recorded as failed since `sinceMs` that kept their message (temporary refusals). */
export async function failedEmailDeliveries(store: Store, sinceMs: number): Promise<EmailDelivery[]> {
  const rows = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: deliveryKind },
      { column: 'updated_ms', op: '>=', value: sinceMs },
    ],
    orderBy: [{ column: 'updated_ms', direction: 'asc' }, { column: 'id' }],
    limit: 10_000,
  });
  return rows.flatMap((row) => {
    const parsed = EmailDelivery.safeParse(row.body);
    return parsed.success && parsed.data.state === 'failed' && parsed.data.message ? [parsed.data] : [];
  });
}

export async function saveDigestItem(store: Store, subscriptionId: string, alert: AlertEvent, atMs: number) {
  await store.insert('registry_entities', [
    {
      kind: digestItemKind,
      id: `${subscriptionId}:${alert.alertId}:${alert.version}`,
      version: 1,
      updated_ms: atMs,
      deleted: false,
      body: alert,
    },
  ]);
}

/** The alert versions queued for one subscriber's digest in [fromMs, toMs), oldest first. */
export async function digestItems(
  store: Store,
  subscriptionId: string,
  fromMs: number,
  toMs: number,
): Promise<AlertEvent[]> {
  const rows = await store.select('registry_entities', {
    where: [
      { column: 'kind', op: '=', value: digestItemKind },
      { column: 'id', op: '>=', value: `${subscriptionId}:` },
      { column: 'id', op: '<', value: `${subscriptionId};` },
      { column: 'updated_ms', op: '>=', value: fromMs },
      { column: 'updated_ms', op: '<', value: toMs },
    ],
    orderBy: [{ column: 'updated_ms', direction: 'asc' }, { column: 'id' }],
    limit: 10_000,
  });
  return rows.flatMap((row) => {
    const parsed = AlertEvent.safeParse(row.body);
    return parsed.success ? [parsed.data] : [];
  });
}
