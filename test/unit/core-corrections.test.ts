import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AlertEventMs } from '../../schemas/alert.js';
import { type PerformanceUpdate, publicUpdate } from '../../schemas/performance.js';
import { ModuleVersion } from '../../schemas/registry.js';
import {
  type CountedEvent,
  Engine,
  type EngineEvent,
  type Evaluation,
} from '../../services/core/performance/engine.js';
import { mergeRollupRows, type RollupRow, rollupKeyOf } from '../../services/core/performance/rollup.js';
import { exampleGoal } from '../support/examples.js';

const T0 = 1_700_000_040_000;
const spanMs = 150_000;
const latenessMs = 600_000;

/**
 * Goals of every aggregation over one metric, tolerance 0 and hold 0s: an alert is then open exactly
 * while its goal is off track, whatever the history, so alerts compare with a fresh computation.
 */
function module(): ModuleVersion {
  const g = (id: string, aggregation: string, window: string, target: number) =>
    exampleGoal({
      id,
      metric: 'm',
      aggregation: aggregation as 'mean',
      window,
      target,
      tolerance: 0,
      hold: '0s',
      minSamples: 1,
    });
  return ModuleVersion.parse({
    id: 'mod',
    domain: 'test',
    title: 'Corrections',
    owner: 'ada',
    agencies: ['a', 'b'],
    allowedLateness: '10m',
    goals: [
      g('mean1m', 'mean', '1m', 50),
      g('mean5m', 'mean', '5m', 50),
      g('p95', 'p95', '5m', 80),
      g('min', 'min', '5m', 10),
      g('max', 'max', '1m', 90),
      g('last', 'last', '5m', 50),
      g('count', 'count', '5m', 20),
      g('sum', 'sum', '1m', 500),
    ],
    constraints: [{ id: 'cap', metric: 'm', op: '<=', bound: 95, window: '1m', aggregation: 'max' }],
    version: 1,
    updatedAt: new Date(T0).toISOString(),
    updatedBy: 'admin',
    rationale: 'test',
  });
}

type Op =
  | { kind: 'event'; agency: string; value: number; offset: number }
  | { kind: 'correct'; pick: number; retract: boolean; value: number; offset: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('event' as const),
      agency: fc.constantFrom('a', 'b'),
      value: fc.integer({ min: 0, max: 100 }),
      offset: fc.integer({ min: 0, max: spanMs }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('correct' as const),
      pick: fc.nat(),
      retract: fc.boolean(),
      value: fc.integer({ min: 0, max: 100 }),
      offset: fc.integer({ min: 0, max: spanMs }),
    }),
  },
);

/** What the processor keeps in the store: rows as written (newest row of a key wins), raw events, alerts. */
class Sink {
  rollups = new Map<string, RollupRow>();
  alerts = new Map<string, AlertEventMs>();
  latest = new Map<string, PerformanceUpdate>();
  take(out: Evaluation): void {
    for (const row of out.rollups) this.rollups.set(rollupKeyOf(row), row);
    for (const row of out.rollupMerges)
      this.rollups.set(rollupKeyOf(row), mergeRollupRows(this.rollups.get(rollupKeyOf(row)), row));
    for (const a of out.alerts) this.alerts.set(a.alertId, a);
    for (const u of out.updates) this.latest.set(u.goalId, publicUpdate(u));
  }
  /** Buckets with events, as comparable numbers (a row with count 0 is a bucket without events). */
  buckets(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, r] of this.rollups) {
      if (r.count === 0) continue;
      out[key] = {
        count: r.count,
        sum: round(r.sum),
        min: r.min,
        max: r.max,
        last: r.last_value,
        lastMs: r.last_ms,
      };
    }
    return out;
  }
  /**
   * Open alerts, stagnation aside: its trend is a fit over the values published at each evaluation,
   * so it depends on when evaluations ran, not only on the set of events (with or without corrections);
   * and rules whose window is empty at the end: no data never resolves an alert, so whether one is open
   * then depends on what earlier evaluations saw.
   */
  open(): string[] {
    const withData = new Set([...this.latest].filter(([, u]) => u.status !== 'no_data').map(([id]) => id));
    return [...this.alerts.values()]
      .filter((a) => a.state !== 'resolved' && a.kind !== 'stagnation' && withData.has(a.ruleId))
      .map((a) => `${a.ruleId}:${a.kind}:${a.state}`)
      .sort();
  }
  statuses(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [goal, u] of this.latest)
      out[goal] = { status: u.status, count: u.count, value: u.value === null ? null : round(u.value) };
    return out;
  }
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Plays the ops the way the processor does: plain events go to the engine; before a correction,
 * everything so far is evaluated and written (the store then holds every counted event), the chain
 * is resolved to its newest version, the buckets the engine asks for are read from the raw events.
 */
function play(ops: Op[]) {
  const engine = new Engine({ clock: { now: () => T0 + spanMs }, coalesceMs: 0 });
  engine.setModule(module());
  const sink = new Sink();
  /** Raw events as stored, by `agency eventId`. */
  const raw = new Map<string, CountedEvent & { replacedBy?: string; retract?: boolean }>();
  const sent: string[] = [];
  let now = T0 + spanMs;
  let seq = 0;
  let corrections = 0;
  for (const op of ops) {
    now += 10;
    seq += 1;
    const observedAt = T0 + op.offset;
    if (op.kind === 'event') {
      const event: EngineEvent = {
        eventId: `p${seq}`,
        agencyId: op.agency,
        moduleId: 'mod',
        metric: 'm',
        value: op.value,
        observedAt,
        receivedAt: now,
      };
      const result = engine.ingest(event);
      expect(result).toBe('accepted');
      raw.set(`${op.agency} ${event.eventId}`, { ...event, late: false });
      sent.push(`${op.agency} ${event.eventId}`);
    } else {
      // Any version of a chain that was not retracted: the chain resolves to its newest version.
      const live = sent.filter((key) => !chainRetracted(raw, key));
      if (live.length === 0) continue;
      const target = live[op.pick % live.length]!;
      let head = raw.get(target)!;
      while (head.replacedBy) head = raw.get(`${head.agencyId} ${head.replacedBy}`)!;
      sink.take(engine.evaluate(now));
      const reads = engine.correctionReads('mod', head);
      const counted = [...raw.values()].filter(
        (e) =>
          !e.replacedBy &&
          !e.retract &&
          reads.some((r) => e.metric === r.metric && e.observedAt >= r.fromMs && e.observedAt < r.toMs),
      );
      const event: EngineEvent = {
        eventId: `c${seq}`,
        agencyId: head.agencyId,
        moduleId: 'mod',
        metric: 'm',
        value: op.value,
        observedAt,
        receivedAt: now,
      };
      const result = engine.correct({ event, retract: op.retract, replaces: head }, counted);
      expect(result).toBe('accepted');
      head.replacedBy = event.eventId;
      raw.set(`${event.agencyId} ${event.eventId}`, { ...event, late: false, retract: op.retract });
      sent.push(`${event.agencyId} ${event.eventId}`);
      corrections += 1;
    }
    if (seq % 3 === 0) sink.take(engine.evaluate(now));
  }
  const end = T0 + spanMs + latenessMs + 1_000;
  sink.take(engine.evaluate(now));
  sink.take(engine.evaluate(end));
  const effective = [...raw.values()].filter((e) => !e.replacedBy && !e.retract);
  return { sink, effective, end, corrections };
}

function chainRetracted(
  raw: Map<string, { agencyId: string; replacedBy?: string; retract?: boolean }>,
  key: string,
): boolean {
  let e = raw.get(key)!;
  while (e.replacedBy) e = raw.get(`${e.agencyId} ${e.replacedBy}`)!;
  return e.retract === true;
}

/** A fresh engine over the corrected set, in the given order. */
function fresh(effective: CountedEvent[], end: number) {
  const engine = new Engine({ clock: { now: () => T0 + spanMs }, coalesceMs: 0 });
  engine.setModule(module());
  const sink = new Sink();
  for (const e of effective) {
    engine.ingest({ ...e, moduleId: 'mod', receivedAt: T0 + spanMs });
  }
  sink.take(engine.evaluate(T0 + spanMs));
  sink.take(engine.evaluate(end));
  return sink;
}

describe('Engine: corrections', () => {
  it('any events and corrections (of corrections, retractions) give what a fresh computation over the corrected set gives', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.integer(), (ops, seed) => {
        const { sink, effective, end } = play(ops);
        // The fresh computation takes the corrected set in another order: order within lateness does not matter.
        const shuffled = [...effective].sort((x, y) => hash(x.eventId, seed) - hash(y.eventId, seed));
        const reference = fresh(shuffled, end);
        expect(sink.buckets()).toEqual(reference.buckets());
        expect(sink.statuses()).toEqual(reference.statuses());
        expect(sink.open()).toEqual(reference.open());
      }),
      { numRuns: 150 },
    );
  });

  it('a retraction resolves the alert it caused with reason "restated"', () => {
    const engine = new Engine({ clock: { now: () => T0 }, coalesceMs: 0 });
    engine.setModule(module());
    const e1: EngineEvent = {
      eventId: 'x1',
      agencyId: 'a',
      moduleId: 'mod',
      metric: 'm',
      value: 99,
      observedAt: T0,
      receivedAt: T0,
    };
    engine.ingest(e1);
    const opened = engine.evaluate(T0).alerts.filter((a) => a.ruleId === 'cap');
    expect(opened).toMatchObject([{ state: 'firing', kind: 'constraint_violation' }]);
    const reads = engine.correctionReads('mod', { ...e1, late: false });
    const result = engine.correct(
      {
        event: { ...e1, eventId: 'x2', value: 70, receivedAt: T0 + 5 },
        retract: false,
        replaces: { ...e1, late: false },
      },
      reads.length > 0 ? [{ ...e1, late: false }] : [],
    );
    expect(result).toBe('accepted');
    const after = engine.evaluate(T0 + 5).alerts.filter((a) => a.ruleId === 'cap');
    expect(after).toMatchObject([{ alertId: opened[0]!.alertId, state: 'resolved', reason: 'restated' }]);
    expect(after[0]!.message).toContain('restated');
    // The correction is an event like any other for dedup: a second copy changes nothing.
    const again = engine.correct(
      {
        event: { ...e1, eventId: 'x2', value: 70, receivedAt: T0 + 6 },
        retract: false,
        replaces: { ...e1, late: false },
      },
      [],
    );
    expect(again).toBe('duplicate');
  });

  it('subtracts when it can and asks for the bucket only when the removed event held its min, max or last', () => {
    const engine = new Engine({ clock: { now: () => T0 }, coalesceMs: 0 });
    engine.setModule(module());
    const at = (id: string, value: number, dt: number): EngineEvent => ({
      eventId: id,
      agencyId: 'a',
      moduleId: 'mod',
      metric: 'm',
      value,
      observedAt: T0 + dt,
      receivedAt: T0,
    });
    for (const e of [at('lo', 10, 0), at('mid', 50, 1), at('hi', 90, 2), at('newest', 60, 3)])
      engine.ingest(e);
    engine.evaluate(T0);
    expect(engine.correctionReads('mod', { ...at('mid', 50, 1), late: false })).toEqual([]);
    const reads = engine.correctionReads('mod', { ...at('hi', 90, 2), late: false });
    // Every rule on the metric whose bucket had "hi" as its max: all of them (one bucket per width).
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((r) => r.fromMs <= T0 + 2 && r.toMs > T0 + 2)).toBe(true);
  });
});

function hash(id: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < id.length; i += 1) h = Math.imul(h ^ id.charCodeAt(i), 2654435761);
  return h;
}
