import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  maxBins,
  minIndexable,
  QuantileSketch,
  relativeAccuracy,
} from '../../services/core/performance/sketch.js';

/** The exact lower-nearest-rank quantile the sketch approximates. */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function withinError(estimate: number, exact: number): boolean {
  return Math.abs(estimate - exact) <= relativeAccuracy * (1 + 1e-9) * Math.abs(exact) + minIndexable;
}

const value = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true }),
  fc.constant(0),
);

describe('QuantileSketch', () => {
  it('answers every quantile within the documented relative error', () => {
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const sketch = new QuantileSketch();
          for (const v of values) sketch.add(v);
          expect(sketch.count).toBe(values.length);
          const estimate = sketch.quantile(q)!;
          expect(withinError(estimate, exactQuantile(values, q))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merges exactly as if built from the union', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 100 }), fc.array(value, { maxLength: 100 }), (a, b) => {
        const left = new QuantileSketch();
        const right = new QuantileSketch();
        const union = new QuantileSketch();
        for (const v of a) left.add(v);
        for (const v of b) right.add(v);
        for (const v of [...a, ...b]) union.add(v);
        expect(left.merge(right).toJson()).toEqual(union.toJson());
      }),
    );
  });

  it('round-trips through JSON and rejects malformed input', () => {
    const sketch = new QuantileSketch();
    for (const v of [-5, -0.5, 0, 1e-12, 3, 3, 700]) sketch.add(v);
    const copy = QuantileSketch.fromJson(JSON.parse(JSON.stringify(sketch.toJson())));
    expect(copy.toJson()).toEqual(sketch.toJson());
    expect(copy.count).toBe(7);
    expect(copy.quantile(0.5)).toBe(sketch.quantile(0.5));
    expect(() => QuantileSketch.fromJson({ z: -1, p: [], n: [] })).toThrow(TypeError);
    expect(() => QuantileSketch.fromJson({ z: 0, p: [1], n: [] })).toThrow(TypeError);
    expect(() => QuantileSketch.fromJson({ z: 0, p: [1, 0], n: [] })).toThrow(TypeError);
  });

  it('is null when empty and handles zeros and negatives', () => {
    const sketch = new QuantileSketch();
    expect(sketch.quantile(0.5)).toBeNull();
    for (const v of [0, 0, 0]) sketch.add(v);
    expect(sketch.quantile(0.95)).toBe(0);
    const negative = new QuantileSketch();
    for (const v of [-10, -20, -30]) negative.add(v);
    expect(withinError(negative.quantile(0)!, -30)).toBe(true);
    expect(withinError(negative.quantile(1)!, -10)).toBe(true);
  });

  it('keeps at most maxBins bins per sign', () => {
    const sketch = new QuantileSketch();
    let largest = 0;
    for (let i = -30_000; i <= 30_000; i += 1) {
      largest = 10 ** (i / 100);
      sketch.add(largest);
    }
    expect(sketch.bins).toBeLessThanOrEqual(maxBins + 1);
    // Collapsing affects only the smallest magnitudes: the upper quantiles keep their guarantee.
    expect(withinError(sketch.quantile(1)!, largest)).toBe(true);
  });
});
