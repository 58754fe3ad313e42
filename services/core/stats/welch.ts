import { studentTTwoSided } from './student-t.js';

/** Count, mean and unbiased variance of a sample (Welford's algorithm, stable for large means). */
export interface SampleSummary {
  n: number;
  mean: number;
  /** Sample variance with n − 1 in the denominator; 0 when n < 2. */
  variance: number;
}

/** Summarises a sample in one pass. */
export function summarize(values: Iterable<number>): SampleSummary {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (const value of values) {
    n += 1;
    const delta = value - mean;
    mean += delta / n;
    m2 += delta * (value - mean);
  }
  return { n, mean: n === 0 ? Number.NaN : mean, variance: n < 2 ? 0 : m2 / (n - 1) };
}

/** The outcome of Welch's unequal-variances t-test of mean(a) − mean(b). */
export interface WelchResult {
  /** (mean a − mean b) / sqrt(var a / n a + var b / n b). ±Infinity when both variances are 0 and the means differ. */
  t: number;
  /** Welch–Satterthwaite degrees of freedom (fractional). */
  df: number;
  /** Two-sided p-value: the probability of a difference at least this large if the true means were equal. */
  p: number;
}

/**
 * Welch's t-test on two sample summaries; undefined when either sample has fewer than 2 values
 * (no variance estimate). With both variances 0: p = 1 for equal means, p = 0 otherwise.
 */
export function welchTest(a: SampleSummary, b: SampleSummary): WelchResult | undefined {
  if (a.n < 2 || b.n < 2) return undefined;
  const va = a.variance / a.n;
  const vb = b.variance / b.n;
  const se2 = va + vb;
  const diff = a.mean - b.mean;
  if (se2 === 0) {
    const df = a.n + b.n - 2;
    if (diff === 0) return { t: 0, df, p: 1 };
    return { t: diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY, df, p: 0 };
  }
  const t = diff / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  return { t, df, p: studentTTwoSided(t, df) };
}
