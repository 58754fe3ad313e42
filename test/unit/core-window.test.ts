import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Aggregation } from '../../schemas/registry.js';
import { aggregateValue, isLater, needsSketch } from '../../services/core/performance/aggregate.js';
import { fromRollupRow, mergeRollupRows, toRollupRow } from '../../services/core/performance/rollup.js';
import { minIndexable, relativeAccuracy } from '../../services/core/performance/sketch.js';
import { BucketRing, windowGeometry, windowRange } from '../../services/core/performance/window.js';

const aggregations: Aggregation[] = ['mean', 'sum', 'count', 'min', 'max', 'p50', 'p95', 'last', 'rate'];

interface Ev {
  eventId: string;
  value: number;
  observedAt: number;
  late: boolean;
}

/** Brute force: the aggregation over the events that were not late and fall in the live range. */
function reference(
  aggregation: Aggregation,
  events: Ev[],
  fromMs: number,
  toMs: number,
  spanMs: number,
): number | null {
  const inside = events.filter((e) => !e.late && e.observedAt >= fromMs && e.observedAt < toMs);
  const values = inside.map((e) => e.value);
  const sum = values.reduce((a, b) => a + b, 0);
  if (aggregation === 'count') return inside.length;
  if (aggregation === 'sum') return sum;
  if (aggregation === 'rate') return sum / (spanMs / 1000);
  if (inside.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  switch (aggregation) {
    case 'mean':
      return sum / inside.length;
    case 'min':
      return sorted[0]!;
    case 'max':
      return sorted[sorted.length - 1]!;
    case 'p50':
      return sorted[Math.floor(0.5 * (sorted.length - 1))]!;
    case 'p95':
      return sorted[Math.floor(0.95 * (sorted.length - 1))]!;
    default: {
      let last = inside[0]!;
      for (const e of inside) if (isLater(e.observedAt, e.eventId, last.observedAt, last.eventId)) last = e;
      return last.value;
    }
  }
}

function agrees(
  aggregation: Aggregation,
  actual: number | null,
  expected: number | null,
  scale: number,
): boolean {
  if (expected === null || actual === null) return actual === expected;
  if (needsSketch(aggregation)) {
    return Math.abs(actual - expected) <= relativeAccuracy * (1 + 1e-9) * Math.abs(expected) + minIndexable;
  }
  if (aggregation === 'sum' || aggregation === 'mean' || aggregation === 'rate') {
    return Math.abs(actual - expected) <= 1e-9 * Math.max(scale, 1);
  }
  return actual === expected;
}

const stream = fc.array(
  fc.record({
    offset: fc.integer({ min: 0, max: 30_000 }),
    value: fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -1e4, max: 1e4, noNaN: true })),
    late: fc.boolean(),
    id: fc.integer({ min: 0, max: 20 }),
  }),
  { maxLength: 200 },
);

describe('windowGeometry', () => {
  it('cuts common windows into aligned buckets', () => {
    expect(windowGeometry(10_000)).toMatchObject({ widthMs: 125, buckets: 80, shortBuckets: 7 });
    expect(windowGeometry(300_000)).toMatchObject({ widthMs: 5_000, buckets: 60, shortBuckets: 5 });
    expect(windowGeometry(3_600_000)).toMatchObject({ widthMs: 60_000, buckets: 60 });
    expect(windowGeometry(7 * 86_400_000)).toMatchObject({ widthMs: 10_080_000, buckets: 60 });
    expect(windowGeometry(30)).toMatchObject({ widthMs: 1, buckets: 30, shortBuckets: 3 });
  });

  it('covers the window with at most one extra bucket', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 366 * 86_400_000 }), (windowMs) => {
        const g = windowGeometry(windowMs);
        expect(Number.isInteger(g.widthMs) && g.widthMs >= 1).toBe(true);
        expect(g.buckets * g.widthMs).toBeGreaterThanOrEqual(windowMs);
        expect(g.buckets * g.widthMs - windowMs).toBeLessThan(g.widthMs);
        expect(g.buckets).toBeLessThanOrEqual(121);
      }),
    );
  });
});

describe('BucketRing', () => {
  it('matches a brute-force recompute of every aggregation over the live range', () => {
    fc.assert(
      fc.property(
        stream,
        fc.constantFrom(...aggregations),
        fc.integer({ min: 0, max: 20_000 }),
        fc.constantFrom(10_000, 3_000, 7_001),
        (raw, aggregation, after, windowMs) => {
          const geometry = windowGeometry(windowMs);
          const ring = new BucketRing(geometry, needsSketch(aggregation));
          const base = 1_700_000_000_000;
          const events: Ev[] = raw.map((r, i) => ({
            eventId: `e${r.id}-${i % 3}`,
            value: r.value,
            observedAt: base + r.offset,
            late: r.late,
          }));
          for (const e of events) ring.add(e, e.late);
          const newest = Math.max(base, ...events.filter((e) => !e.late).map((e) => e.observedAt));
          const asOf = newest + after;
          ring.advance(asOf);
          const span = geometry.buckets * geometry.widthMs;
          const { fromMs, toMs } = windowRange(asOf, geometry.widthMs, geometry.buckets);
          const scale = events.reduce((a, e) => a + Math.abs(e.value), 0);
          const expected = reference(aggregation, events, fromMs, toMs, span);
          const actual = aggregateValue(aggregation, ring.window(asOf), span);
          expect(agrees(aggregation, actual, expected, scale)).toBe(true);

          const short = windowRange(asOf, geometry.widthMs, geometry.shortBuckets);
          const shortSpan = geometry.shortBuckets * geometry.widthMs;
          const shortExpected = reference(aggregation, events, short.fromMs, short.toMs, shortSpan);
          const shortActual = aggregateValue(
            aggregation,
            ring.window(asOf, geometry.shortBuckets),
            shortSpan,
          );
          expect(agrees(aggregation, shortActual, shortExpected, scale)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reports changed buckets with late events in the stored summary only, and restores them', () => {
    const geometry = windowGeometry(60_000);
    const ring = new BucketRing(geometry, true);
    const t = 1_000_000;
    ring.add({ eventId: 'a', value: 5, observedAt: t }, false);
    ring.add({ eventId: 'b', value: 100, observedAt: t + 10 }, true);
    ring.add({ eventId: 'c', value: 7, observedAt: t + 20 }, false);
    expect(ring.window(t + 20).count).toBe(2);
    const [bucket, ...rest] = ring.takeDirty();
    expect(rest).toEqual([]);
    expect(bucket!.stored).toMatchObject({ count: 3, sum: 112, min: 5, max: 100, lastEventId: 'c' });
    expect(bucket!.live).toMatchObject({ count: 2, sum: 12, max: 7 });
    expect(ring.takeDirty()).toEqual([]);

    const key = { moduleId: 'm', ruleId: 'g', metric: 'x', widthMs: geometry.widthMs, moduleVersion: 1 };
    const row = toRollupRow(key, bucket!.bucketMs, bucket!.stored, bucket!.live, 5);
    expect(row).toMatchObject({ count: 3, sum: 112, min: 5, max: 100, last_value: 7, last_ms: t + 20 });
    const back = fromRollupRow(JSON.parse(JSON.stringify(row)), true);
    const restored = new BucketRing(geometry, true);
    restored.restore(row.bucket_ms, back.stored, back.live);
    expect(aggregateValue('sum', restored.window(t + 20), 60_000)).toBe(12);
    expect(aggregateValue('max', restored.window(t + 20), 60_000)).toBe(7);
    // Lower nearest rank: p95 of [5, 7] is the value at index ⌊0.95 × 1⌋ = 0.
    expect(aggregateValue('p95', restored.window(t + 20), 60_000)).toBeCloseTo(5, 1);
  });

  it('keeps a reused slot’s pending change and sends older buckets outside', () => {
    const geometry = windowGeometry(60_000);
    const ring = new BucketRing(geometry, false);
    ring.add({ eventId: 'a', value: 1, observedAt: 0 }, false);
    ring.add({ eventId: 'b', value: 2, observedAt: 60_000 }, false);
    expect(ring.add({ eventId: 'c', value: 3, observedAt: 500 }, true)).toBe('outside');
    expect(ring.takeDirty().map((b) => [b.bucketMs, b.stored.count])).toEqual([
      [0, 1],
      [60_000, 1],
    ]);
  });

  it('merges partial rows into stored rows', () => {
    const key = { moduleId: 'm', ruleId: 'g', metric: 'x', widthMs: 1000, moduleVersion: 2 };
    const a = { count: 2, sum: 3, min: 1, max: 2, lastValue: 2, lastMs: 10, lastEventId: 'b' };
    const b = { count: 1, sum: -4, min: -4, max: -4, lastValue: -4, lastMs: 10, lastEventId: 'c' };
    const merged = mergeRollupRows(
      toRollupRow(key, 0, a, undefined, 1),
      toRollupRow(key, 0, b, undefined, 2),
    );
    expect(merged).toMatchObject({
      count: 3,
      sum: -1,
      min: -4,
      max: 2,
      last_value: -4,
      last_event_id: 'c',
      updated_ms: 2,
    });
    expect(mergeRollupRows(undefined, merged)).toBe(merged);
  });
});
