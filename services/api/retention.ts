import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import { type Expiring, type ExpiringTable, type Expiry, expiringTables } from '../ports/retention.js';
import type { Logger } from '../runtime/logger.js';

export interface RetentionOptions {
  store: Expiring;
  clock: Clock;
  logger: Logger;
  /** How long each table keeps a row, in ms; a table missing or undefined keeps rows forever. */
  retentionMs: Partial<Record<ExpiringTable, number | undefined>>;
  /** Time between the end of one pass and the start of the next. Default one hour. */
  intervalMs?: number;
  metrics?: Registry;
}

const hourMs = 3_600_000;

/**
 * Enforces retention: one pass at start, then one an interval after each pass ends (passes never
 * overlap). Each pass asks the store to expire every table with a retention, at `clock.now()`
 * minus that retention, and logs what went. A failed table leaves the health `degraded` (retention
 * is not needed to serve, so never `error`) and the next pass tries again.
 */
export class RetentionScheduler implements Component {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Expiry[]> | undefined;
  private stopped = false;
  private state: Health = { state: 'ok' };
  private readonly log: Logger;
  private readonly expired: Counter<'table'> | undefined;

  constructor(private readonly o: RetentionOptions) {
    this.log = o.logger.child({ component: 'retention' });
    this.expired = o.metrics
      ? ((o.metrics.getSingleMetric('glasshouse_retention_rows_expired_total') as
          | Counter<'table'>
          | undefined) ??
        new Counter({
          name: 'glasshouse_retention_rows_expired_total',
          help: 'Stored rows removed by retention, by table',
          labelNames: ['table'],
          registers: [o.metrics],
        }))
      : undefined;
  }

  /** Starts the first pass without awaiting it: a first pass over a long backlog must not delay readiness. */
  async start(): Promise<void> {
    this.stopped = false;
    const kept = (t: ExpiringTable) => {
      const ms = this.retentionOf(t);
      return ms === undefined ? 'forever' : `${ms / 86_400_000}d`;
    };
    const policy = expiringTables.map((t) => `${t} ${kept(t)}`).join(', ');
    this.log.info(`retention: ${policy}; a pass every ${(this.o.intervalMs ?? hourMs) / 60_000} min`);
    void this.pass();
  }

  /** Stops scheduling and waits for a running pass to finish its current table. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  health(): Health {
    return this.state;
  }

  /** Runs one pass now, or joins the one running; resolves with what each table lost. */
  runOnce(): Promise<Expiry[]> {
    this.running ??= this.expireAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    await this.runOnce();
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pass(), this.o.intervalMs ?? hourMs);
    this.timer.unref();
  }

  private async expireAll(): Promise<Expiry[]> {
    const done: Expiry[] = [];
    const failed: string[] = [];
    for (const table of expiringTables) {
      const keepMs = this.retentionOf(table);
      if (keepMs === undefined || this.stopped) continue;
      const beforeMs = this.o.clock.now() - keepMs;
      try {
        const expiry = await this.o.store.expire(table, beforeMs);
        done.push(expiry);
        this.expired?.inc({ table }, expiry.rows);
        const fields = {
          table,
          cutoff: new Date(beforeMs).toISOString(),
          rows: expiry.rows,
          ...(expiry.partitions.length ? { partitions: expiry.partitions } : {}),
        };
        if (expiry.rows > 0 || expiry.partitions.length > 0) this.log.info(fields, 'retention: expired');
        else this.log.debug(fields, 'retention: nothing to expire');
      } catch (err) {
        failed.push(table);
        this.log.warn({ err, table }, 'retention: expiry failed; the next pass tries again');
      }
    }
    this.state = failed.length
      ? { state: 'degraded', detail: `expiry failed for ${failed.join(', ')}` }
      : { state: 'ok' };
    return done;
  }

  private retentionOf(table: ExpiringTable): number | undefined {
    return this.o.retentionMs[table];
  }
}
