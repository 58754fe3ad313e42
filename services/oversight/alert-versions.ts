import { AlertEvent } from '../../schemas/alert.js';
import type { Bus, Consumption } from '../ports/bus.js';
import type { Component, Health } from '../ports/lifecycle.js';
import { Topics } from '../ports/topics.js';

interface Waiter {
  match(alert: AlertEvent): boolean;
  resolve(alert: AlertEvent | undefined): void;
}

/**
 * Alert versions as they go by on `alerts.events`, for callers waiting on one: an acknowledgement
 * is written by the processor, so whoever asked for it waits here for the version that carries it.
 * Fed by a broadcast reader (the gateway's live feed, or `AlertVersionsReader`).
 */
export class AlertVersions {
  private readonly waiters = new Set<Waiter>();

  /** Hands one version to the waiters it matches. */
  observe(alert: AlertEvent): void {
    for (const waiter of [...this.waiters]) {
      if (!waiter.match(alert)) continue;
      this.waiters.delete(waiter);
      waiter.resolve(alert);
    }
  }

  /**
   * Starts waiting for the first version that matches; resolves with it, or with undefined after
   * `timeoutMs`. Call before causing the version, so it cannot go by unseen.
   */
  waitFor(match: (alert: AlertEvent) => boolean, timeoutMs: number): Promise<AlertEvent | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (alert) => {
          clearTimeout(timer);
          resolve(alert);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Waiters still open (for tests and the log). */
  get waiting(): number {
    return this.waiters.size;
  }
}

/** A broadcast reader of `alerts.events` from now on that feeds `AlertVersions` (the api role's). */
export class AlertVersionsReader implements Component {
  readonly name = 'alert-versions';
  private consumption: Consumption | undefined;

  constructor(
    private readonly bus: Bus,
    readonly versions: AlertVersions,
  ) {}

  async start(): Promise<void> {
    this.consumption = await this.bus.consume({
      topic: Topics.alertsEvents,
      group: null,
      onBatch: async (batch) => {
        for (const record of batch.records) {
          let body: unknown;
          try {
            body = JSON.parse(record.value.toString('utf8'));
          } catch {
            continue;
          }
          const parsed = AlertEvent.safeParse(body);
          if (parsed.success) this.versions.observe(parsed.data);
        }
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumption?.stop();
    this.consumption = undefined;
  }

  health(): Health {
    if (!this.consumption) return { state: 'error', detail: 'not consuming' };
    return this.consumption.healthy()
      ? { state: 'ok' }
      : { state: 'degraded', detail: 'the alert reader is not making progress' };
  }
}
