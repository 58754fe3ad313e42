import type { Aggregation } from '../../../schemas/registry.js';
import { QuantileSketch } from './sketch.js';

/**
 * The mergeable summary of a set of events: what a bucket, a window or a stored rollup row holds.
 * `last*` is the event with the greatest observedAt (ties: the greatest eventId, compared as strings).
 */
export interface Summary {
  count: number;
  sum: number;
  min: number;
  max: number;
  lastValue: number;
  lastMs: number;
  lastEventId: string;
  /** Present only where percentiles are needed. */
  sketch?: QuantileSketch;
}

/** One observation as the windows see it. */
export interface Observation {
  eventId: string;
  value: number;
  observedAt: number;
}

/** An empty summary; `withSketch` adds an empty quantile sketch. */
export function emptySummary(withSketch: boolean): Summary {
  const summary: Summary = {
    count: 0,
    sum: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
    lastValue: 0,
    lastMs: Number.NEGATIVE_INFINITY,
    lastEventId: '',
  };
  if (withSketch) summary.sketch = new QuantileSketch();
  return summary;
}

/** True when (ms, id) comes after (lastMs, lastId) in the `last` order. */
export function isLater(ms: number, id: string, lastMs: number, lastId: string): boolean {
  return ms > lastMs || (ms === lastMs && id > lastId);
}

/** Adds one observation to a summary in place. */
export function addObservation(summary: Summary, event: Observation): void {
  summary.count += 1;
  summary.sum += event.value;
  if (event.value < summary.min) summary.min = event.value;
  if (event.value > summary.max) summary.max = event.value;
  if (isLater(event.observedAt, event.eventId, summary.lastMs, summary.lastEventId)) {
    summary.lastValue = event.value;
    summary.lastMs = event.observedAt;
    summary.lastEventId = event.eventId;
  }
  summary.sketch?.add(event.value);
}

/**
 * Takes one counted observation back out of a summary in place, when that gives exactly the summary of
 * the remaining events: always for count, sum and the sketch, for min, max and last only when the
 * observation was not the one holding them. Returns false, changing nothing, when it cannot (the
 * caller then recomputes the summary from the remaining events).
 */
export function removeObservation(summary: Summary, event: Observation): boolean {
  if (summary.count <= 0) return false;
  if (summary.count === 1) {
    const empty = emptySummary(summary.sketch !== undefined);
    Object.assign(summary, empty);
    return true;
  }
  const holdsLast = event.observedAt === summary.lastMs && event.eventId === summary.lastEventId;
  if (event.value <= summary.min || event.value >= summary.max || holdsLast) return false;
  if (summary.sketch && !summary.sketch.remove(event.value)) return false;
  summary.count -= 1;
  summary.sum -= event.value;
  return true;
}

/** A summary of the given observations. */
export function summaryOf(events: Iterable<Observation>, withSketch: boolean): Summary {
  const summary = emptySummary(withSketch);
  for (const event of events) addObservation(summary, event);
  return summary;
}

/** Merges `other` into `into` in place (sketches too, when `into` has one). */
export function mergeSummary(into: Summary, other: Summary): void {
  if (other.count === 0) return;
  into.count += other.count;
  into.sum += other.sum;
  if (other.min < into.min) into.min = other.min;
  if (other.max > into.max) into.max = other.max;
  if (isLater(other.lastMs, other.lastEventId, into.lastMs, into.lastEventId)) {
    into.lastValue = other.lastValue;
    into.lastMs = other.lastMs;
    into.lastEventId = other.lastEventId;
  }
  if (into.sketch && other.sketch) into.sketch.merge(other.sketch);
}

/** A deep copy. */
export function cloneSummary(summary: Summary): Summary {
  const copy = { ...summary };
  if (summary.sketch) copy.sketch = summary.sketch.clone();
  else delete copy.sketch;
  return copy;
}

/** True for aggregations computed from the quantile sketch. */
export function needsSketch(aggregation: Aggregation): boolean {
  return aggregation === 'p50' || aggregation === 'p95';
}

/**
 * The aggregated value of a window summary. `spanMs` is the window's length (for `rate` = sum per
 * second). count, sum and rate are 0 over an empty window; the others are null.
 * Percentiles are clamped to [min, max], which makes p0/p100 exact and never widens the error.
 */
export function aggregateValue(aggregation: Aggregation, summary: Summary, spanMs: number): number | null {
  switch (aggregation) {
    case 'count':
      return summary.count;
    case 'sum':
      return summary.sum;
    case 'rate':
      return summary.sum / (spanMs / 1000);
    default:
      break;
  }
  if (summary.count === 0) return null;
  switch (aggregation) {
    case 'mean':
      return summary.sum / summary.count;
    case 'min':
      return summary.min;
    case 'max':
      return summary.max;
    case 'last':
      return summary.lastValue;
    case 'p50':
    case 'p95': {
      const q = summary.sketch?.quantile(aggregation === 'p50' ? 0.5 : 0.95) ?? null;
      return q === null ? null : Math.min(summary.max, Math.max(summary.min, q));
    }
  }
}
