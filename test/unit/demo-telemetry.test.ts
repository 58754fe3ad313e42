import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../schemas/common.js';
import { MetricEvent, type MetricEventInput } from '../../schemas/metric-event.js';
import type { Goal } from '../../schemas/registry.js';
import { ModulePut } from '../../schemas/registry.js';
import { agencies, modules } from '../../services/demo/government.js';
import { AgencyFeed, levelAt, maxJitterMs } from '../../services/demo/telemetry.js';

const t0 = Date.UTC(2030, 0, 1);
const minute = 60_000;

/** Runs every feed for `minutes` at one tick per second and returns what each agency sent. */
function simulate(seed: number, minutes: number): Map<string, MetricEventInput[]> {
  const sent = new Map<string, MetricEventInput[]>();
  for (const agency of agencies) {
    const feed = new AgencyFeed(agency.feed, seed, 'run1');
    const events: MetricEventInput[] = [];
    for (let elapsed = 1_000; elapsed <= minutes * minute; elapsed += 1_000)
      events.push(...feed.tick(elapsed, t0 + elapsed));
    sent.set(agency.id, events);
  }
  return sent;
}

const run = simulate(7, 8);
const allEvents = [...run.values()].flat();
const parsedModules = new Map(modules.map((m) => [m.id, ModulePut.parse(m)]));

function valuesIn(moduleId: string, metric: string, endMs: number, windowMs: number): MetricEventInput[] {
  return allEvents.filter(
    (e) =>
      e.moduleId === moduleId &&
      e.metric === metric &&
      (e.observedAt as number) > t0 + endMs - windowMs &&
      (e.observedAt as number) <= t0 + endMs,
  );
}

function aggregate(events: MetricEventInput[], aggregation: Goal['aggregation'], windowMs: number): number {
  const values = events.map((e) => e.value).sort((a, b) => a - b);
  const sum = values.reduce((a, b) => a + b, 0);
  const rank = (q: number) => values[Math.max(0, Math.ceil(q * values.length) - 1)]!;
  switch (aggregation) {
    case 'mean':
      return sum / values.length;
    case 'sum':
      return sum;
    case 'count':
      return values.length;
    case 'min':
      return values[0]!;
    case 'max':
      return values[values.length - 1]!;
    case 'p50':
      return rank(0.5);
    case 'p95':
      return rank(0.95);
    case 'rate':
      return sum / (windowMs / 1_000);
    case 'last':
      return [...events].sort((a, b) => (a.observedAt as number) - (b.observedAt as number)).at(-1)!.value;
  }
}

/** The goal's status at an elapsed time, by the spec's shortfall rules. */
function status(moduleId: string, goalId: string, atMs: number): string {
  const goal = parsedModules.get(moduleId)!.goals.find((g) => g.id === goalId)!;
  const windowMs = parseDuration(goal.window)!;
  const events = valuesIn(moduleId, goal.metric, atMs, windowMs);
  if (events.length < goal.minSamples) return 'no_data';
  const v = aggregate(events, goal.aggregation, windowMs);
  const scale = Math.abs(goal.target) || 1;
  const shortfall =
    goal.direction === 'increase'
      ? Math.max(0, goal.target - v) / scale
      : goal.direction === 'decrease'
        ? Math.max(0, v - goal.target) / scale
        : Math.abs(v - goal.target) / scale;
  if (shortfall === 0) return 'on_track';
  return shortfall <= goal.tolerance ? 'at_risk' : 'off_track';
}

function goalValue(moduleId: string, goalId: string, atMs: number): number {
  const goal = parsedModules.get(moduleId)!.goals.find((g) => g.id === goalId)!;
  const windowMs = parseDuration(goal.window)!;
  return aggregate(valuesIn(moduleId, goal.metric, atMs, windowMs), goal.aggregation, windowMs);
}

function constraintHolds(moduleId: string, constraintId: string, atMs: number): boolean {
  const rule = parsedModules.get(moduleId)!.constraints.find((c) => c.id === constraintId)!;
  const windowMs = parseDuration(rule.window)!;
  const v = aggregate(valuesIn(moduleId, rule.metric, atMs, windowMs), rule.aggregation, windowMs);
  return rule.op === '<=' ? v <= rule.bound : v >= rule.bound;
}

describe('levelAt', () => {
  const signal = {
    points: [
      [0, 93],
      [30_000, 93],
      [330_000, 74],
    ] as const,
    noise: 0,
  };
  it('holds before the first point, interpolates between points and holds after the last', () => {
    expect(levelAt(signal, 0)).toBe(93);
    expect(levelAt(signal, 30_000)).toBe(93);
    expect(levelAt(signal, 180_000)).toBeCloseTo(83.5, 9);
    expect(levelAt(signal, 900_000)).toBe(74);
  });
  it('treats two points at one time as a step', () => {
    expect(
      levelAt(
        {
          points: [
            [0, 3],
            [60_000, 3],
            [60_000, 9],
          ],
          noise: 0,
        },
        60_000,
      ),
    ).toBe(3);
    expect(
      levelAt(
        {
          points: [
            [0, 3],
            [60_000, 3],
            [60_000, 9],
          ],
          noise: 0,
        },
        60_001,
      ),
    ).toBe(9);
  });
});

describe('AgencyFeed', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(simulate(7, 1)).toEqual(simulate(7, 1));
    const other = simulate(8, 1)
      .get('city-transit')!
      .map((e) => e.value);
    expect(other).not.toEqual(
      run
        .get('city-transit')!
        .slice(0, other.length)
        .map((e) => e.value),
    );
  });

  it('sends valid events with unique ids, observed up to the jitter before now and never after', () => {
    const ids = new Set(allEvents.map((e) => e.eventId));
    expect(ids.size).toBe(allEvents.length);
    for (const event of allEvents.slice(0, 2_000)) expect(MetricEvent.safeParse(event).success).toBe(true);
    const sample = new AgencyFeed(agencies[0]!.feed, 1, 'r').tick(5_000, t0);
    for (const event of sample) {
      expect(event.observedAt as number).toBeLessThanOrEqual(t0);
      expect(event.observedAt as number).toBeGreaterThan(t0 - maxJitterMs);
    }
  });

  it('uses a new id space per run, so a restarted demo is not taken for duplicates', () => {
    const a = new AgencyFeed(agencies[0]!.feed, 7, 'run1').tick(1_000, t0);
    const b = new AgencyFeed(agencies[0]!.feed, 7, 'run2').tick(1_000, t0);
    expect(a.map((e) => e.eventId)).not.toEqual(b.map((e) => e.eventId));
    expect(a.map((e) => e.value)).toEqual(b.map((e) => e.value));
  });
});

describe('the scripted scenarios', () => {
  it('the drifting module starts on target and ends off target', () => {
    expect(status('bus-schedule-reform', 'on-time', 1 * minute)).toBe('on_track');
    expect(status('bus-schedule-reform', 'on-time', 4 * minute)).toBe('off_track');
    expect(status('bus-schedule-reform', 'on-time', 8 * minute)).toBe('off_track');
    expect(goalValue('bus-schedule-reform', 'on-time', 8 * minute)).toBeLessThan(80);
  });

  it('the stagnating module stays flat, well below target', () => {
    const values = [2, 4, 6, 8].map((m) =>
      goalValue('affordable-housing-pipeline', 'units-on-schedule', m * minute),
    );
    for (const v of values) expect(v).toBeGreaterThan(60);
    for (const v of values) expect(v).toBeLessThan(64);
    expect(Math.max(...values) - Math.min(...values)).toBeLessThan(1.5);
    expect(status('affordable-housing-pipeline', 'units-on-schedule', 8 * minute)).toBe('off_track');
  });

  it('the constraint holds for the first minute and is breached after it', () => {
    expect(constraintHolds('building-permits', 'appeals-upheld', 1 * minute)).toBe(true);
    expect(constraintHolds('building-permits', 'appeals-upheld', 2 * minute)).toBe(false);
    expect(constraintHolds('building-permits', 'appeals-upheld', 8 * minute)).toBe(false);
  });

  it('the silent agency stops after 90 s while the others keep reporting', () => {
    const env = run.get('environment-agency')!;
    expect(env.length).toBeGreaterThan(0);
    const last = Math.max(...env.map((e) => e.observedAt as number));
    expect(last).toBeLessThanOrEqual(t0 + 90_000);
    expect(last).toBeGreaterThan(t0 + 85_000);
    expect(status('air-quality', 'pm25', 1 * minute)).toBe('on_track');
    expect(status('air-quality', 'pm25', 3 * minute)).toBe('no_data');
    for (const [agency, events] of run) {
      if (agency === 'environment-agency') continue;
      expect(Math.max(...events.map((e) => e.observedAt as number))).toBeGreaterThan(t0 + 8 * minute - 1_000);
    }
  });

  it('the recovering module starts off target and ends on it', () => {
    expect(status('transit-signal-priority', 'on-time', 1 * minute)).toBe('off_track');
    expect(status('transit-signal-priority', 'on-time', 6 * minute)).toBe('on_track');
  });

  it('ambulance response hovers at risk', () => {
    expect(status('ambulance-response', 'response-p95', 4 * minute)).toBe('at_risk');
    expect(status('ambulance-response', 'response-p95', 8 * minute)).not.toBe('off_track');
  });

  it('every other goal is on track once its window is full, and every other constraint holds', () => {
    const scripted = new Set([
      'bus-schedule-reform/on-time',
      'affordable-housing-pipeline/units-on-schedule',
      'transit-signal-priority/on-time',
      'ambulance-response/response-p95',
      'rapid-rehousing/tenancy-retention',
      'air-quality/pm25',
      'waste-diversion/diversion',
    ]);
    for (const module of parsedModules.values()) {
      for (const goal of module.goals) {
        if (scripted.has(`${module.id}/${goal.id}`)) continue;
        for (const m of [6, 7, 8])
          expect(`${module.id}/${goal.id}@${m}m: ${status(module.id, goal.id, m * minute)}`).toMatch(
            /on_track$/,
          );
      }
      for (const rule of module.constraints) {
        if (module.id === 'building-permits' || module.agencies.includes('environment-agency')) continue;
        for (const m of [3, 8])
          expect(constraintHolds(module.id, rule.id, m * minute), `${module.id}/${rule.id}@${m}m`).toBe(true);
      }
    }
    expect(status('rapid-rehousing', 'tenancy-retention', 8 * minute)).toBe('at_risk');
    expect(status('waste-diversion', 'diversion', 80_000)).toBe('on_track');
  });
});
