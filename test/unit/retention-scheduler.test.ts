import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { RetentionScheduler } from '../../services/api/retention.js';
import type { Expiring, ExpiringTable, Expiry } from '../../services/ports/retention.js';

const day = 86_400_000;
const logger = pino({ level: 'silent' });

/** Records every expire call; a table listed in `failing` throws until removed. */
function fakeStore() {
  const calls: Array<{ table: ExpiringTable; beforeMs: number }> = [];
  const failing = new Set<ExpiringTable>();
  let gate: Promise<void> | undefined;
  const store: Expiring = {
    async expire(table, beforeMs): Promise<Expiry> {
      calls.push({ table, beforeMs });
      await gate;
      if (failing.has(table)) throw new Error(`${table} is down`);
      return { table, beforeMs, rows: 3, partitions: [] };
    },
  };
  return {
    store,
    calls,
    failing,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

describe('RetentionScheduler', () => {
  it('expires each table with a retention at clock.now() minus it, never the forever ones', async () => {
    const fake = fakeStore();
    let now = 1_000 * day;
    const metrics = new Registry();
    const scheduler = new RetentionScheduler({
      store: fake.store,
      clock: { now: () => now },
      logger,
      metrics,
      retentionMs: { metric_events: 400 * day, performance_updates: 30 * day, rollups: undefined },
    });

    expect(await scheduler.runOnce()).toHaveLength(2);
    expect(fake.calls).toEqual([
      { table: 'metric_events', beforeMs: 600 * day },
      { table: 'performance_updates', beforeMs: 970 * day },
    ]);

    now += 7 * day; // the injected clock moves: the cutoffs move with it
    fake.calls.length = 0;
    await scheduler.runOnce();
    expect(fake.calls.map((c) => c.beforeMs)).toEqual([607 * day, 977 * day]);
    expect(await metrics.getSingleMetricAsString('glasshouse_retention_rows_expired_total')).toContain(
      'glasshouse_retention_rows_expired_total{table="metric_events"} 6',
    );
  });

  it('runs a pass at start and then every interval, and stops scheduling on stop', async () => {
    vi.useFakeTimers();
    try {
      const fake = fakeStore();
      let now = 500 * day;
      const scheduler = new RetentionScheduler({
        store: fake.store,
        clock: { now: () => now },
        logger,
        retentionMs: { metric_events: 100 * day },
        intervalMs: 60_000,
      });
      await scheduler.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(fake.calls).toEqual([{ table: 'metric_events', beforeMs: 400 * day }]);
      now = 600 * day;
      await vi.advanceTimersByTimeAsync(59_999);
      expect(fake.calls).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(fake.calls).toEqual([
        { table: 'metric_events', beforeMs: 400 * day },
        { table: 'metric_events', beforeMs: 500 * day },
      ]);
      await scheduler.stop();
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(fake.calls).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never runs two passes at once: a second call joins the running one', async () => {
    const fake = fakeStore();
    const release = fake.hold();
    const scheduler = new RetentionScheduler({
      store: fake.store,
      clock: { now: () => 100 * day },
      logger,
      retentionMs: { metric_events: 10 * day },
    });
    const first = scheduler.runOnce();
    const second = scheduler.runOnce();
    expect(second).toBe(first);
    release();
    await first;
    expect(fake.calls).toHaveLength(1);
  });

  it('is degraded after a failed table, goes on with the others, and recovers on a later pass', async () => {
    const fake = fakeStore();
    fake.failing.add('metric_events');
    const scheduler = new RetentionScheduler({
      store: fake.store,
      clock: { now: () => 100 * day },
      logger,
      retentionMs: { metric_events: 10 * day, alerts: 20 * day },
    });
    expect(scheduler.health()).toEqual({ state: 'ok' });
    const done = await scheduler.runOnce();
    expect(done.map((e) => e.table)).toEqual(['alerts']);
    expect(scheduler.health()).toEqual({ state: 'degraded', detail: 'expiry failed for metric_events' });
    fake.failing.clear();
    await scheduler.runOnce();
    expect(scheduler.health()).toEqual({ state: 'ok' });
  });
});
