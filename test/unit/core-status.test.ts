import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isStagnating,
  shortfallOf,
  statusOf,
  TrendSeries,
  towardTarget,
} from '../../services/core/performance/status.js';

describe('shortfallOf', () => {
  it('follows the direction, relative to |target|', () => {
    expect(shortfallOf('increase', 90, 81)).toBeCloseTo(0.1);
    expect(shortfallOf('increase', 90, 95)).toBe(0);
    expect(shortfallOf('decrease', 10, 12)).toBeCloseTo(0.2);
    expect(shortfallOf('decrease', 10, 8)).toBe(0);
    expect(shortfallOf('maintain', 50, 45)).toBeCloseTo(0.1);
    expect(shortfallOf('maintain', 50, 55)).toBeCloseTo(0.1);
    expect(shortfallOf('increase', -20, -30)).toBeCloseTo(0.5);
    expect(shortfallOf('decrease', -20, -10)).toBeCloseTo(0.5);
  });

  it('is absolute when the target is 0', () => {
    expect(shortfallOf('increase', 0, -3)).toBe(3);
    expect(shortfallOf('increase', 0, 3)).toBe(0);
    expect(shortfallOf('decrease', 0, 2.5)).toBe(2.5);
    expect(shortfallOf('decrease', 0, -1)).toBe(0);
    expect(shortfallOf('maintain', 0, -4)).toBe(4);
  });

  it('is never negative and 0 exactly when the goal is met', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('increase', 'decrease', 'maintain' as const),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        (direction, target, value) => {
          const s = shortfallOf(direction, target, value);
          expect(s).toBeGreaterThanOrEqual(0);
          const met =
            direction === 'increase'
              ? value >= target
              : direction === 'decrease'
                ? value <= target
                : value === target;
          expect(s === 0).toBe(met);
        },
      ),
    );
  });
});

describe('statusOf', () => {
  it('maps shortfall and tolerance to a status', () => {
    expect(statusOf(0, 0.05, 10, 10)).toBe('on_track');
    expect(statusOf(0.05, 0.05, 10, 10)).toBe('at_risk');
    expect(statusOf(0.0501, 0.05, 10, 10)).toBe('off_track');
    expect(statusOf(0, 0.05, 9, 10)).toBe('no_data');
    expect(statusOf(null, 0.05, 10, 1)).toBe('no_data');
  });

  it('with tolerance 0 there is no at_risk', () => {
    expect(statusOf(0, 0, 1, 1)).toBe('on_track');
    expect(statusOf(1e-12, 0, 1, 1)).toBe('off_track');
  });
});

describe('trend and stagnation', () => {
  it('fits the least-squares slope in units per hour', () => {
    const series = new TrendSeries(4 * 3_600_000);
    for (let h = 0; h < 4; h += 1) series.record(h * 3_600_000, 10 + 2 * h);
    const fit = series.fit(4 * 3_600_000, 18);
    expect(fit.slopePerHour).toBeCloseTo(2, 9);
    expect(fit.enoughHistory).toBe(true);
    expect(series.fit(3_600_000, null)).toEqual({ slopePerHour: null, enoughHistory: false });
  });

  it('keeps a bounded number of points and forgets those beyond the horizon', () => {
    const series = new TrendSeries(120_000);
    for (let t = 0; t < 1_000_000; t += 100) series.record(t, t);
    expect(series.points().length).toBeLessThanOrEqual(128);
    const fit = series.fit(1_000_000, null);
    expect(fit.slopePerHour).toBeCloseTo(3_600_000, 3);
  });

  it('re-signs the slope toward the target', () => {
    expect(towardTarget('increase', 90, 80, 2)).toBe(2);
    expect(towardTarget('decrease', 10, 12, 2)).toBe(-2);
    expect(towardTarget('maintain', 50, 40, 2)).toBe(2);
    expect(towardTarget('maintain', 50, 60, 2)).toBe(-2);
  });

  it('flags no meaningful progress only when not on track with enough history', () => {
    const base = { value: 80, target: 90, horizonMs: 4 * 3_600_000, enoughHistory: true };
    // 10% of the distance (10) over the 4h horizon is 1 unit: 0.25 per hour.
    expect(isStagnating({ ...base, status: 'off_track', trend: 0.2 })).toBe(true);
    expect(isStagnating({ ...base, status: 'off_track', trend: -1 })).toBe(true);
    expect(isStagnating({ ...base, status: 'off_track', trend: 0.3 })).toBe(false);
    expect(isStagnating({ ...base, status: 'at_risk', trend: 0 })).toBe(true);
    expect(isStagnating({ ...base, status: 'on_track', trend: 0 })).toBe(false);
    expect(isStagnating({ ...base, status: 'no_data', trend: 0 })).toBe(false);
    expect(isStagnating({ ...base, status: 'off_track', trend: 0, enoughHistory: false })).toBe(false);
  });
});
