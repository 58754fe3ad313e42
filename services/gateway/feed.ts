import { Counter, type Registry } from 'prom-client';
import { Topics } from '../../infra/kafka/topics.js';
import { AlertEvent } from '../../schemas/alert.js';
import { PerformanceUpdate } from '../../schemas/performance.js';
import type { Bus, Consumption, IncomingRecord } from '../ports/bus.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { Hub } from './hub.js';
import type { LiveState } from './state.js';

/**
 * Reads every performance update and alert version as a broadcast reader (no consumer group:
 * every gateway replica sees everything), applies them to the live state and fans them out to
 * the channels that carry them.
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
  publishUpdate(update: PerformanceUpdate): void {
    const effect = this.state.applyUpdate(update);
    if (!effect.fresh) return;
    const rule = `${update.ruleKind}:${update.goalId}`;
    const moduleChannel = `module:${update.moduleId}`;
    this.hub.publish(moduleChannel, 'update', update, `${moduleChannel}|${rule}`);
    const domain = this.state.domainOf(update.moduleId);
    if (domain !== undefined)
      this.hub.publish(`domain:${domain}`, 'update', update, `domain|${update.moduleId}|${rule}`);
    if (effect.statusChanged)
      this.hub.publish('scoreboard', 'update', update, `scoreboard|${update.moduleId}|${rule}`);
  }

  /** Applies one alert version and publishes it to `alerts`, `alerts:<moduleId>` and `scoreboard`. Never conflated. */
  publishAlert(alert: AlertEvent): void {
    if (!this.state.applyAlert(alert)) return;
    this.hub.publish('alerts', 'alert', alert);
    this.hub.publish(`alerts:${alert.moduleId}`, 'alert', alert);
    this.hub.publish('scoreboard', 'alert', alert);
  }

  private onUpdate(record: IncomingRecord): void {
    const update = this.decode(record, PerformanceUpdate);
    if (update) this.publishUpdate(update);
  }

  private onAlert(record: IncomingRecord): void {
    const alert = this.decode(record, AlertEvent);
    if (alert) this.publishAlert(alert);
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
