import { describe, expect, it } from 'vitest';
import {
  comparePairs,
  formatP,
  logGamma,
  regularizedIncompleteBeta,
  studentTCdf,
  studentTTwoSided,
  summarize,
  welchTest,
} from '../../services/core/stats/index.js';

// Reference values: SciPy 1.17 (scipy.special.betainc, scipy.stats.t.cdf, and
// scipy.stats.ttest_ind(a, b, equal_var=False)), which agree with the worked examples in the
// Wikipedia article "Welch's t-test" to the digits printed there (t = −2.46, p = 0.021, …).
describe('incomplete beta and Student t', () => {
  it('matches reference values of I_x(a, b)', () => {
    expect(regularizedIncompleteBeta(0.3, 2, 3)).toBeCloseTo(0.3483, 12);
    expect(regularizedIncompleteBeta(0.9, 0.5, 0.5)).toBeCloseTo(0.7951672353008665, 12);
    expect(regularizedIncompleteBeta(0.999, 50, 0.5)).toBeCloseTo(0.7523690199653766, 10);
    const tiny = regularizedIncompleteBeta(0.1, 10, 0.5);
    expect(Math.abs(tiny - 1.8480273740563758e-11) / 1.8480273740563758e-11).toBeLessThan(1e-9);
    expect(regularizedIncompleteBeta(0, 2, 3)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 3)).toBe(1);
    expect(regularizedIncompleteBeta(0.5, 7, 7)).toBeCloseTo(0.5, 14);
  });

  it('log-gamma matches factorials', () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(6)).toBeCloseTo(Math.log(120), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(() => logGamma(0)).toThrow(RangeError);
  });

  it('matches textbook critical values and reference CDF values', () => {
    // t tables: t(0.975, 10) = 2.228139, t(0.975, 1) = 12.7062, t(0.995, 5) = 4.032143.
    expect(studentTCdf(2.228138851986, 10)).toBeCloseTo(0.975, 10);
    expect(studentTCdf(12.7062047361747, 1)).toBeCloseTo(0.975, 10);
    expect(studentTCdf(4.032142983557536, 5)).toBeCloseTo(0.995, 10);
    expect(studentTCdf(0.5, 3.7)).toBeCloseTo(0.6773321833400341, 11);
    expect(studentTCdf(-1.3, 2.5)).toBeCloseTo(0.15024339463535416, 11);
    expect(studentTCdf(8, 30.2)).toBeCloseTo(0.9999999970144556, 13);
    // With very many degrees of freedom t tends to the standard normal: Φ(1) = 0.841344746.
    expect(studentTCdf(1, 1e6)).toBeCloseTo(0.8413446250832108, 9);
    expect(studentTCdf(0, 4)).toBeCloseTo(0.5, 14);
    expect(studentTTwoSided(2.228138851986, 10)).toBeCloseTo(0.05, 10);
    expect(studentTTwoSided(Number.POSITIVE_INFINITY, 3)).toBe(0);
    expect(() => studentTCdf(1, 0)).toThrow(RangeError);
  });
});

describe("Welch's t-test", () => {
  const cases = [
    {
      a: [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4],
      b: [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4],
      t: -2.455356398286006,
      df: 24.988529290231416,
      p: 0.021378001462866992,
    },
    {
      a: [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8],
      b: [
        21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5,
        23.5, 21.5, 21.8,
      ],
      t: -1.5654335235985037,
      df: 9.904741248650831,
      p: 0.14884169660532817,
    },
    {
      a: [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0],
      b: [
        28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3,
        20.4, 23.9, 13.3,
      ],
      t: -2.225512039969852,
      df: 24.524634944257343,
      p: 0.035484530830010394,
    },
  ];

  it.each(cases.map((c, i) => [i + 1, c] as const))('reproduces the reference example %i', (_i, c) => {
    const result = welchTest(summarize(c.a), summarize(c.b))!;
    expect(result.t).toBeCloseTo(c.t, 10);
    expect(result.df).toBeCloseTo(c.df, 8);
    expect(result.p).toBeCloseTo(c.p, 10);
    // Swapping the samples flips t and keeps p.
    const swapped = welchTest(summarize(c.b), summarize(c.a))!;
    expect(swapped.t).toBeCloseTo(-c.t, 10);
    expect(swapped.p).toBeCloseTo(c.p, 10);
  });

  it('summarises large offsets stably and handles degenerate samples', () => {
    const s = summarize([1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]);
    expect(s.mean).toBe(1e9 + 10);
    expect(s.variance).toBeCloseTo(30, 6);
    expect(welchTest(summarize([1]), summarize([1, 2, 3]))).toBeUndefined();
    expect(welchTest(summarize([2, 2]), summarize([2, 2, 2]))).toMatchObject({ t: 0, p: 1 });
    expect(welchTest(summarize([3, 3]), summarize([2, 2, 2]))).toMatchObject({ p: 0 });
  });
});

describe('comparison verdicts', () => {
  const side = (
    moduleId: string,
    values: number[],
    direction: 'increase' | 'decrease' | 'maintain' = 'increase',
  ) => ({
    moduleId,
    label: moduleId.toUpperCase(),
    direction,
    target: 20,
    sample: summarize(values),
  });
  const low = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
  const high = low.map((v) => v + 5);

  it('names the better module by the goal direction, with p and sample sizes', () => {
    const [up] = comparePairs([side('a', low), side('b', high)]);
    expect(up).toMatchObject({ significant: true, better: 'b' });
    expect(up!.verdict).toBe('B performs better than A (p < 0.001, n = 10 vs 10)');
    const [down] = comparePairs([side('a', low, 'decrease'), side('b', high, 'decrease')]);
    expect(down!.better).toBe('a');
    const [keep] = comparePairs([side('a', low, 'maintain'), side('b', high, 'maintain')]);
    expect(keep!.better).toBe('a');
  });

  it('says "no significant difference" above alpha, and Bonferroni-splits alpha across pairs', () => {
    const a = [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8];
    const b = [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7];
    const [pair] = comparePairs([side('a', a), side('b', b)]);
    expect(pair!.significant).toBe(false);
    expect(pair!.verdict).toMatch(/^no significant difference between A and B \(p = 0\.\d+, n = 10 vs 12\)$/);
    // p ≈ 0.035 is significant alone at 0.05 but not at 0.05 / 3 with a third module in the group.
    const c1 = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
    const c2 = [
      28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6,
    ];
    expect(comparePairs([side('a', c1), side('b', c2)])[0]!.significant).toBe(true);
    const three = comparePairs([side('a', c1), side('b', c2), side('c', [])]);
    expect(three).toHaveLength(3);
    expect(three[0]!.alpha).toBeCloseTo(0.05 / 3, 12);
    expect(three[0]!.significant).toBe(false);
    expect(three[1]!.verdict).toBe('not enough data to compare A and C (n = 10 vs 0; each needs at least 2)');
  });

  it('formats p for people', () => {
    expect(formatP(0.0003)).toBe('< 0.001');
    expect(formatP(0.003)).toBe('= 0.003');
    expect(formatP(0.02137)).toBe('= 0.021');
    expect(formatP(1)).toBe('= 1');
  });
});
