import { Counter, type Registry } from 'prom-client';
import { Topics } from '../../../infra/kafka/topics.js';
import { AlertEvent } from '../../../schemas/alert.js';
import { toTimestamp } from '../../../schemas/common.js';
import type { WebhookDelivery, WebhookPayload } from '../../../schemas/webhooks.js';
import type { Bus, Consumption, RecordBatch } from '../../ports/bus.js';
import type { Clock } from '../../ports/clock.js';
import type { Component, Health } from '../../ports/lifecycle.js';
import type { Store } from '../../ports/store.js';
import type { Logger } from '../../runtime/logger.js';
import { deliveryHeader, retryDelayMs, signatureHeader, signBody, timestampHeader } from './signing.js';
import { activeWebhooks, deliveryIdOf, findDelivery, type StoredWebhook, saveDelivery } from './store.js';

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
}

class Stopped extends Error {}

/**
 * Delivers every alert version from `alerts.events` to every matching webhook subscription created
 * before the version was published, as a signed JSON POST. Deliveries of one webhook go in order; webhooks are served concurrently.
 *
 * A failed attempt (network error, timeout, non-2xx answer; redirects are not followed) is retried
 * with capped exponential backoff; after `maxAttempts` the delivery is kept as `failed`. A webhook
 * whose last delivery failed is marked down: until one of its deliveries succeeds, each new
 * delivery gets a single attempt, so one dead receiver does not hold up the others for long.
 * Every attempt is recorded in the store. Offsets are committed after the batch's deliveries
 * ended (delivered or failed); a replica that stops mid-batch leaves the batch to another one,
 * which skips deliveries already recorded as delivered or failed.
 */
export class WebhookDeliverer implements Component {
  readonly name = 'webhooks';
  private consumption: Consumption | undefined;
  private abort = new AbortController();
  private readonly down = new Set<string>();
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
      const alert = parseAlert(record.value);
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

  /** Delivers one alert version to one webhook until it is delivered or given up. Throws only when stopping. */
  private async deliver(webhook: StoredWebhook, alert: AlertEvent): Promise<void> {
    const deliveryId = deliveryIdOf(webhook.id, alert.alertId, alert.version);
    const known = await findDelivery(this.o.store, deliveryId);
    if (known && known.state !== 'retrying') return;
    const maxAttempts = this.down.has(webhook.id) ? 1 : (this.o.maxAttempts ?? 6);
    for (let attempts = (known?.attempts ?? 0) + 1; ; attempts += 1) {
      if (this.abort.signal.aborted) throw new Stopped('stopping');
      const result = await this.attempt(webhook, alert, deliveryId);
      const finalAttempt = result.ok || attempts >= maxAttempts;
      const record: WebhookDelivery = {
        deliveryId,
        webhookId: webhook.id,
        alertId: alert.alertId,
        alertVersion: alert.version,
        state: result.ok ? 'delivered' : finalAttempt ? 'failed' : 'retrying',
        attempts,
        lastAttemptAt: toTimestamp(this.o.clock.now()),
        ...(result.status === undefined ? {} : { lastStatus: result.status }),
        ...(result.error === undefined ? {} : { lastError: result.error }),
      };
      await saveDelivery(this.o.store, record);
      this.attemptsCounter.inc({
        outcome: result.ok ? 'delivered' : finalAttempt ? 'gave_up' : 'failed_attempt',
      });
      if (result.ok) {
        this.down.delete(webhook.id);
        return;
      }
      if (finalAttempt) {
        this.down.add(webhook.id);
        this.log.warn(
          { webhookId: webhook.id, deliveryId, attempts, error: result.error },
          'webhook delivery failed; kept',
        );
        return;
      }
      await this.sleep(retryDelayMs(attempts, this.o.retryBaseMs ?? 1_000, this.o.retryCapMs ?? 60_000));
    }
  }

  private async attempt(
    webhook: StoredWebhook,
    alert: AlertEvent,
    deliveryId: string,
  ): Promise<{ ok: boolean; status?: number; error?: string }> {
    const now = this.o.clock.now();
    const payload: WebhookPayload = {
      type: 'alert',
      deliveryId,
      webhookId: webhook.id,
      sentAt: toTimestamp(now),
      alert,
    };
    const body = JSON.stringify(payload);
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Glasshouse-Webhooks/1',
          [signatureHeader]: signBody(webhook.secret, body),
          [timestampHeader]: String(Math.floor(now / 1000)),
          [deliveryHeader]: deliveryId,
        },
        body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs ?? 10_000)]),
      });
      await response.body?.cancel();
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
      return { ok: false, status: response.status, error: `the receiver answered HTTP ${response.status}` };
    } catch (err) {
      if (this.abort.signal.aborted) throw new Stopped('stopping');
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const name = (err as Error).name;
      const error =
        name === 'TimeoutError'
          ? `no answer within ${this.o.timeoutMs ?? 10_000} ms`
          : (cause?.code ?? cause?.message ?? (err as Error).message);
      return { ok: false, error };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Stopped('stopping'));
      };
      const timer = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function parseAlert(value: Buffer): AlertEvent | undefined {
  try {
    const parsed = AlertEvent.safeParse(JSON.parse(value.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
