import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AlertEvent, AlertEventMs, publicAlert } from '../../schemas/alert.js';
import { PerformanceUpdate, PerformanceUpdateMs, publicUpdate } from '../../schemas/performance.js';
import { ModuleVersion, type PolicyModuleInput } from '../../schemas/registry.js';
import { alertIdOf, hasAcknowledgement } from '../../services/core/performance/alerts.js';
import { Engine, type EngineEvent, type Evaluation } from '../../services/core/performance/engine.js';
import { mergeRollupRows, type RollupRow } from '../../services/core/performance/rollup.js';
import { windowGeometry, windowRange } from '../../services/core/performance/window.js';
import { exampleGoal, type GoalInput } from '../support/examples.js';

const T0 = 1_700_000_000_000;

function moduleVersion(overrides: Partial<PolicyModuleInput> = {}, version = 1): ModuleVersion {
  return ModuleVersion.parse({
    id: 'bus',
    domain: 'transit',
    title: 'Bus punctuality',
    owner: 'ada',
    goals: [goal()],
    ...overrides,
    version,
    updatedAt: new Date(T0).toISOString(),
    updatedBy: 'admin',
    rationale: 'test',
  });
}

/** An engine with a clock the test moves; `at(ms)` sets it. */
function harness(module = moduleVersion()) {
  let now = T0;
  const engine = new Engine({ clock: { now: () => now } });
  engine.setModule(module);
  let seq = 0;
  return {
    engine,
    at(ms: number) {
      now = ms;
    },
    send(
      value: number,
      observedAt: number,
      metric = 'on_time_rate',
      extra: Partial<EngineEvent> = {},
      countedBefore = false,
    ) {
      seq += 1;
      return engine.ingest(
        {
          eventId: `e${seq}`,
          agencyId: 'transit-agency',
          moduleId: 'bus',
          metric,
          value,
          observedAt,
          receivedAt: now,
          ...extra,
        },
        countedBefore,
      );
    },
    evaluate(): Evaluation {
      const out = engine.evaluate(now);
      for (const u of out.updates) PerformanceUpdate.parse(publicUpdate(PerformanceUpdateMs.parse(u)));
      for (const a of out.alerts) AlertEvent.parse(publicAlert(AlertEventMs.parse(a)));
      return out;
    },
  };
}

describe('Engine: status and deviation', () => {
  it('shows a deviation and fires a hold-0 alert in the same evaluation, then resolves it', () => {
    const h = harness();
    h.at(T0 + 1_000);
    expect(h.send(95, T0 + 1_000)).toBe('accepted');
    expect(h.evaluate().updates).toMatchObject([{ status: 'on_track', value: 95, count: 1, shortfall: 0 }]);
    h.at(T0 + 1_200);
    h.send(10, T0 + 1_200);
    const off = h.evaluate();
    expect(off.updates).toMatchObject([{ status: 'off_track', count: 2, value: 52.5 }]);
    expect(off.alerts).toMatchObject([
      { kind: 'goal_deviation', state: 'firing', version: 1, owner: 'ada', moduleVersion: 1 },
    ]);
    expect(off.alerts[0]!.alertId).toBe(alertIdOf('bus', 'ontime', 'goal_deviation', T0 + 1_200));
    h.at(T0 + 1_300);
    for (let i = 0; i < 20; i += 1) h.send(100, T0 + 1_300);
    const back = h.evaluate();
    expect(back.updates).toMatchObject([{ status: 'on_track' }]);
    expect(back.alerts).toMatchObject([{ state: 'resolved', version: 2, alertId: off.alerts[0]!.alertId }]);
  });

  it('coalesces value-only updates to one per second and emits status changes at once', () => {
    const h = harness();
    h.at(T0);
    h.send(95, T0);
    expect(h.evaluate().updates).toHaveLength(1);
    h.at(T0 + 100);
    h.send(96, T0 + 100);
    expect(h.evaluate().updates).toHaveLength(0);
    h.at(T0 + 200);
    h.send(0, T0 + 200);
    expect(h.evaluate().updates).toMatchObject([{ status: 'off_track' }]);
    h.at(T0 + 300);
    h.send(1, T0 + 300);
    expect(h.evaluate().updates).toHaveLength(0);
    h.at(T0 + 1_250);
    expect(h.evaluate().updates).toMatchObject([{ status: 'off_track', count: 4 }]);
  });

  it('rates severity critical only when the short window deviates too', () => {
    const run = (recent: number) => {
      const h = harness(moduleVersion({ goals: [goal({ window: '1h' })] }));
      const end = T0 + 3_600_000;
      h.at(end);
      for (let i = 0; i < 10; i += 1) h.send(0, end - 50 * 60_000);
      for (let i = 0; i < 4; i += 1) h.send(recent, end);
      return h.evaluate().alerts;
    };
    expect(run(0)).toMatchObject([{ state: 'firing', severity: 'critical' }]);
    expect(run(100)).toMatchObject([{ state: 'firing', severity: 'warning' }]);
  });

  it('treats target 0 and tolerance 0 as absolute bounds, constraints too', () => {
    const h = harness(
      moduleVersion({
        goals: [
          goal({
            id: 'errors',
            metric: 'errors',
            direction: 'decrease',
            target: 0,
            tolerance: 0,
            aggregation: 'sum',
          }),
        ],
        constraints: [{ id: 'cost', metric: 'cost', op: '<=', bound: 12, window: '1m', aggregation: 'max' }],
      }),
    );
    h.at(T0);
    h.send(0, T0, 'errors');
    h.send(11, T0, 'cost');
    expect(h.evaluate().updates).toMatchObject([
      { goalId: 'errors', status: 'on_track', shortfall: 0 },
      { goalId: 'cost', ruleKind: 'constraint', status: 'on_track', target: 12 },
    ]);
    h.send(0.5, T0, 'errors');
    h.send(13, T0, 'cost');
    const out = h.evaluate();
    expect(out.updates).toMatchObject([
      { goalId: 'errors', status: 'off_track', shortfall: 0.5 },
      { goalId: 'cost', status: 'off_track' },
    ]);
    expect(out.alerts.map((a) => a.kind).sort()).toEqual(['constraint_violation', 'goal_deviation']);
  });

  it('reports no_data below minSamples and never resolves a firing alert on it', () => {
    const h = harness(moduleVersion({ goals: [goal({ minSamples: 2 })] }));
    h.at(T0);
    h.send(10, T0);
    expect(h.evaluate().updates).toMatchObject([{ status: 'no_data', shortfall: null }]);
    h.send(10, T0);
    expect(h.evaluate().alerts).toMatchObject([{ state: 'firing' }]);
    h.at(T0 + 10 * 60_000);
    const later = h.evaluate();
    expect(later.updates).toMatchObject([{ status: 'no_data', count: 0 }]);
    expect(later.alerts).toEqual([]);
    expect(h.engine.openAlerts()).toHaveLength(1);
  });
});

describe('Engine: time', () => {
  it('flags events behind the watermark as late: stored, counted, never live', () => {
    const h = harness(moduleVersion({ allowedLateness: '5s' }));
    h.at(T0 + 20_000);
    h.send(95, T0 + 20_000);
    expect(h.send(90, T0 + 16_000)).toBe('accepted');
    expect(h.send(0, T0 + 14_000)).toBe('late');
    const out = h.evaluate();
    expect(out.updates).toMatchObject([{ count: 2, value: 92.5, status: 'on_track' }]);
    const row = out.rollups.find((r) => r.bucket_ms === T0 + 14_000)!;
    expect(row).toMatchObject({ count: 1, min: 0, rule_id: 'ontime', width_ms: 1_000 });
    expect(h.engine.stats().lateEvents).toEqual({ bus: 1 });
  });

  it('slides the window with the wall clock, allowedLateness behind it', () => {
    const h = harness(moduleVersion({ allowedLateness: '10s' }));
    h.at(T0);
    h.send(95, T0);
    h.evaluate();
    h.at(T0 + 69_000);
    expect(h.evaluate().updates).toMatchObject([{ count: 1, asOfMs: T0 + 59_000 }]);
    h.at(T0 + 70_000);
    expect(h.evaluate().updates).toMatchObject([{ count: 0, status: 'no_data' }]);
  });

  it('sends events older than the window but within the lateness to rollupMerges', () => {
    const h = harness(moduleVersion({ allowedLateness: '1h' }));
    h.at(T0 + 600_000);
    h.send(95, T0 + 600_000);
    expect(h.send(80, T0)).toBe('accepted');
    const out = h.evaluate();
    expect(out.updates).toMatchObject([{ count: 1 }]);
    expect(out.rollupMerges).toMatchObject([{ bucket_ms: T0, count: 1, sum: 80 }]);
  });

  it('agrees with a recompute over the documented range (random streams)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ dt: fc.integer({ min: -20_000, max: 5_000 }), v: fc.integer({ min: -100, max: 100 }) }),
          {
            maxLength: 80,
          },
        ),
        (steps) => {
          const h = harness(moduleVersion({ allowedLateness: '10s', goals: [goal({ aggregation: 'sum' })] }));
          const accepted: Array<{ v: number; t: number }> = [];
          let clock = T0;
          for (const { dt, v } of steps) {
            clock += 500;
            h.at(clock);
            const t = clock + dt;
            if (h.send(v, t) === 'accepted') accepted.push({ v, t });
          }
          h.at(clock + 2_000);
          const update = h.evaluate().updates.at(-1) ?? h.engine.evaluate(clock + 10_000).updates[0];
          if (!update) throw new Error('the engine reported no update for the goal');
          const { widthMs, buckets } = windowGeometry(60_000);
          const { fromMs, toMs } = windowRange(update.asOfMs, widthMs, buckets);
          const expected = accepted.filter((e) => e.t >= fromMs && e.t < toMs).reduce((a, e) => a + e.v, 0);
          expect(update.value).toBe(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('Engine: dedup', () => {
  it('answers duplicate for a repeated (agency, eventId) from memory while it is inside the horizon', () => {
    const h = harness();
    h.at(T0);
    expect(h.send(95, T0, 'on_time_rate', { eventId: 'x' })).toBe('accepted');
    expect(h.send(95, T0, 'on_time_rate', { eventId: 'x' })).toBe('duplicate');
    expect(h.send(95, T0, 'on_time_rate', { eventId: 'x', agencyId: 'other' })).toBe('accepted');
    expect(h.evaluate().updates).toMatchObject([{ count: 2 }]);
    expect(h.engine.needsStoreCheck('bus', 'transit-agency', 'x', T0)).toBe(false);
  });

  it('forgets a pair once it is behind the horizon and written, and then asks for the store', () => {
    const h = harness(moduleVersion({ allowedLateness: '30s' }));
    h.at(T0);
    h.send(95, T0, 'on_time_rate', { eventId: 'x' });
    // Event time stands still: the horizon follows the watermark, not the clock, so x stays.
    h.at(T0 + 60_000);
    h.evaluate();
    expect(h.engine.needsStoreCheck('bus', 'transit-agency', 'x', T0)).toBe(false);
    // A newer event puts x behind the horizon, but its batch is not written yet: still remembered.
    h.send(95, T0 + 31_000, 'on_time_rate', { eventId: 'newer' });
    h.at(T0 + 61_000);
    h.evaluate();
    expect(h.engine.stats().rememberedEvents).toBe(2);
    expect(h.send(95, T0, 'on_time_rate', { eventId: 'x' })).toBe('duplicate');
    expect(h.engine.needsStoreCheck('bus', 'transit-agency', 'x', T0)).toBe(false);
    // Written: forgotten, and an event observed that long ago is now the store's to answer for.
    h.engine.markDurable(T0 + 60_000);
    h.at(T0 + 62_000);
    h.evaluate();
    expect(h.engine.stats().rememberedEvents).toBe(1);
    expect(h.engine.needsStoreCheck('bus', 'transit-agency', 'x', T0)).toBe(true);
    expect(h.engine.needsStoreCheck('bus', 'transit-agency', 'x', T0 + 2_000)).toBe(false);
    expect(h.send(95, T0, 'on_time_rate', { eventId: 'x' }, true)).toBe('duplicate');
    // Behind the dedup horizon but inside the agency's lateness bound (31 s − 30 s): counted, not late.
    expect(h.send(95, T0 + 2_000, 'on_time_rate', { eventId: 'y' }, false)).toBe('accepted');
    expect(h.send(95, T0, 'on_time_rate', { eventId: 'z' }, false)).toBe('late');
    // An old event counted just now is remembered until its batch is written too.
    expect(h.send(95, T0 + 2_000, 'on_time_rate', { eventId: 'y' }, false)).toBe('duplicate');
  });

  it('keeps only one lateness bound of pairs however long it runs', () => {
    const h = harness(moduleVersion({ allowedLateness: '10s' }));
    let most = 0;
    for (let i = 0; i < 5_000; i += 1) {
      const t = T0 + i * 100;
      h.at(t);
      h.send(95, t);
      if (i % 10 === 0) {
        h.engine.markDurable(t);
        h.evaluate();
        most = Math.max(most, h.engine.stats().rememberedEvents);
      }
    }
    // 10 events/s: 10 s of lateness, one slot (1 s) and one tick of slack are ~120 pairs.
    expect(most).toBeGreaterThanOrEqual(100);
    expect(most).toBeLessThanOrEqual(130);
  });

  it('answers invalid for a non-finite value and keeps it out of the windows', () => {
    const h = harness();
    h.at(T0);
    expect(h.send(Number.NaN, T0)).toBe('invalid');
    expect(h.send(95, Number.POSITIVE_INFINITY)).toBe('invalid');
    expect(h.evaluate().updates).toMatchObject([{ count: 0, status: 'no_data' }]);
  });

  it('answers unknown_module for a module it does not hold', () => {
    const h = harness();
    expect(
      h.engine.ingest({
        eventId: 'a',
        agencyId: 'x',
        moduleId: 'nope',
        metric: 'm',
        value: 1,
        observedAt: 1,
        receivedAt: 1,
      }),
    ).toBe('unknown_module');
  });
});

describe('Engine: data_gap and stagnation', () => {
  it('raises data_gap after maxSilence without receipts and resolves on the next event', () => {
    const h = harness(moduleVersion({ maxSilence: '10s' }));
    h.at(T0);
    h.send(95, T0);
    h.evaluate();
    h.at(T0 + 9_999);
    expect(h.evaluate().alerts).toEqual([]);
    h.at(T0 + 12_000);
    const gap = h.evaluate().alerts;
    expect(gap).toMatchObject([{ kind: 'data_gap', state: 'firing', ruleId: 'max-silence' }]);
    expect(gap[0]!.alertId).toBe(alertIdOf('bus', 'max-silence', 'data_gap', T0 + 10_000));
    h.at(T0 + 13_000);
    h.send(95, T0 + 1_000);
    expect(h.evaluate().alerts).toMatchObject([{ kind: 'data_gap', state: 'resolved', version: 2 }]);
  });

  it('counts silence from the last stored receipt after a restart, with the same alert id', () => {
    const module = moduleVersion({ maxSilence: '10s' });
    let now = T0 + 4_000;
    const engine = new Engine({ clock: { now: () => now } });
    engine.setModule(module);
    engine.restore({
      recentEventIds: [{ moduleId: 'bus', agencyId: 'a', eventId: 'e1', observedMs: T0, receivedMs: T0 }],
    });
    expect(engine.evaluate(now).alerts).toEqual([]);
    now = T0 + 10_500;
    const gap = engine.evaluate(now).alerts;
    expect(gap).toMatchObject([{ kind: 'data_gap', state: 'firing' }]);
    expect(gap[0]!.alertId).toBe(alertIdOf('bus', 'max-silence', 'data_gap', T0 + 10_000));
  });

  it('flags a goal that does not move toward its target as stagnating and alerts', () => {
    const h = harness(moduleVersion({ goals: [goal({ window: '10s' })] }));
    const seen: Evaluation[] = [];
    for (let s = 0; s <= 60; s += 1) {
      h.at(T0 + s * 1_000);
      h.send(50, T0 + s * 1_000);
      seen.push(h.evaluate());
    }
    const updates = seen.flatMap((e) => e.updates);
    expect(updates[0]!.stagnating).toBe(false);
    expect(updates.at(-1)).toMatchObject({ status: 'off_track', stagnating: true, trend: 0 });
    expect(seen.flatMap((e) => e.alerts).filter((a) => a.kind === 'stagnation')).toMatchObject([
      { state: 'firing' },
    ]);
  });

  it('does not flag a goal improving fast enough', () => {
    const h = harness(moduleVersion({ goals: [goal({ window: '10s' })] }));
    let last: Evaluation | undefined;
    for (let s = 0; s <= 60; s += 1) {
      h.at(T0 + s * 1_000);
      h.send(10 + s, T0 + s * 1_000);
      last = h.evaluate();
    }
    expect(
      h.engine
        .evaluate(T0 + 62_000)
        .updates.concat(last!.updates)
        .every((u) => !u.stagnating),
    ).toBe(true);
  });
});

describe('Engine: module edits and acknowledgement', () => {
  it('keeps an alert open across a goal edit and resolves a removed rule’s alert explicitly', () => {
    const h = harness(
      moduleVersion({
        constraints: [{ id: 'cost', metric: 'cost', op: '<=', bound: 12, window: '1m', aggregation: 'max' }],
      }),
    );
    h.at(T0);
    h.send(10, T0);
    h.send(20, T0, 'cost');
    const opened = h.evaluate().alerts;
    expect(opened).toHaveLength(2);
    h.engine.setModule(moduleVersion({ goals: [goal({ target: 80 })] }, 2));
    const edited = h.evaluate().alerts;
    expect(edited).toMatchObject([
      {
        kind: 'constraint_violation',
        state: 'resolved',
        moduleVersion: 2,
        message: expect.stringContaining('removed'),
      },
      { kind: 'goal_deviation', state: 'firing', moduleVersion: 2, target: 80, version: 2 },
    ]);
  });

  it('acknowledges an open alert with a new version', () => {
    const h = harness();
    h.at(T0);
    h.send(10, T0);
    const [alert] = h.evaluate().alerts;
    const ack = h.engine.acknowledge(alert!.alertId, 'olga', 'on it', T0 + 5)!;
    expect(ack).toMatchObject({ version: 2, state: 'firing', acknowledgedBy: 'olga', note: 'on it' });
    expect(h.engine.acknowledge('0'.repeat(32), 'olga', 'x', T0)).toBeUndefined();
  });

  it('keeps the acknowledgement on every later version, the resolve included', () => {
    const h = harness();
    h.at(T0);
    h.send(10, T0);
    const [alert] = h.evaluate().alerts;
    expect(h.engine.openAlert(alert!.alertId)).toEqual(alert);
    const ack = h.engine.acknowledge(alert!.alertId, 'olga', 'on it', T0 + 5)!;
    expect(hasAcknowledgement(ack, 'olga', 'on it', T0 + 5)).toBe(true);
    expect(hasAcknowledgement(ack, 'olga', 'on it', T0 + 6)).toBe(false);
    h.at(T0 + 70_000);
    for (let i = 0; i < 5; i += 1) h.send(99, T0 + 70_000 + i);
    const later = h.evaluate().alerts;
    expect(later).toMatchObject([{ alertId: alert!.alertId, version: 3, state: 'resolved' }]);
    expect(later[0]).toMatchObject({
      acknowledgedBy: 'olga',
      acknowledgedMs: T0 + 5,
      note: 'on it',
    });
    expect(h.engine.openAlert(alert!.alertId)).toBeUndefined();
  });
});

/** A store as the processor would keep it: rollups (the newest row wins, merges applied), alerts, updates, events. */
class FakeStore {
  rollups = new Map<string, RollupRow>();
  alerts = new Map<string, AlertEventMs>();
  updates: PerformanceUpdateMs[] = [];
  events: Array<{
    moduleId: string;
    agencyId: string;
    eventId: string;
    observedMs: number;
    receivedMs: number;
  }> = [];
  take(out: Evaluation) {
    for (const row of out.rollups) this.rollups.set(rollupKey(row), row);
    for (const row of out.rollupMerges)
      this.rollups.set(rollupKey(row), mergeRollupRows(this.rollups.get(rollupKey(row)), row));
    for (const a of out.alerts) this.alerts.set(a.alertId, a);
    this.updates.push(...out.updates);
  }
  restoreInput() {
    return {
      rollups: [...this.rollups.values()],
      openAlerts: [...this.alerts.values()].filter((a) => a.state !== 'resolved'),
      recentEventIds: this.events,
      updates: this.updates,
    };
  }
}

function rollupKey(row: RollupRow): string {
  return `${row.module_id}|${row.rule_id}|${row.width_ms}|${row.bucket_ms}`;
}

describe('Engine: restore after restart', () => {
  it.each([5, 10, 12, 20, 25, 30, 33])(
    'gives the same outputs and alert ids as an engine that never stopped (restart at step %i)',
    (cut) => {
      const module = moduleVersion({
        allowedLateness: '5s',
        goals: [
          goal({ window: '10s', hold: '2s' }),
          goal({ id: 'p95', aggregation: 'p95', window: '10s', hold: '2s' }),
        ],
      });
      const script: Array<{ t: number; v: number; observed: number }> = [];
      for (let s = 0; s < 40; s += 1) {
        const v = s >= 8 && s < 20 ? 20 : 95;
        script.push({ t: T0 + s * 1_000, v, observed: T0 + s * 1_000 - (s % 3) * 2_000 });
      }
      const play = (engine: Engine, steps: typeof script, store: FakeStore) => {
        const outputs: Evaluation[] = [];
        for (const step of steps) {
          const eventId = `id-${step.t}`;
          engine.ingest({
            eventId,
            agencyId: 'a',
            moduleId: 'bus',
            metric: 'on_time_rate',
            value: step.v,
            observedAt: step.observed,
            receivedAt: step.t,
          });
          store.events.push({
            moduleId: 'bus',
            agencyId: 'a',
            eventId,
            observedMs: step.observed,
            receivedMs: step.t,
          });
          const out = engine.evaluate(step.t);
          store.take(out);
          outputs.push(out);
        }
        return outputs;
      };
      const clock = { now: () => T0 };
      const steady = new Engine({ clock });
      steady.setModule(module);
      const whole = play(steady, script, new FakeStore());

      const store = new FakeStore();
      const before = new Engine({ clock });
      before.setModule(module);
      play(before, script.slice(0, cut), store);
      const after = new Engine({ clock });
      after.setModule(module);
      after.restore(store.restoreInput());
      // A replayed event (offset not yet committed) is a duplicate after the restart.
      expect(
        after.ingest({
          eventId: `id-${script[cut - 1]!.t}`,
          agencyId: 'a',
          moduleId: 'bus',
          metric: 'on_time_rate',
          value: 1,
          observedAt: script[cut - 1]!.observed,
          receivedAt: script[cut - 1]!.t,
        }),
      ).toBe('duplicate');
      const resumed = play(after, script.slice(cut), store);

      const strip = (outs: Evaluation[]) => outs.map((o) => ({ updates: o.updates, alerts: o.alerts }));
      expect(strip(resumed)).toEqual(strip(whole.slice(cut)));
      // The script crosses every state of deviation (both goals) and stagnation, so the cuts land in each.
      expect(new Set(whole.flatMap((o) => o.alerts.map((a) => `${a.ruleId}:${a.state}`)))).toEqual(
        new Set([
          'ontime:pending',
          'ontime:firing',
          'ontime:resolved',
          'p95:pending',
          'p95:firing',
          'p95:resolved',
        ]),
      );
    },
  );
});

describe('Engine: restore after a goal edit', () => {
  /** Rollup rows of five events of `on_time_rate` (value 95) under goal `ontime` (mean, 10s). */
  const storedRows = (): RollupRow[] => {
    const engine = new Engine({ clock: { now: () => T0 } });
    engine.setModule(moduleVersion({ goals: [goal({ window: '10s' })] }));
    for (let i = 0; i < 5; i += 1)
      engine.ingest({
        eventId: `old-${i}`,
        agencyId: 'a',
        moduleId: 'bus',
        metric: 'on_time_rate',
        value: 95,
        observedAt: T0 + i * 100,
        receivedAt: T0 + i * 100,
      });
    const rows = engine.evaluate(T0 + 1_000).rollups;
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(5);
    return rows;
  };

  it.each([
    ['another metric', goal({ window: '10s', metric: 'delay_minutes' })],
    ['a percentile of the same metric (no sketch stored)', goal({ window: '10s', aggregation: 'p95' })],
  ])('does not put the old buckets into the live window when the goal now watches %s', (_what, edited) => {
    const engine = new Engine({ clock: { now: () => T0 + 2_000 } });
    engine.setModule(moduleVersion({ goals: [edited] }, 2));
    engine.restore({ rollups: storedRows() });
    engine.ingest({
      eventId: 'new-1',
      agencyId: 'a',
      moduleId: 'bus',
      metric: edited.metric,
      value: 5,
      observedAt: T0 + 2_000,
      receivedAt: T0 + 2_000,
    });
    expect(engine.evaluate(T0 + 2_000).updates).toMatchObject([{ goalId: 'ontime', count: 1, value: 5 }]);
  });
});

describe('Engine: memory bound', () => {
  it('holds a fixed number of buckets, sketch bins and dedup entries however long it runs', () => {
    const h = harness(
      moduleVersion({ allowedLateness: '0s', goals: [goal({ window: '10s', aggregation: 'p95' })] }),
    );
    const ringOf = () => {
      const rules = (
        h.engine as unknown as {
          modules: Map<
            string,
            { rules: Map<string, { ring: { sketchBins(): number; geometry: { buckets: number } } }> }
          >;
        }
      ).modules;
      return rules.get('bus')!.rules.get('ontime')!.ring;
    };
    let bins = 0;
    for (let i = 0; i < 20_000; i += 1) {
      const t = T0 + i * 100;
      h.at(t);
      h.send((i * 7919) % 100_000, t);
      if (i % 100 === 0) h.evaluate();
      bins = Math.max(bins, ringOf().sketchBins());
    }
    // The ring holds the 10s window plus maxFuture (60s by default) ahead of it: at 10 events/s, 70 s
    // of events in ≤ 2-event buckets, so at most 700 + 420 bins, however long it runs.
    expect(bins).toBeLessThanOrEqual(1_120);
    // Pairs are kept while inside the lateness bound (0 s here) of the newest event, until written.
    expect(h.engine.stats().rememberedEvents).toBeGreaterThan(0);
    h.engine.markDurable(T0 + 2_000_000);
    h.at(T0 + 2_002_000);
    h.evaluate();
    // Only the newest slot (1 s, 10 events) is not yet behind the watermark.
    expect(h.engine.stats().rememberedEvents).toBeLessThanOrEqual(10);
  });
});

/** The spec's example goal on a 1m window that alerts at once: short enough to drive by hand. */
function goal(overrides: Partial<GoalInput> = {}): GoalInput {
  return exampleGoal({ window: '1m', hold: '0s', ...overrides });
}
