import type {
  BucketAggregates,
  BucketPair,
  RecomputedAggregates,
  WindowAggregates,
} from '../../ports/ground-truth.js';

/**
 * One row of a dialect's bucket join (columns `bucket_ms`, `raw_*` and `stored_*`) as a BucketPair;
 * each dialect says whether the raw and the stored side are present (ClickHouse has no NULL there).
 */
export function bucketPairOf(
  row: Record<string, unknown>,
  present: { raw: boolean; stored: boolean },
): BucketPair {
  const raw: RecomputedAggregates | null = present.raw
    ? {
        count: Number(row.raw_count),
        sum: Number(row.raw_sum),
        absSum: Number(row.raw_abs_sum),
        min: Number(row.raw_min),
        max: Number(row.raw_max),
        lastValue: Number(row.raw_last_value),
        lastMs: Number(row.raw_last_ms),
        lastEventId: String(row.raw_last_event_id),
      }
    : null;
  const stored: BucketAggregates | null = present.stored
    ? {
        count: Number(row.stored_count),
        sum: Number(row.stored_sum),
        min: Number(row.stored_min),
        max: Number(row.stored_max),
        lastValue: Number(row.stored_last_value),
        lastMs: Number(row.stored_last_ms),
        lastEventId: String(row.stored_last_event_id),
      }
    : null;
  return { bucketMs: Number(row.bucket_ms), raw, stored };
}

/** A dialect's window row (`from_ms`, `to_ms`, `count`, `sum`, ...) as WindowAggregates. */
export function windowAggregatesOf(row: Record<string, unknown>, quantile: number | null): WindowAggregates {
  const count = Number(row.count);
  const some = (v: unknown) => (count > 0 && v !== null && v !== undefined ? Number(v) : null);
  return {
    fromMs: Number(row.from_ms),
    toMs: Number(row.to_ms),
    count,
    sum: Number(row.sum),
    absSum: Number(row.abs_sum),
    min: some(row.min),
    max: some(row.max),
    lastValue: some(row.last_value),
    quantile,
  };
}
