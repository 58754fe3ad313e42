import { describe, expect, it } from 'vitest';
import { Goal } from '../../schemas/registry.js';
import { addObservation, emptySummary } from '../../services/core/performance/aggregate.js';
import { toRollupRow } from '../../services/core/performance/rollup.js';
import { goalRule } from '../../services/core/performance/rules.js';
import {
  addStatusTime,
  emptyStatusTime,
  historyPoints,
  meanMs,
  onTrackShare,
  requiredSamples,
  scorecardMethod,
  scoreOf,
  shareTrend,
  statusTime,
} from '../../services/core/stats/index.js';
import { exampleGoal } from '../support/examples.js';

const hour = 3_600_000;

describe('time-weighted status', () => {
  it('holds each status until the next point, from the status in force at the start', () => {
    const points = [
      { t: -5 * hour, status: 'off_track' as const },
      { t: 2 * hour, status: 'on_track' as const },
      { t: 8 * hour, status: 'at_risk' as const },
      { t: 9 * hour, status: 'no_data' as const },
      { t: 30 * hour, status: 'on_track' as const },
    ];
    const time = statusTime(points, 0, 12 * hour);
    expect(time).toEqual({
      off_track: 2 * hour,
      on_track: 6 * hour,
      at_risk: hour,
      no_data: 3 * hour,
      observed: 12 * hour,
    });
    expect(onTrackShare(time)).toBe(0.5);
    expect(scoreOf(time)).toBe(50);
  });

  it('does not count time before the first point', () => {
    const time = statusTime([{ t: 6 * hour, status: 'on_track' }], 0, 12 * hour);
    expect(time.observed).toBe(6 * hour);
    expect(onTrackShare(time)).toBe(1);
    expect(onTrackShare(statusTime([], 0, hour))).toBeNull();
    expect(scoreOf(emptyStatusTime())).toBeNull();
  });

  it('sums goals by time, so a goal counts by how long its status is known', () => {
    const a = statusTime([{ t: 0, status: 'on_track' }], 0, 10 * hour);
    const b = statusTime([{ t: 8 * hour, status: 'off_track' }], 0, 10 * hour);
    const total = addStatusTime(addStatusTime(emptyStatusTime(), a), b);
    expect(onTrackShare(total)).toBeCloseTo(10 / 12, 12);
    expect(scoreOf(total)).toBe(83);
  });

  it('calls a trend from the halves, with a 5-point threshold', () => {
    const half = (on: number) => ({ ...emptyStatusTime(), on_track: on, off_track: 100 - on, observed: 100 });
    expect(shareTrend(half(40), half(60))).toEqual({ direction: 'improving', changePoints: 20 });
    expect(shareTrend(half(60), half(40))).toEqual({ direction: 'worsening', changePoints: -20 });
    expect(shareTrend(half(50), half(54))).toEqual({ direction: 'steady', changePoints: 4 });
    expect(shareTrend(emptyStatusTime(), half(54)).direction).toBe('unknown');
    expect(meanMs([1000, 2000, 4000])).toBe(2333);
    expect(meanMs([])).toBeNull();
    expect(scorecardMethod(24, 30)).toContain('the last 24 hours');
  });
});

describe('history points from rollups', () => {
  const goal = Goal.parse(exampleGoal({ minSamples: 4 }));
  const rule = goalRule(goal);
  const key = {
    moduleId: 'bus',
    ruleId: 'ontime',
    metric: 'on_time_rate',
    widthMs: 60_000,
    moduleVersion: 1,
  };
  const row = (bucketMs: number, values: number[], widthMs = 60_000) => {
    const summary = emptySummary(false);
    values.forEach((value, i) => {
      addObservation(summary, { eventId: `e${bucketMs}-${i}`, value, observedAt: bucketMs + i });
    });
    return toRollupRow({ ...key, widthMs }, bucketMs, summary, undefined, 0);
  };

  it('merges buckets into step-aligned points with the goal status, omitting empty steps', () => {
    const rows = [
      row(0, [95, 91]),
      row(60_000, [92, 96]),
      row(120_000, [80]),
      row(600_000, [86, 88, 87, 89]),
    ];
    const points = historyPoints(rows, 300_000, () => rule);
    expect(points).toEqual([
      { t: 0, value: (95 + 91 + 92 + 96 + 80) / 5, count: 5, status: 'on_track' },
      { t: 600_000, value: 87.5, count: 4, status: 'at_risk' },
    ]);
    // A step of 1 minute needs ceil(4 × 1/60) = 1 sample.
    expect(requiredSamples(rule, 60_000)).toBe(1);
    const fine = historyPoints(rows, 60_000, () => rule);
    expect(fine.map((p) => p.t)).toEqual([0, 60_000, 120_000, 600_000]);
    expect(fine[2]).toEqual({ t: 120_000, value: 80, count: 1, status: 'off_track' });
  });

  it('applies the rule in force at each point and never counts a step twice across widths', () => {
    const strict = goalRule({ ...goal, target: 99 });
    const rows = [
      row(0, [95, 95, 95, 95]),
      row(0, [95, 95, 95, 95, 95], 5_000),
      row(3_600_000, [95, 95, 95, 95]),
    ];
    const points = historyPoints(rows, hour, (t) => (t < hour ? rule : strict));
    expect(points).toEqual([
      { t: 0, value: 95, count: 5, status: 'on_track' },
      { t: hour, value: 95, count: 4, status: 'at_risk' },
    ]);
    expect(historyPoints(rows, hour, () => undefined)[0]!.status).toBe('no_data');
    // Too few samples for a whole window's step: no_data, value still shown.
    expect(historyPoints([row(0, [95])], hour, () => rule)[0]).toEqual({
      t: 0,
      value: 95,
      count: 1,
      status: 'no_data',
    });
  });

  it('divides a rate by the time its buckets cover, never by a step shorter than one bucket', () => {
    const rateRule = goalRule(Goal.parse(exampleGoal({ aggregation: 'rate', minSamples: 1 })));
    // Two 1-minute buckets summing 120 and 60: 2/s and 1/s.
    const rows = [row(0, [100, 20]), row(60_000, [60])];
    const perStep = (stepMs: number) => historyPoints(rows, stepMs, () => rateRule).map((p) => p.value);
    expect(perStep(60_000)).toEqual([2, 1]);
    // A 2-minute step holds both buckets: 180 over 120 s.
    expect(perStep(120_000)).toEqual([1.5]);
    // A 1 s step still holds each whole minute's sum: per second of the minute, not of the step.
    expect(perStep(1_000)).toEqual([2, 1]);
  });
});
