import { Counter, type Registry } from 'prom-client';
import { type AlertEvent, alertFromRecord } from '../../../schemas/alert.js';
import type { Subscription } from '../../../schemas/subscriptions.js';
import type { ModuleLookup } from '../../core/validation/index.js';
import type { Bus, Consumption, RecordBatch } from '../../ports/bus.js';
import type { Clock } from '../../ports/clock.js';
import type { Component, Health } from '../../ports/lifecycle.js';
import { type Mailer, type MailMessage, MailRefused } from '../../ports/mail.js';
import type { Store } from '../../ports/store.js';
import { Topics } from '../../ports/topics.js';
import { backoffDelay, pause, Stopped } from '../../runtime/backoff.js';
import type { Logger } from '../../runtime/logger.js';
import { alertMail, digestMail } from './messages.js';
import {
  activeSubscriptions,
  digestItems,
  failedEmailDeliveries,
  findEmailDelivery,
  saveDigestItem,
  saveEmailDelivery,
} from './store.js';

/** The consumer group of e-mail notification: one api replica handles each alert version. */
export const notificationGroup = 'notifications';

const dayMs = 86_400_000;

export interface EmailNotifierOptions {
  bus: Bus;
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  mailer: Mailer;
  registry: ModuleLookup;
  from: string;
  publicUrl: string;
  /** Attempts per message before it is recorded as failed (the webhook setting). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt up to 60 s. */
  retryBaseMs: number;
  /** Hour of the day (UTC) from which the day before's digest is sent. */
  digestHourUtc: number;
  /** How often the digest schedule is checked (default 60 s). */
  digestCheckMs?: number;
}

/** Whether an alert version passes a subscription's filters (each given filter must hold). */
export function subscriptionMatches(s: Subscription, alert: AlertEvent, domain: string | undefined): boolean {
  if (s.modules && !s.modules.includes(alert.moduleId)) return false;
  if (s.severities && !s.severities.includes(alert.severity)) return false;
  if (s.domains && (domain === undefined || !s.domains.includes(domain))) return false;
  return true;
}

/**
 * E-mails overseers the alert versions on `alerts.events` that their subscriptions ask for, over the
 * Mailer (SMTP). One message per (subscription, alert version): the delivery is recorded in the store
 * once the server took it, and a version already recorded as sent is skipped, so a redelivered batch
 * (a restart, a rebalance) sends nothing twice — short of a crash between the server's "250" and the
 * record, when the message may go out again with the same Message-ID. A refused or failed attempt is
 * retried with capped exponential backoff up to `maxAttempts`; then the delivery is recorded as
 * failed (with the reason, and the message when the refusal was temporary) and the batch moves on;
 * failed messages are sent again once a minute (`resendFailed`) until the server takes them. Daily-digest subscriptions instead queue the
 * version; from `digestHourUtc` each day, the day before's versions go out as one message (recorded
 * like any other delivery, so once).
 */
export class EmailNotifier implements Component {
  readonly name = 'notifications';
  private consumption: Consumption | undefined;
  private abort = new AbortController();
  private digestTimer: NodeJS.Timeout | undefined;
  private digestRun: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly sent: Counter<'outcome'>;

  constructor(private readonly o: EmailNotifierOptions) {
    this.log = o.logger.child({ component: 'notifications' });
    this.sent =
      (o.metrics.getSingleMetric('glasshouse_email_attempts_total') as Counter<'outcome'> | undefined) ??
      new Counter({
        name: 'glasshouse_email_attempts_total',
        help: 'E-mail notification attempts by outcome: sent, failed_attempt, gave_up',
        labelNames: ['outcome'],
        registers: [o.metrics],
      });
  }

  async start(): Promise<void> {
    this.abort = new AbortController();
    this.consumption = await this.o.bus.consume({
      topic: Topics.alertsEvents,
      group: notificationGroup,
      fromBeginning: true,
      onBatch: (batch) => this.handle(batch),
    });
    const every = this.o.digestCheckMs ?? 60_000;
    this.digestTimer = setInterval(() => {
      this.digestRun = this.digestRun.then(() =>
        Promise.all([this.resendFailed(), this.sendDigests()])
          .then(() => undefined)
          .catch((err) => {
            if (!(err instanceof Stopped)) this.log.error({ err }, 'digest run failed; tried again later');
          }),
      );
    }, every);
    this.digestTimer.unref();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.digestTimer);
    await this.digestRun;
    const consumption = this.consumption;
    this.consumption = undefined;
    await consumption?.stop();
    this.o.mailer.close();
  }

  health(): Health {
    if (!this.consumption) return { state: 'error', detail: 'not started' };
    return this.consumption.healthy()
      ? { state: 'ok' }
      : { state: 'error', detail: 'notification consumer is not making progress' };
  }

  private async handle(batch: RecordBatch): Promise<void> {
    const subscriptions = await activeSubscriptions(this.o.store);
    if (subscriptions.length === 0) return;
    for (const record of batch.records) {
      const alert = alertFromRecord(record.value);
      if (!alert) continue;
      const domain = this.o.registry.module(alert.moduleId)?.domain;
      for (const subscription of subscriptions) {
        // A subscription receives the versions published after it was made (5 s of clock slack).
        if (record.timestamp < Date.parse(subscription.createdAt) - 5_000) continue;
        if (!subscriptionMatches(subscription, alert, domain)) continue;
        if (subscription.digest === 'daily')
          await saveDigestItem(this.o.store, subscription.id, alert, record.timestamp);
        else
          await this.deliver(
            `${subscription.id}:${alert.alertId}:${alert.version}`,
            alertMail(subscription, alert, this.o.from, this.o.publicUrl),
          );
      }
    }
  }

  /** Sends one message unless already sent, retrying; records the outcome. Throws only when stopping. */
  private async deliver(id: string, message: MailMessage): Promise<void> {
    const known = await findEmailDelivery(this.o.store, id);
    if (known?.state === 'sent') return;
    const first = (known?.attempts ?? 0) + 1;
    for (let attempts = first; ; attempts++) {
      if (this.abort.signal.aborted) throw new Stopped('stopping');
      let error: MailRefused | undefined;
      try {
        await this.o.mailer.send(message);
      } catch (err) {
        error = err instanceof MailRefused ? err : new MailRefused(String(err), true);
      }
      const giveUp = error !== undefined && (!error.retriable || attempts - first + 1 >= this.o.maxAttempts);
      if (!error || giveUp) {
        await saveEmailDelivery(
          this.o.store,
          {
            id,
            state: error ? 'failed' : 'sent',
            attempts,
            ...(error ? { lastError: error.message } : {}),
            // A temporary refusal keeps the message: it is sent again once the server takes mail.
            ...(error?.retriable ? { message } : {}),
          },
          this.o.clock.now(),
        );
        this.sent.inc({ outcome: error ? 'gave_up' : 'sent' });
        if (error)
          this.log.warn({ id, attempts, error: error.message }, 'e-mail notification not sent; gave up');
        return;
      }
      this.sent.inc({ outcome: 'failed_attempt' });
      await pause(
        backoffDelay(attempts - first + 1, { baseMs: this.o.retryBaseMs, capMs: 60_000 }),
        this.abort.signal,
      );
    }
  }

  /**
   * Sends again, once each, the messages of the past week recorded as failed after a temporary
   * refusal (run with the digest schedule, so a server that was down gets them within a minute or
   * so of coming back). Each is recorded again: sent, or failed with one more attempt.
   */
  async resendFailed(): Promise<void> {
    const since = this.o.clock.now() - 7 * dayMs;
    for (const failed of await failedEmailDeliveries(this.o.store, since)) {
      if (this.abort.signal.aborted) throw new Stopped('stopping');
      const message = failed.message!;
      let error: MailRefused | undefined;
      try {
        await this.o.mailer.send({
          ...message,
          ...(message.inReplyTo === undefined ? {} : { inReplyTo: message.inReplyTo }),
        } as MailMessage);
      } catch (err) {
        error = err instanceof MailRefused ? err : new MailRefused(String(err), true);
      }
      this.sent.inc({ outcome: error ? 'failed_attempt' : 'sent' });
      const { message: _kept, lastError: _last, ...rest } = failed;
      await saveEmailDelivery(
        this.o.store,
        error
          ? {
              ...rest,
              attempts: failed.attempts + 1,
              lastError: error.message,
              ...(error.retriable ? { message } : {}),
            }
          : { ...rest, state: 'sent', attempts: failed.attempts + 1 },
        this.o.clock.now(),
      );
    }
  }

  /** From the digest hour on, sends each digest subscriber the day before's versions (once per day). */
  async sendDigests(): Promise<void> {
    const now = this.o.clock.now();
    const today = Math.floor(now / dayMs) * dayMs;
    if (now < today + this.o.digestHourUtc * 3_600_000) return;
    const from = today - dayMs;
    const day = new Date(from).toISOString().slice(0, 10);
    for (const subscription of await activeSubscriptions(this.o.store)) {
      if (subscription.digest !== 'daily') continue;
      const alerts = await digestItems(this.o.store, subscription.id, from, today);
      if (alerts.length === 0) continue;
      await this.deliver(
        `${subscription.id}:digest:${day}`,
        digestMail(subscription, day, alerts, this.o.from, this.o.publicUrl),
      );
    }
  }
}
