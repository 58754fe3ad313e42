import { Counter, type Registry } from 'prom-client';
import { AlertEvent, type AlertEventMs, publicAlert, storedAlert } from '../../schemas/alert.js';
import {
  PerformanceUpdate,
  PerformanceUpdateMs,
  publicUpdate,
  storedUpdate,
} from '../../schemas/performance.js';
import type { AlertVersions } from '../oversight/alert-versions.js';
import type { Bus, Consumption, IncomingRecord } from '../ports/bus.js';
import type { Component, Health } from '../ports/lifecycle.js';
import { Topics } from '../ports/topics.js';
import { type Backoff, backoffDelay } from '../runtime/backoff.js';
import type { Logger } from '../runtime/logger.js';
import type { Hub } from './hub.js';
import type { LiveSnapshot } from './snapshot.js';
import type { LiveState } from './state.js';

export interface LiveFeedOptions {
  /** Receives every alert version read (acknowledgements wait on it). */
  versions?: AlertVersions;
  /** What the store knows, read once at start (after the readers joined) so a restart starts full. */
  snapshot?: () => Promise<LiveSnapshot>;
}

/**
 * A `performance.updates` record: asOf in epoch ms, or (written before the system kept epoch ms
 * inside, still in the topic after an upgrade) the public shape with RFC 3339 text.
 */
const updateRecord = PerformanceUpdateMs.or(
  PerformanceUpdate.transform((u) => storedUpdate(u, Date.parse(u.asOf))),
);

/**
 * An `alerts.events` record: the public shape (the api role's webhooks and e-mail read it as it is),
 * kept for the frames, with the version's times in epoch ms beside it for the state.
 */
const alertRecord = AlertEvent.transform((shown) => ({ alert: storedAlert(shown), shown }));

/** Attempts at reading the start snapshot before the gateway gives up starting. */
const snapshotAttempts = 5;
/** Between snapshot reads: 200–400 ms after the first failure, doubling (jittered). */
const snapshotBackoff: Backoff = { baseMs: 400, capMs: 10_000 };

/**
 * Reads every performance update and alert version as a broadcast reader (no consumer group:
 * every gateway replica sees everything), applies them to the live state and fans them out to
 * the channels that carry them. At start, after the readers joined, it loads the latest update
 * per goal and the open alerts from the store (`options.snapshot`), so a restarted gateway's
 * snapshots are complete before it reports ready; the state keeps the newer of stored and live.
 */
export class LiveFeed implements Component {
  readonly name = 'live-feed';
  private consumptions: Consumption[] = [];
  private readonly dropped: Counter<'reason'>;

  constructor(
    private readonly bus: Bus,
    private readonly hub: Hub,
    private readonly state: LiveState,
    metrics: Registry,
    private readonly logger: Logger,
    private readonly options: LiveFeedOptions = {},
  ) {
    this.dropped = new Counter({
      name: 'glasshouse_live_feed_dropped_total',
      help: 'Bus records the gateway could not use, by reason',
      labelNames: ['reason'],
      registers: [metrics],
    });
  }

  async start(): Promise<void> {
    this.consumptions = [
      await this.bus.consume({
        topic: Topics.performanceUpdates,
        group: null,
        onBatch: async (batch) => {
          for (const record of batch.records) this.onUpdate(record);
        },
      }),
      await this.bus.consume({
        topic: Topics.alertsEvents,
        group: null,
        onBatch: async (batch) => {
          for (const record of batch.records) this.onAlert(record);
        },
      }),
    ];
    await this.loadSnapshot();
  }

  private async loadSnapshot(): Promise<void> {
    const read = this.options.snapshot;
    if (!read) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const began = Date.now();
        const { updates, alerts } = await read();
        // Straight into the state: nobody is subscribed yet, and the hub's history is for live messages.
        for (const { update, shown } of updates) this.state.applyUpdate(update, shown);
        for (const alert of alerts) this.state.applyAlert(alert);
        this.logger.info(
          { updates: updates.length, openAlerts: alerts.length, ms: Date.now() - began },
          'live state loaded from the store',
        );
        return;
      } catch (err) {
        if (attempt >= snapshotAttempts) throw err;
        this.logger.warn({ err, attempt }, 'reading the live snapshot failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, snapshotBackoff)));
      }
    }
  }

  async stop(): Promise<void> {
    const running = this.consumptions;
    this.consumptions = [];
    await Promise.all(running.map((c) => c.stop()));
  }

  health(): Health {
    if (this.consumptions.length === 0) return { state: 'error', detail: 'not consuming' };
    return this.consumptions.every((c) => c.healthy())
      ? { state: 'ok' }
      : { state: 'degraded', detail: 'a live consumer is not making progress' };
  }

  /** Applies one performance update and publishes it to its module, domain and (on a status change) scoreboard channels. */
  publishUpdate(update: PerformanceUpdateMs): void {
    // The public shape (asOf as RFC 3339 text) is made here, once, for the state and every frame.
    const shown = publicUpdate(update);
    const effect = this.state.applyUpdate(update, shown);
    if (!effect.fresh) return;
    const rule = `${update.ruleKind}:${update.goalId}`;
    const moduleChannel = `module:${update.moduleId}`;
    this.hub.publish(moduleChannel, 'update', shown, `${moduleChannel}|${rule}`);
    const domain = this.state.domainOf(update.moduleId);
    if (domain !== undefined)
      this.hub.publish(`domain:${domain}`, 'update', shown, `domain|${update.moduleId}|${rule}`);
    if (effect.statusChanged)
      this.hub.publish('scoreboard', 'update', shown, `scoreboard|${update.moduleId}|${rule}`);
  }

  /**
   * Applies one alert version and publishes its public shape (`shown`, made here when the caller has
   * none) to `alerts`, `alerts:<moduleId>` and `scoreboard`. Never conflated.
   */
  publishAlert(alert: AlertEventMs, shown: AlertEvent = publicAlert(alert)): void {
    if (!this.state.applyAlert(alert, shown)) return;
    this.hub.publish('alerts', 'alert', shown);
    this.hub.publish(`alerts:${alert.moduleId}`, 'alert', shown);
    this.hub.publish('scoreboard', 'alert', shown);
  }

  private onUpdate(record: IncomingRecord): void {
    const update = this.decode(record, updateRecord);
    if (update) this.publishUpdate(update);
  }

  private onAlert(record: IncomingRecord): void {
    const decoded = this.decode(record, alertRecord);
    if (!decoded) return;
    this.publishAlert(decoded.alert, decoded.shown);
    this.options.versions?.observe(decoded.shown);
  }

  private decode<T>(
    record: IncomingRecord,
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  ): T | undefined {
    let body: unknown;
    try {
      body = JSON.parse(record.value.toString('utf8'));
    } catch {
      this.dropped.inc({ reason: 'malformed_json' });
      this.logger.warn(
        { topic: record.topic, partition: record.partition, offset: record.offset },
        'live feed: record is not JSON',
      );
      return undefined;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      this.dropped.inc({ reason: 'invalid' });
      this.logger.warn(
        { topic: record.topic, partition: record.partition, offset: record.offset },
        'live feed: record does not match its schema',
      );
      return undefined;
    }
    return parsed.data;
  }
}
