import { summaryOf } from '../performance/aggregate.js';
import { type RollupRow, toRollupRow } from '../performance/rollup.js';

/**
 * Vintages: what a goal's history said at an earlier time, when corrections have restated it since.
 *
 * A stored rollup bucket is the corrected present. A bucket a correction touched (the replaced
 * version's bucket, and the correction's own) is recomputed from its raw events as they stood at
 * time T: received by T, without the versions that corrections received by T replaced, without
 * retractions. Corrections are rare, so only those buckets are read; every other bucket is the same
 * in every vintage.
 */

/** A stored raw event, as the vintage computation reads it. */
export interface StoredEvent {
  agencyId: string;
  eventId: string;
  value: number;
  observedMs: number;
  receivedMs: number;
  /** The version this correction replaced ('' for a plain event). */
  supersedes: string;
  retract: boolean;
}

/** The events of `events` counted at `asOf`, given every correction of the module (`corrections`). */
export function countedAsOf(
  events: readonly StoredEvent[],
  corrections: readonly StoredEvent[],
  asOf: number,
): StoredEvent[] {
  const replaced = new Set(
    corrections.filter((c) => c.receivedMs <= asOf).map((c) => `${c.agencyId} ${c.supersedes}`),
  );
  return events.filter(
    (e) => e.receivedMs <= asOf && !e.retract && !replaced.has(`${e.agencyId} ${e.eventId}`),
  );
}

/** Start of the bucket of width `widthMs` holding `t`. */
function bucketOf(t: number, widthMs: number): number {
  return Math.floor(t / widthMs) * widthMs;
}

/**
 * The buckets (start ms) of width `widthMs` that each correction changed, with the time of the first
 * correction that changed each: the bucket of the version it replaced, and its own (not a retraction's).
 */
export function revisedBuckets(
  corrections: readonly StoredEvent[],
  replacedOf: (c: StoredEvent) => StoredEvent | undefined,
  widthMs: number,
): Map<number, number> {
  const first = new Map<number, number>();
  const note = (bucketMs: number, at: number) =>
    first.set(bucketMs, Math.min(first.get(bucketMs) ?? Number.POSITIVE_INFINITY, at));
  for (const c of corrections) {
    const old = replacedOf(c);
    if (old) note(bucketOf(old.observedMs, widthMs), c.receivedMs);
    if (!c.retract) note(bucketOf(c.observedMs, widthMs), c.receivedMs);
  }
  return first;
}

/**
 * The rollup rows of a goal as they stood at `asOf`: `rows` (the corrected present) with each bucket
 * of `recompute` replaced by a row over `events` (every stored event of those buckets) as counted then.
 */
export function rowsAsOf(
  rows: readonly RollupRow[],
  recompute: ReadonlySet<number>,
  events: readonly StoredEvent[],
  corrections: readonly StoredEvent[],
  asOf: number,
  rule: { moduleId: string; ruleId: string; metric: string; widthMs: number; withSketch: boolean },
): RollupRow[] {
  const out = rows.filter((r) => r.width_ms !== rule.widthMs || !recompute.has(r.bucket_ms));
  const counted = countedAsOf(events, corrections, asOf);
  const key = { ...rule, moduleVersion: 0 };
  for (const bucketMs of recompute) {
    const inBucket = counted
      .filter((e) => bucketOf(e.observedMs, rule.widthMs) === bucketMs)
      .map((e) => ({ eventId: e.eventId, value: e.value, observedAt: e.observedMs }));
    if (inBucket.length === 0) continue;
    out.push(toRollupRow(key, bucketMs, summaryOf(inBucket, rule.withSketch), undefined, asOf));
  }
  return out;
}
