import type { Aggregation } from '../../schemas/registry.js';
import { relativeAccuracy } from '../core/performance/index.js';
import type { BucketPair, WindowAggregates } from '../ports/ground-truth.js';

/**
 * The comparisons of the ground-truth check (DESIGN "Live numbers must agree with ground truth").
 * The numbers they compare against come from the store's own SQL (ports/ground-truth.ts); nothing
 * here computes a window or a bucket, so a bug in the engine's window code cannot hide in its check.
 */

export interface Difference {
  ruleId: string;
  /** Where: `bucket <ISO time>` or `window at <ISO time>`, and the field. */
  what: string;
  expected: number | string | null;
  actual: number | string | null;
}

/**
 * Sums and means agree within this fraction of the sum of |value| (summation order differs between
 * the engine and the store; the rounding error of a sum is bounded relative to Σ|v|, not to the sum).
 */
export const sumTolerance = 1e-9;

/**
 * Percentiles: the sketch's documented guarantee, relative to the exact lower-nearest-rank quantile
 * (index ⌊q·(n−1)⌋ of the n values sorted ascending), plus its absolute error near zero (values under
 * 1e-9 count as zero) and a few ulps for the bin representative's own rounding.
 */
export function quantileAgrees(exact: number, stored: number): boolean {
  return Math.abs(stored - exact) <= relativeAccuracy * Math.abs(exact) * (1 + 1e-12) + 1e-9;
}

function sumAgrees(expected: number, actual: number, scale: number): boolean {
  return Math.abs(expected - actual) <= sumTolerance * Math.abs(scale);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The quantile an aggregation reports, if it is a percentile. */
export function quantileOf(aggregation: Aggregation): number | undefined {
  if (aggregation === 'p50') return 0.5;
  if (aggregation === 'p95') return 0.95;
  return undefined;
}

/**
 * One bucket of a rule, stored rollup row against the raw events (late ones included): count, min,
 * max and last (value, observedAt, eventId) exactly, sum within `sumTolerance`. A bucket with raw
 * events but no row, or a row with no raw events, is a difference.
 */
export function bucketDifferences(ruleId: string, pair: BucketPair): Difference[] {
  const where = `bucket ${iso(pair.bucketMs)}`;
  const { raw, stored } = pair;
  if (!raw && !stored) return [];
  if (!stored)
    return [{ ruleId, what: `${where} count (no rollup row)`, expected: raw!.count, actual: null }];
  if (!raw) {
    return stored.count === 0
      ? []
      : [{ ruleId, what: `${where} count (no raw events)`, expected: 0, actual: stored.count }];
  }
  const out: Difference[] = [];
  const check = (field: string, expected: number | string, actual: number | string, ok: boolean) => {
    if (!ok) out.push({ ruleId, what: `${where} ${field}`, expected, actual });
  };
  check('count', raw.count, stored.count, raw.count === stored.count);
  check('sum', raw.sum, stored.sum, sumAgrees(raw.sum, stored.sum, raw.absSum));
  check('min', raw.min, stored.min, raw.min === stored.min);
  check('max', raw.max, stored.max, raw.max === stored.max);
  check('last', raw.lastValue, stored.lastValue, raw.lastValue === stored.lastValue);
  check('last observedAt', raw.lastMs, stored.lastMs, raw.lastMs === stored.lastMs);
  check('last eventId', raw.lastEventId, stored.lastEventId, raw.lastEventId === stored.lastEventId);
  return out;
}

/** What a window recompute gives for an aggregation: the value and the scale of its tolerance. */
export function windowValue(
  aggregation: Aggregation,
  truth: WindowAggregates,
  spanMs: number,
): { value: number | null; scale: number } {
  const seconds = spanMs / 1000;
  switch (aggregation) {
    case 'count':
      return { value: truth.count, scale: 0 };
    case 'sum':
      return { value: truth.sum, scale: truth.absSum };
    case 'rate':
      return { value: truth.sum / seconds, scale: truth.absSum / seconds };
    default:
      break;
  }
  if (truth.count === 0) return { value: null, scale: 0 };
  switch (aggregation) {
    case 'mean':
      return { value: truth.sum / truth.count, scale: truth.absSum / truth.count };
    case 'min':
      return { value: truth.min, scale: 0 };
    case 'max':
      return { value: truth.max, scale: 0 };
    case 'last':
      return { value: truth.lastValue, scale: 0 };
    case 'p50':
    case 'p95':
      return { value: truth.quantile, scale: 0 };
  }
}

/**
 * A goal's latest emitted update against its window recomputed over the raw events that were not
 * late: count exactly; count, min, max and last values exactly; sum, mean and rate within
 * `sumTolerance`; percentiles within the sketch's error (`quantileAgrees`).
 */
export function windowDifferences(
  rule: { id: string; aggregation: Aggregation },
  asOfMs: number,
  truth: WindowAggregates,
  spanMs: number,
  emitted: { value: number | null; count: number },
): Difference[] {
  const where = `window at ${iso(asOfMs)} [${iso(truth.fromMs)}, ${iso(truth.toMs)})`;
  const out: Difference[] = [];
  if (truth.count !== emitted.count) {
    out.push({ ruleId: rule.id, what: `${where} count`, expected: truth.count, actual: emitted.count });
  }
  const { value, scale } = windowValue(rule.aggregation, truth, spanMs);
  let ok: boolean;
  if (value === null || emitted.value === null) ok = value === emitted.value;
  else if (quantileOf(rule.aggregation) !== undefined) ok = quantileAgrees(value, emitted.value);
  else ok = scale === 0 ? value === emitted.value : sumAgrees(value, emitted.value, scale);
  if (!ok) {
    out.push({
      ruleId: rule.id,
      what: `${where} ${rule.aggregation}`,
      expected: value,
      actual: emitted.value,
    });
  }
  return out;
}

/** Keeps the first `limit` differences and counts them all, so a broken store never fills memory. */
export class DifferenceLog {
  readonly first: Difference[] = [];
  total = 0;

  constructor(readonly limit = 20) {}

  add(differences: readonly Difference[]): void {
    for (const d of differences) {
      this.total += 1;
      if (this.first.length < this.limit) this.first.push(d);
    }
  }
}
