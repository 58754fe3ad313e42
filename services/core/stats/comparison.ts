import type { Direction } from '../../../schemas/registry.js';
import { type SampleSummary, type WelchResult, welchTest } from './welch.js';

/** Family-wise significance level; each of k pairwise tests of one metric uses alpha / k (Bonferroni). */
export const comparisonAlpha = 0.05;

/** One side of a comparison: a module's goal on the shared metric and its sample. */
export interface ComparisonSide {
  moduleId: string;
  label: string;
  direction: Direction;
  target: number;
  sample: SampleSummary;
}

export interface PairVerdict {
  a: string;
  b: string;
  welch: WelchResult | null;
  /** The alpha this pair was judged at (alpha / number of pairs). */
  alpha: number;
  significant: boolean;
  /** The module that performs better, when the difference is significant. */
  better: string | null;
  verdict: string;
}

/** p as people read it: "< 0.001" or two significant digits. */
export function formatP(p: number): string {
  if (p < 0.001) return '< 0.001';
  return `= ${Number(p.toPrecision(2))}`;
}

/**
 * Which side is better: a higher mean for an increase goal, lower for decrease, closer to its own
 * target for maintain. Returns 0 when neither is.
 */
function preference(a: ComparisonSide, b: ComparisonSide): number {
  if (a.direction === 'maintain')
    return Math.abs(b.sample.mean - b.target) - Math.abs(a.sample.mean - a.target);
  const sign = a.direction === 'increase' ? 1 : -1;
  return sign * (a.sample.mean - b.sample.mean);
}

/** Welch's t-test of every pair of sides, each judged at alpha / pairs, with a plain-language verdict. */
export function comparePairs(sides: readonly ComparisonSide[], alpha = comparisonAlpha): PairVerdict[] {
  const pairs: Array<[ComparisonSide, ComparisonSide]> = [];
  for (let i = 0; i < sides.length; i += 1)
    for (let j = i + 1; j < sides.length; j += 1) pairs.push([sides[i]!, sides[j]!]);
  const pairAlpha = pairs.length > 0 ? alpha / pairs.length : alpha;
  return pairs.map(([a, b]) => {
    const sizes = `n = ${a.sample.n} vs ${b.sample.n}`;
    const welch = welchTest(a.sample, b.sample) ?? null;
    if (!welch) {
      return {
        a: a.moduleId,
        b: b.moduleId,
        welch,
        alpha: pairAlpha,
        significant: false,
        better: null,
        verdict: `not enough data to compare ${a.label} and ${b.label} (${sizes}; each needs at least 2)`,
      };
    }
    const stats = `p ${formatP(welch.p)}, ${sizes}`;
    const lean = preference(a, b);
    if (welch.p >= pairAlpha || lean === 0) {
      return {
        a: a.moduleId,
        b: b.moduleId,
        welch,
        alpha: pairAlpha,
        significant: false,
        better: null,
        verdict: `no significant difference between ${a.label} and ${b.label} (${stats})`,
      };
    }
    const [winner, loser] = lean > 0 ? [a, b] : [b, a];
    return {
      a: a.moduleId,
      b: b.moduleId,
      welch,
      alpha: pairAlpha,
      significant: true,
      better: winner.moduleId,
      verdict: `${winner.label} performs better than ${loser.label} (${stats.replace(sizes, `n = ${winner.sample.n} vs ${loser.sample.n}`)})`,
    };
  });
}
