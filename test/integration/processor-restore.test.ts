import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import {
  Engine,
  mergeRollupRows,
  type RollupRow,
  rollupKeyOf,
} from '../../services/core/performance/index.js';
import type { Store } from '../../services/ports/store.js';
import type { Row } from '../../services/ports/tables.js';
import { alertRow, updateRow } from '../../services/processor/outputs.js';
import { Ownership } from '../../services/processor/ownership.js';
import { PartitionState } from '../../services/processor/partition.js';
import { loadModuleState } from '../../services/processor/restore.js';
import type { PartitionWriter } from '../../services/processor/writer.js';
import { UnavailableError } from '../../services/runtime/errors.js';
import { meanGoalModule } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

const _logger = pino({ level: 'silent' });
const now = Date.now();
const module = new FixtureRegistry({ modules: [meanGoalModule('er-wait', { window: '1h' })] }).module(
  'er-wait',
)!;
const bucket = Math.floor((now - 60_000) / 300_000) * 300_000;

function event(id: string, receivedMs: number, bucketMs = bucket): Row<'metric_events'> {
  return {
    module_id: 'er-wait',
    agency_id: 'clinic-agency',
    event_id: id,
    metric: 'wait_minutes',
    value: 20,
    // Inside the lateness bound (the dedup memory's span) unless placed in an older bucket.
    observed_ms: bucketMs === bucket ? now - 5_000 : bucketMs + 1_000,
    received_ms: receivedMs,
    dimensions: {},
    late: false,
    module_version: 1,
    supersedes: '',
    retract: false,
    note: '',
  };
}

function rollup(count: number, updatedMs: number, bucketMs = bucket): RollupRow {
  return {
    module_id: 'er-wait',
    rule_id: 'wait',
    metric: 'wait_minutes',
    width_ms: 300_000,
    bucket_ms: bucketMs,
    module_version: 1,
    count,
    sum: 20 * count,
    min: 20,
    max: 20,
    last_value: 20,
    last_ms: bucketMs + 1_000,
    last_event_id: `e${count}`,
    sketch: '',
    updated_ms: updatedMs,
  };
}

/** The store, with `land` written right after the `n`th select of `table` answered (a previous owner's last writes). */
function landingAfter(store: Store, table: string, n: number, land: () => Promise<void>): Store {
  let seen = 0;
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'select') {
        return async (...args: Parameters<Store['select']>) => {
          const rows = await target.select(...args);
          if (args[0] === table && ++seen === n) await land();
          return rows;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('restore while a previous owner still writes (loadModuleState)', () => {
  let store: DuckDbStore;
  afterEach(async () => {
    await store?.stop();
  });

  async function fresh(): Promise<DuckDbStore> {
    store = new DuckDbStore({ path: ':memory:' });
    await store.start();
    await store.migrate();
    return store;
  }

  it('folds in the rollups that landed after the first read, so the events it remembers are in the windows', async () => {
    const s = await fresh();
    const t0 = now - 10_000;
    await s.insert('metric_events', [event('e1', t0)]);
    await s.insert('rollups', [rollup(1, t0)]);
    // Between the rollup read and the event read, the previous owner's last batch lands whole.
    const racing = landingAfter(s, 'rollups', 1, async () => {
      await s.insert('metric_events', [event('e2', t0 + 5), event('e3', t0 + 5)]);
      await s.insert('rollups', [rollup(3, t0 + 5)]);
    });
    const state = await loadModuleState(racing, [module], now);
    expect(state.recentEventIds.map((e) => e.eventId).sort()).toEqual(['e1', 'e2', 'e3']);
    expect(state.rollups.map((r) => r.count)).toEqual([3]);
  });

  it('neither folds in nor counts as cover a rollup newer than every event it read', async () => {
    const s = await fresh();
    const t0 = now - 10_000;
    await s.insert('metric_events', [event('e1', t0)]);
    await s.insert('rollups', [rollup(1, t0)]);
    // e2's batch died before its rollups; then, after the event read, another batch lands whole.
    await s.insert('metric_events', [event('e2', t0 + 5)]);
    const racing = landingAfter(s, 'metric_events', 1, async () => {
      await s.insert('metric_events', [event('e3', t0 + 9)]);
      await s.insert('rollups', [rollup(3, t0 + 9)]);
    });
    const state = await loadModuleState(racing, [module], now);
    // e2 is not remembered (its redelivery counts it), and the windows hold only what covers e1.
    expect(state.recentEventIds.map((e) => e.eventId)).toEqual(['e1']);
    expect(state.rollups.map((r) => r.count)).toEqual([1]);
  });

  it('takes nothing from the late read for a module a previous owner wrote again after the event read', async () => {
    const s = await fresh();
    const t0 = now - 10_000;
    const earlier = bucket - 300_000;
    await s.insert('metric_events', [event('a', t0), event('b', t0, earlier)]);
    await s.insert('rollups', [rollup(1, t0), rollup(1, t0, earlier)]);
    // Set 1 (c, d) lands around the reads; set 2 (e) lands whole after the event read and hides
    // set 1's version of the first bucket, while set 1's row of the other bucket stays visible.
    let step = 0;
    const racing = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop === 'select') {
          return async (...args: Parameters<Store['select']>) => {
            const rows = await target.select(...args);
            step += 1;
            if (step === 1)
              await s.insert('metric_events', [event('c', t0 + 5), event('d', t0 + 5, earlier)]);
            if (step === 2) {
              await s.insert('rollups', [rollup(2, t0 + 5), rollup(2, t0 + 5, earlier)]);
              await s.insert('metric_events', [event('e', t0 + 9)]);
              await s.insert('rollups', [rollup(3, t0 + 9)]);
            }
            return rows;
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const state = await loadModuleState(racing, [module], now);
    // c and d are redelivered and counted on the buckets as first read; b, observed before the
    // lateness bound, is the store's to answer for (countedCopies), not the memory's.
    expect(state.recentEventIds.map((e) => e.eventId).sort()).toEqual(['a']);
    expect(state.covered.get('er-wait')).toBe(now - 10_000);
    expect(state.rollups.map((r) => [r.bucket_ms, r.count]).sort()).toEqual(
      [
        [earlier, 1],
        [bucket, 1],
      ].sort(),
    );
  });
});

describe('restore of trends and hold clocks from a bounded read of the updates (loadModuleState)', () => {
  let store: DuckDbStore;
  afterEach(async () => {
    await store?.stop();
  });

  // Stagnation horizon 40 s (trend slot 333 ms), hold 3 s; an update about every 100 ms.
  const version = new FixtureRegistry({
    modules: [
      {
        ...meanGoalModule('flat', { window: '10s', target: 30 }),
        allowedLateness: '1s',
        goals: [{ ...meanGoalModule('flat').goals[0]!, window: '10s', hold: '3s' }],
      },
    ],
  }).module('flat')!;
  /** Off track and flat (stagnating), then on track, then off track again: every hold clock moves. */
  const valueAt = (step: number) =>
    (step < 400 ? 50 : step < 700 ? 26 : step < 900 ? 45 : 28) + (step % 5) * 0.1;

  const openAtCut: Record<number, string[]> = {
    450: ['goal_deviation', 'stagnation'],
    750: ['goal_deviation'],
    880: ['goal_deviation', 'stagnation'],
    1000: ['goal_deviation', 'stagnation'],
  };
  it.each([450, 750, 880, 1_000])(
    'gives the same updates and alerts as an engine that never stopped (restart at step %i)',
    async (cut) => {
      store = new DuckDbStore({ path: ':memory:' });
      await store.start();
      await store.migrate();
      const t0 = 1_800_000_000_000; // fixed: the run is the same on every machine
      let clockMs = t0;
      const clock = { now: () => clockMs };
      const start = () => {
        const engine = new Engine({ clock, coalesceMs: 100 });
        engine.setModule(version);
        return engine;
      };
      // What a processor would have stored, written at the restart.
      const events: Row<'metric_events'>[] = [];
      const updates: Row<'performance_updates'>[] = [];
      const alerts: Row<'alerts'>[] = [];
      const rollups = new Map<string, RollupRow>();
      const step = (engine: Engine, i: number, write: boolean) => {
        clockMs = t0 + i * 100;
        const event = {
          eventId: `e${i}`,
          agencyId: 'clinic-agency',
          moduleId: 'flat',
          metric: 'wait_minutes',
          value: valueAt(i),
          observedAt: clockMs,
          receivedAt: clockMs,
        };
        engine.ingest(event);
        const out = engine.evaluate(clockMs);
        if (write) {
          events.push({
            module_id: 'flat',
            agency_id: event.agencyId,
            event_id: event.eventId,
            metric: event.metric,
            value: event.value,
            observed_ms: clockMs,
            received_ms: clockMs,
            dimensions: {},
            late: false,
            module_version: version.version,
            supersedes: '',
            retract: false,
            note: '',
          });
          updates.push(...out.updates.map((u) => updateRow(u, clockMs)));
          alerts.push(...out.alerts.map(alertRow));
          for (const row of out.rollups) rollups.set(rollupKeyOf(row), row);
          for (const row of out.rollupMerges)
            rollups.set(rollupKeyOf(row), mergeRollupRows(rollups.get(rollupKeyOf(row)), row));
        }
        return { updates: out.updates, alerts: out.alerts };
      };

      const steady = start();
      const before = start();
      const expected = [];
      for (let i = 0; i < cut; i += 1) {
        step(steady, i, false);
        step(before, i, true);
      }
      await store.insert('metric_events', events);
      await store.insert('performance_updates', updates);
      await store.insert('alerts', alerts);
      await store.insert('rollups', [...rollups.values()]);
      const stored = await store.select('performance_updates', { limit: 100_000 });
      const state = await loadModuleState(store, [version], clockMs);
      // The read is bounded by the horizon's slots and one hold, not by the updates stored: a point
      // per slot of lateness + horizon + one slot (1 s + 40 s + 333 ms: 125 slots begun), the 31
      // updates of the last 3 s hold (the newest among them) and the one before it.
      expect(stored.length).toBeGreaterThan(cut / 2);
      const slots = Math.ceil((1_000 + 40_000 + 333) / 333) + 1;
      expect(state.updates.length + state.trendPoints.length).toBeLessThanOrEqual(slots + 31 + 1);
      const after = start();
      after.restore(state);
      const resumed = [];
      for (let i = cut; i < cut + 300; i += 1) {
        expected.push(step(steady, i, false));
        resumed.push(step(after, i, false));
      }
      expect(resumed).toEqual(expected);
      // Each cut leaves alerts open whose hold clocks matter, and the run after it changes their state.
      expect(state.openAlerts.map((a) => a.kind).sort()).toEqual(openAtCut[cut]);
      expect(expected.flatMap((o) => o.alerts).length).toBeGreaterThan(0);
    },
  );
});

describe('restore through Ownership', () => {
  let store: DuckDbStore;
  beforeEach(async () => {
    store = new DuckDbStore({ path: ':memory:' });
    await store.start();
    await store.migrate();
  });
  afterEach(async () => {
    await store?.stop();
  });

  it('joins the running read when a restore is retried while its store read still runs', async () => {
    let reads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A slow store: every read waits for the gate.
    const slow = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'select' || prop === 'maxPerGroup') {
          return async (...args: unknown[]) => {
            reads += 1;
            await gate;
            return (Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const clock = { now: () => now };
    const state = new PartitionState(0, { clock }, undefined as unknown as PartitionWriter);
    let timeouts = 0;
    const ownership = new Ownership({
      bus: { partitionFor: async () => 0 },
      store: slow,
      registry: new FixtureRegistry({ modules: [meanGoalModule('er-wait', { window: '1h' })] }),
      clock,
      logger: _logger,
      partitions: new Map([[0, state]]),
      // The first attempt gives up at once, as a step timeout would on a slow store.
      timed: (work) => (timeouts++ === 0 ? Promise.reject(new Error('restore timed out')) : work),
    });
    await expect(ownership.restore(state, [module], now)).rejects.toThrow(/timed out/);
    const retry = ownership.restore(state, [module], now);
    release();
    await retry;
    expect(state.modules.get('er-wait')).toBe(module.version);
    // One restore's reads in all: the retry read nothing of its own. A restore now (none running)
    // reads as many again.
    const total = reads;
    await ownership.restore(state, [module], now);
    expect(reads - total).toBe(total);
  });

  it('logs a restore on assignment past the step timeout as still reading (info), another failure as a warning', async () => {
    const clock = { now: () => now };
    const registry = new FixtureRegistry({ modules: [meanGoalModule('slow-0', { window: '1h' })] });
    for (const [failure, level] of [
      [new UnavailableError('restore_timeout', 'restore took longer than 4000 ms'), 'info'],
      [new Error('store gone'), 'warn'],
    ] as const) {
      const lines: Array<{ level: number; msg: string }> = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
      const state = new PartitionState(0, { clock }, undefined as unknown as PartitionWriter);
      let attempts = 0;
      const ownership = new Ownership({
        bus: { partitionFor: async () => 0 },
        store,
        registry,
        clock,
        logger,
        partitions: new Map([[0, state]]),
        timed: (work) => (attempts++ === 0 ? Promise.reject(failure) : work),
      });
      await ownership.claimOwned([0]);
      expect(state.modules.has('slow-0')).toBe(false);
      const about = lines.filter((l) => l.msg.startsWith('restore on assignment'));
      expect(about.map((l) => [pino.levels.labels[l.level], l.msg.split(';')[0]])).toEqual([
        [level, level === 'info' ? 'restore on assignment still reading' : 'restore on assignment failed'],
      ]);
      // What the partition's next tick does: the restore completes.
      await ownership.restorePending(state);
      expect(state.modules.has('slow-0')).toBe(true);
    }
  });

  it('reads the modules of every partition assigned together in shared sets, each partition taking its own', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `m${i}`);
    const registry = new FixtureRegistry({ modules: ids.map((id) => meanGoalModule(id, { window: '1h' })) });
    // Each module one counted event (its rollup written after it), so restore remembers it.
    for (const id of ids) {
      await store.insert('metric_events', [{ ...event(`${id}-e`, now - 3_000), module_id: id }]);
      await store.insert('rollups', [{ ...rollup(1, now - 2_000), module_id: id }]);
    }
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'select' || prop === 'maxPerGroup') {
          return (...args: unknown[]) => {
            reads += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const clock = { now: () => now };
    const partitionOf = (id: string) => Number(id.slice(1)) % 6;
    const partitions = new Map(
      [0, 1, 2, 3, 4, 5].map((p) => [
        p,
        new PartitionState(p, { clock }, undefined as unknown as PartitionWriter),
      ]),
    );
    const ownership = new Ownership({
      bus: { partitionFor: async (_topic, key) => partitionOf(key) },
      store: counting,
      registry,
      clock,
      logger: _logger,
      partitions,
      timed: (work) => work,
    });

    await ownership.claimOwned([0, 1, 2, 3, 4, 5]);

    for (const [p, state] of partitions) {
      const own = ids.filter((id) => partitionOf(id) === p);
      expect([...state.modules.keys()].sort(), `partition ${p}`).toEqual(own.sort());
      for (const id of ids)
        expect(state.engine.remembers(id, 'clinic-agency', `${id}-e`), `${id} in partition ${p}`).toBe(
          own.includes(id),
        );
    }
    // As many reads as one restore of all twelve modules: not one set per partition.
    const shared = reads;
    reads = 0;
    await loadModuleState(counting, registry.modules(), now);
    expect(shared).toBe(reads);
  });
});
