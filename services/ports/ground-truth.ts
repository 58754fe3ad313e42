/**
 * The ground truth (DESIGN "Live numbers must agree with ground truth"): rollups and live windows
 * recomputed by the store itself, in SQL over the stored raw events as corrected (no retraction, no
 * version a stored correction replaced: `metric_events.supersedes`), sharing no code with the engine.
 * Results stream through a callback or come back as one row per window, so a bucket of millions of
 * events is checked in bounded memory: the store aggregates, the caller compares.
 *
 * Bucket geometry follows the documented rule (README "Operating", services/core/performance/window.ts): a window of W ms is n
 * buckets of w ms aligned to epoch multiples of w, with n the first of 60..120 dividing W
 * (w = W/n); windows under 60 ms use 1 ms buckets (n = max(1, W)); otherwise w = ⌊W/60⌋ and
 * n = ⌈W/w⌉. The live window at T is [⌊T/w⌋·w − (n−1)·w, ⌊T/w⌋·w + w). Each store computes this
 * in its own SQL.
 */

/** How a window of `windowMs` is cut into buckets. */
export interface BucketGeometry {
  widthMs: number;
  buckets: number;
}

/** A bucket's plain aggregates (a rollup row's, or recomputed from raw events). */
export interface BucketAggregates {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** The value with the greatest observedAt; ties: the greatest eventId. */
  lastValue: number;
  lastMs: number;
  lastEventId: string;
}

/** Aggregates recomputed from raw events, with the sum of |value| that scales the sum's tolerance. */
export interface RecomputedAggregates extends BucketAggregates {
  absSum: number;
}

/** One bucket of one rule: what the raw events give (null: none) and what is stored (null: no row). */
export interface BucketPair {
  bucketMs: number;
  raw: RecomputedAggregates | null;
  stored: BucketAggregates | null;
}

/** Which stored rollups to pair with which raw events. */
export interface RuleBuckets {
  moduleId: string;
  ruleId: string;
  metric: string;
  widthMs: number;
}

/** A live window to recompute: raw events that were not late, of one metric, in the window holding `asOfMs`. */
export interface WindowQuery {
  moduleId: string;
  metric: string;
  geometry: BucketGeometry;
  asOfMs: number;
  /** Also find the exact lower-nearest-rank q-quantile: the value at index ⌊q·(count−1)⌋ sorted ascending. */
  quantile?: number;
}

/** A recomputed window. min, max, last and quantile are null over an empty window. */
export interface WindowAggregates {
  fromMs: number;
  toMs: number;
  count: number;
  sum: number;
  absSum: number;
  min: number | null;
  max: number | null;
  lastValue: number | null;
  quantile: number | null;
}

/** SQL recomputes a store offers (ClickHouse and DuckDB implement it in their own dialect). */
export interface GroundTruth {
  /** The bucket geometry of a window, computed by the store's SQL from the documented rule. */
  bucketGeometry(windowMs: number): Promise<BucketGeometry>;
  /** Number of stored raw events of a module (after dedup). */
  eventCount(moduleId: string): Promise<number>;
  /**
   * Pairs every stored rollup bucket of a rule with the same bucket recomputed from all raw events of
   * its metric (late ones included), in bucket order, one `visit` per bucket present on either side.
   * Rows stream: memory does not grow with the number of buckets or events.
   */
  forEachBucket(rule: RuleBuckets, visit: (pair: BucketPair) => void): Promise<void>;
  /** A live window recomputed over the raw events that were not late. */
  window(query: WindowQuery): Promise<WindowAggregates>;
}

/** A store that can recompute its own numbers. */
export interface GroundTruthSource {
  groundTruth(): GroundTruth;
}

/** The store's ground truth, or an error naming the store when it has none. */
export function groundTruthOf(store: object): GroundTruth {
  const source = store as Partial<GroundTruthSource>;
  if (typeof source.groundTruth !== 'function') {
    const name = (store as { name?: unknown }).name;
    throw new Error(`store ${String(name ?? 'unknown')} cannot recompute rollups in SQL`);
  }
  return source.groundTruth();
}
