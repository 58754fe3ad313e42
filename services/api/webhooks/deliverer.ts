import { Counter, type Registry } from 'prom-client';
import { type AlertEvent, alertFromRecord } from '../../../schemas/alert.js';
import { toTimestamp } from '../../../schemas/common.js';
import type { WebhookPayload } from '../../../schemas/webhooks.js';
import type { Bus, Consumption, RecordBatch } from '../../ports/bus.js';
import type { Clock } from '../../ports/clock.js';
import type { Component, Health } from '../../ports/lifecycle.js';
import type { Store } from '../../ports/store.js';
import { Topics } from '../../ports/topics.js';
import { WebhookAllowList } from '../../runtime/address-guard.js';
import { type Backoff, backoffDelay, pause, Stopped } from '../../runtime/backoff.js';
import type { Logger } from '../../runtime/logger.js';
import { webhookBody } from './formats.js';
import { type PostOutcome, postWebhook } from './post.js';
import { deliveryHeader, signatureHeader, signBody, timestampHeader } from './signing.js';
import {
  activeWebhooks,
  deliveryIdOf,
  findDelivery,
  findWebhook,
  type StoredDelivery,
  type StoredWebhook,
  saveDelivery,
  undeliveredDeliveries,
} from './store.js';

/** The consumer group of webhook delivery: exactly one api replica delivers each alert version. */
export const webhookGroup = 'webhooks';

export interface WebhookDelivererOptions {
  bus: Bus;
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  /** Attempts per delivery before it is kept as `failed` (default 6). */
  maxAttempts?: number;
  /** First retry delay (default 1 s); doubles per attempt up to `retryCapMs` (default 60 s). */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** Blocked destinations the operator allows (`GLASSHOUSE_WEBHOOK_ALLOW`; default none). */
  allow?: WebhookAllowList;
  /** The site's public address, for the links in Slack and Teams messages. */
  publicUrl?: string;
}

const noneAllowed = WebhookAllowList.parse(undefined);

/**
 * Delivers every alert version from `alerts.events` to every matching webhook subscription created
 * before the version was published, as a signed JSON POST. Deliveries of one webhook go in order; webhooks are served concurrently.
 *
 * Receivers on this host, private networks, link-local and metadata addresses are refused on every
 * attempt, after resolution (post.ts), unless the operator allows them; `lastError` is a category
 * (`refused_address`, `connect_failed`, `timeout`, `http_status_500`, ...), never a socket error.
 *
 * A failed attempt (network error, timeout, non-2xx answer; redirects are not followed) is retried
 * with capped exponential backoff; after `maxAttempts` the delivery is kept as `failed`, with its
 * payload, at the head of the webhook's backlog. While a webhook has a backlog, later versions are
 * not attempted but queued behind it as `pending`, and the backlog is sent in the background: its
 * head once after each backoff (capped exponential, `retryBaseMs` to `retryCapMs`), and, once that
 * gets through, the rest in order without delay — so a receiver down for minutes or hours receives
 * every version when it comes back, the versions of each alert in order (they share a partition),
 * and one dead receiver holds up no other.
 *
 * Every attempt and every queued delivery is recorded in the store before the batch's offsets are
 * committed; a replica that stops mid-batch leaves the batch to another one, which skips deliveries
 * already delivered and takes over the ones still queued. At start each replica loads the backlogs
 * from the store, so undelivered versions survive restarts. Delivery is at least once: a backlog
 * taken over by two replicas may send a version twice (receivers dedup on `X-Glasshouse-Delivery`).
 */
interface Queued {
  deliveryId: string;
  alert: AlertEvent;
  attempts: number;
  queuedMs: number;
}

/** One webhook's undelivered deliveries in this process, oldest first, and the timer of its next send. */
interface Backlog {
  webhookId: string;
  items: Queued[];
  /** Failed sends of the head in a row: its backoff exponent. */
  failures: number;
  timer: NodeJS.Timeout | undefined;
  sending: boolean;
}

export class WebhookDeliverer implements Component {
  readonly name = 'webhooks';
  private consumption: Consumption | undefined;
  private abort = new AbortController();
  private readonly backlogs = new Map<string, Backlog>();
  private readonly log: Logger;
  private readonly attemptsCounter: Counter<'outcome'>;

  constructor(private readonly o: WebhookDelivererOptions) {
    this.log = o.logger.child({ component: 'webhooks' });
    this.attemptsCounter =
      (o.metrics.getSingleMetric('glasshouse_webhook_attempts_total') as Counter<'outcome'> | undefined) ??
      new Counter({
        name: 'glasshouse_webhook_attempts_total',
        help: 'Webhook delivery attempts by outcome: delivered, failed_attempt, gave_up',
        labelNames: ['outcome'],
        registers: [o.metrics],
      });
  }

  async start(): Promise<void> {
    this.abort = new AbortController();
    for (const webhook of await activeWebhooks(this.o.store)) {
      for (const stored of await undeliveredDeliveries(this.o.store, webhook.id))
        this.enqueue(webhook.id, stored);
    }
    this.consumption = await this.o.bus.consume({
      topic: Topics.alertsEvents,
      group: webhookGroup,
      // From the beginning for a new group, so no version published while the group forms is missed;
      // versions appended before a subscription was created are not sent to it.
      fromBeginning: true,
      onBatch: (batch) => this.handle(batch),
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const backlog of this.backlogs.values()) clearTimeout(backlog.timer);
    this.backlogs.clear();
    const consumption = this.consumption;
    this.consumption = undefined;
    await consumption?.stop();
  }

  health(): Health {
    if (!this.consumption) return { state: 'error', detail: 'not started' };
    return this.consumption.healthy()
      ? { state: 'ok' }
      : { state: 'error', detail: 'webhook consumer is not making progress' };
  }

  private async handle(batch: RecordBatch): Promise<void> {
    const alerts: Array<{ alert: AlertEvent; appendedAt: number }> = [];
    for (const record of batch.records) {
      const alert = alertFromRecord(record.value);
      if (alert) alerts.push({ alert, appendedAt: record.timestamp });
      else
        this.log.error(
          { partition: batch.partition, offset: record.offset },
          'alert record does not parse; skipped',
        );
    }
    if (alerts.length === 0) return;
    const webhooks = await activeWebhooks(this.o.store);
    await Promise.all(
      webhooks.map(async (webhook) => {
        // 5 s of slack for the broker's clock against this process's.
        const since = Date.parse(webhook.createdAt) - 5_000;
        for (const { alert, appendedAt } of alerts) {
          // A subscription receives the alert versions published after it was created.
          if (appendedAt >= since && webhook.events.includes(alert.kind)) await this.deliver(webhook, alert);
        }
      }),
    );
  }

  /**
   * Delivers one alert version to one webhook: queues it behind the webhook's backlog, or attempts it
   * until it is delivered or its attempts are spent (then it heads the backlog). Throws only when stopping.
   */
  private async deliver(webhook: StoredWebhook, alert: AlertEvent): Promise<void> {
    const deliveryId = deliveryIdOf(webhook.id, alert.alertId, alert.version);
    const known = await findDelivery(this.o.store, deliveryId);
    if (known?.state === 'delivered') return;
    const backlog = this.backlogs.get(webhook.id);
    if (backlog?.items.some((item) => item.deliveryId === deliveryId)) return;
    const now = this.o.clock.now();
    if (known && known.state !== 'retrying') {
      // Queued by a replica that stopped (or by this one before a restart): take it over.
      this.enqueue(webhook.id, { ...known, alert, queuedMs: known.queuedMs ?? now });
      return;
    }
    if (backlog && backlog.items.length > 0) {
      const pending: StoredDelivery = {
        deliveryId,
        webhookId: webhook.id,
        alertId: alert.alertId,
        alertVersion: alert.version,
        state: 'pending',
        attempts: 0,
        lastAttemptAt: toTimestamp(now),
        alert,
        queuedMs: now,
      };
      await saveDelivery(this.o.store, pending);
      this.enqueue(webhook.id, pending);
      return;
    }
    const maxAttempts = this.o.maxAttempts ?? 6;
    for (let attempts = (known?.attempts ?? 0) + 1; ; attempts += 1) {
      if (this.abort.signal.aborted) throw new Stopped('stopping');
      const result = await this.attempt(webhook, alert, deliveryId);
      const finalAttempt = result.ok || attempts >= maxAttempts;
      const record = this.record(webhook.id, alert, deliveryId, attempts, result, finalAttempt);
      await saveDelivery(this.o.store, record);
      this.attemptsCounter.inc({
        outcome: result.ok ? 'delivered' : finalAttempt ? 'gave_up' : 'failed_attempt',
      });
      if (result.ok) return;
      if (finalAttempt) {
        this.log.warn(
          { webhookId: webhook.id, deliveryId, attempts, error: result.error },
          'webhook delivery failed; kept, and sent again when the receiver recovers',
        );
        this.enqueue(webhook.id, record);
        return;
      }
      await pause(backoffDelay(attempts, this.backoff()), this.abort.signal);
    }
  }

  /** The stored record of an attempt; an undelivered one keeps its payload and queue time. */
  private record(
    webhookId: string,
    alert: AlertEvent,
    deliveryId: string,
    attempts: number,
    result: { ok: boolean; status?: number; error?: string },
    finalAttempt: boolean,
    queuedMs?: number,
  ): StoredDelivery {
    const now = this.o.clock.now();
    return {
      deliveryId,
      webhookId,
      alertId: alert.alertId,
      alertVersion: alert.version,
      state: result.ok ? 'delivered' : finalAttempt ? 'failed' : 'retrying',
      attempts,
      lastAttemptAt: toTimestamp(now),
      ...(result.status === undefined ? {} : { lastStatus: result.status }),
      ...(result.error === undefined ? {} : { lastError: result.error }),
      ...(finalAttempt && !result.ok ? { alert, queuedMs: queuedMs ?? now } : {}),
    };
  }

  /** Appends an undelivered delivery to its webhook's backlog and makes sure a send is scheduled. */
  private enqueue(webhookId: string, stored: StoredDelivery): void {
    if (!stored.alert || this.abort.signal.aborted) return;
    let backlog = this.backlogs.get(webhookId);
    if (!backlog) {
      backlog = { webhookId, items: [], failures: 0, timer: undefined, sending: false };
      this.backlogs.set(webhookId, backlog);
    }
    if (backlog.items.some((item) => item.deliveryId === stored.deliveryId)) return;
    backlog.items.push({
      deliveryId: stored.deliveryId,
      alert: stored.alert,
      attempts: stored.attempts,
      queuedMs: stored.queuedMs ?? this.o.clock.now(),
    });
    if (!backlog.timer && !backlog.sending) this.schedule(backlog);
  }

  private backoff(): Backoff {
    return { baseMs: this.o.retryBaseMs ?? 1_000, capMs: this.o.retryCapMs ?? 60_000 };
  }

  private schedule(backlog: Backlog): void {
    const delay = backoffDelay(backlog.failures + 1, this.backoff());
    backlog.timer = setTimeout(() => {
      backlog.timer = undefined;
      void this.sendBacklog(backlog).catch((err) => {
        if (err instanceof Stopped) return;
        this.log.error({ err, webhookId: backlog.webhookId }, 'webhook backlog send failed; retried');
        backlog.failures += 1;
        backlog.sending = false;
        if (!this.abort.signal.aborted) this.schedule(backlog);
      });
    }, delay);
    backlog.timer.unref();
  }

  /** Sends the backlog head first, then the rest in order while they get through; reschedules on a failure. */
  private async sendBacklog(backlog: Backlog): Promise<void> {
    backlog.sending = true;
    const found = await findWebhook(this.o.store, backlog.webhookId);
    if (!found || found.deleted) {
      this.backlogs.delete(backlog.webhookId);
      return;
    }
    for (;;) {
      const head = backlog.items[0];
      if (!head) {
        // Everything got through: later versions go straight to the receiver again.
        this.backlogs.delete(backlog.webhookId);
        return;
      }
      if (this.abort.signal.aborted) throw new Stopped('stopping');
      const attempts = head.attempts + 1;
      const result = await this.attempt(found.webhook, head.alert, head.deliveryId);
      const record = this.record(
        backlog.webhookId,
        head.alert,
        head.deliveryId,
        attempts,
        result,
        true,
        head.queuedMs,
      );
      await saveDelivery(this.o.store, record);
      this.attemptsCounter.inc({ outcome: result.ok ? 'delivered' : 'failed_attempt' });
      if (!result.ok) {
        head.attempts = attempts;
        backlog.failures += 1;
        backlog.sending = false;
        this.schedule(backlog);
        return;
      }
      backlog.items.shift();
      backlog.failures = 0;
    }
  }

  private async attempt(webhook: StoredWebhook, alert: AlertEvent, deliveryId: string): Promise<PostOutcome> {
    const now = this.o.clock.now();
    const payload: WebhookPayload = {
      type: 'alert',
      deliveryId,
      webhookId: webhook.id,
      sentAt: toTimestamp(now),
      alert,
    };
    const body = webhookBody(webhook.format, payload, this.o.publicUrl ?? 'http://localhost/');
    const outcome = await postWebhook(webhook.url, {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Glasshouse-Webhooks/1',
        [signatureHeader]: signBody(webhook.secret, body),
        [timestampHeader]: String(Math.floor(now / 1000)),
        [deliveryHeader]: deliveryId,
      },
      body,
      allow: this.o.allow ?? noneAllowed,
      timeoutMs: this.o.timeoutMs ?? 10_000,
      signal: this.abort.signal,
    });
    if (this.abort.signal.aborted) throw new Stopped('stopping');
    return outcome;
  }
}
