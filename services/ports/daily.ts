/**
 * Daily aggregates of raw events, computed by the store in SQL (never by paging raw events into
 * JavaScript): one row per UTC day, or per UTC day and value of one dimension, for breakdowns and
 * the daily rollups of a data package.
 */

/** Milliseconds in a UTC day. */
export const dayMs = 86_400_000;

export interface DailyQuery {
  moduleId: string;
  metric: string;
  /** Start of the first day, epoch ms (a multiple of `dayMs`). */
  fromMs: number;
  /** End of the last day, exclusive (a multiple of `dayMs`). */
  toMs: number;
  /** Group each day also by this dimension's value (`''` for events without it). A dimension name. */
  dimension?: string;
  /** Also the exact lower-nearest-rank q-quantile per group: the value at index ⌊q·(count−1)⌋ sorted. */
  quantile?: number;
}

/** One group's aggregates over the stored raw events (after dedup, late ones included). */
export interface DailyAggregate {
  dayMs: number;
  /** The dimension's value; `''` for events without it, and for every row when no dimension was asked. */
  value: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  /** The value with the greatest observedAt (ties: the greatest eventId). */
  lastValue: number;
  /** Null unless a quantile was asked. */
  quantile: number | null;
}

/** Rows one daily query may return; more is refused (narrow the range). */
export const maxDailyRows = 100_000;
