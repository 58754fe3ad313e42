/**
 * A mergeable quantile sketch in the style of DDSketch (Masson, Rim, Lee, VLDB 2019).
 *
 * Guarantee: for any quantile q, `quantile(q)` returns a value within relative error `relativeAccuracy`
 * (α = 1%) of the exact lower-nearest-rank quantile: the value at index ⌊q·(n−1)⌋ of the n values sorted
 * ascending. Values with |x| < `minIndexable` (1e-9) are counted as zero, so the error there is absolute
 * (at most 1e-9). Zero and negative values are supported (a mirrored store for negatives).
 *
 * How: a value x > 0 falls in bin i = ⌈log_γ x⌉ with γ = (1+α)/(1−α); the bin is represented by
 * 2γ^i/(γ+1), which is within α of every value in (γ^(i−1), γ^i]. Two sketches merge by adding bin counts,
 * so per-bucket sketches merge into a window sketch exactly as if built from the union.
 *
 * Memory: one Map entry (~40 bytes) per non-empty bin; about 115 bins per decade of magnitude. Each sign's
 * store is capped at `maxBins` (2048 bins ≈ 17 decades); beyond that the smallest magnitudes are
 * collapsed into one bin and lose their guarantee (never reached by real-world metrics).
 */
export const relativeAccuracy = 0.01;
export const minIndexable = 1e-9;
export const maxBins = 2048;

const gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
const logGamma = Math.log(gamma);

/** The serialized form: zero count and flat [index, count, index, count, ...] lists per sign. */
export interface SketchJson {
  z: number;
  p: number[];
  n: number[];
}

/** A DDSketch-style quantile sketch with 1% relative accuracy. */
export class QuantileSketch {
  private readonly positive = new Map<number, number>();
  private readonly negative = new Map<number, number>();
  private zeros = 0;
  private total = 0;

  /** Number of values added. */
  get count(): number {
    return this.total;
  }

  /** Adds one value (finite). */
  add(value: number, times = 1): void {
    this.total += times;
    if (Math.abs(value) < minIndexable) {
      this.zeros += times;
      return;
    }
    const store = value > 0 ? this.positive : this.negative;
    const index = Math.ceil(Math.log(Math.abs(value)) / logGamma);
    store.set(index, (store.get(index) ?? 0) + times);
    if (store.size > maxBins) collapseLowest(store);
  }

  /**
   * Takes back one value added before (a correction removes an event): the sketch is then the one built
   * without it, unless its bin was collapsed (beyond `maxBins`). Returns false, changing nothing, when
   * no such value is held.
   */
  remove(value: number): boolean {
    if (Math.abs(value) < minIndexable) {
      if (this.zeros === 0) return false;
      this.zeros -= 1;
      this.total -= 1;
      return true;
    }
    const store = value > 0 ? this.positive : this.negative;
    const index = Math.ceil(Math.log(Math.abs(value)) / logGamma);
    const held = store.get(index) ?? 0;
    if (held === 0) return false;
    if (held === 1) store.delete(index);
    else store.set(index, held - 1);
    this.total -= 1;
    return true;
  }

  /** Adds every value of another sketch to this one. */
  merge(other: QuantileSketch): this {
    this.total += other.total;
    this.zeros += other.zeros;
    for (const [index, count] of other.positive)
      this.positive.set(index, (this.positive.get(index) ?? 0) + count);
    for (const [index, count] of other.negative)
      this.negative.set(index, (this.negative.get(index) ?? 0) + count);
    if (this.positive.size > maxBins) collapseLowest(this.positive);
    if (this.negative.size > maxBins) collapseLowest(this.negative);
    return this;
  }

  /** The q-quantile (0 ≤ q ≤ 1) within the documented relative error; null when empty. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.floor(q * (this.total - 1));
    let seen = 0;
    // Ascending value order: most negative first (largest negative index), then zeros, then positives.
    const negatives = [...this.negative.keys()].sort((a, b) => b - a);
    for (const index of negatives) {
      seen += this.negative.get(index)!;
      if (seen > rank) return -binValue(index);
    }
    seen += this.zeros;
    if (seen > rank) return 0;
    const positives = [...this.positive.keys()].sort((a, b) => a - b);
    for (const index of positives) {
      seen += this.positive.get(index)!;
      if (seen > rank) return binValue(index);
    }
    return binValue(positives[positives.length - 1]!);
  }

  /** Number of non-empty bins (for memory accounting). */
  get bins(): number {
    return this.positive.size + this.negative.size + (this.zeros > 0 ? 1 : 0);
  }

  /** A copy. */
  clone(): QuantileSketch {
    return new QuantileSketch().merge(this);
  }

  /** A compact JSON-able form; `fromJson` reverses it. */
  toJson(): SketchJson {
    return { z: this.zeros, p: flatten(this.positive), n: flatten(this.negative) };
  }

  /** Rebuilds a sketch from `toJson` output; throws on a malformed value. */
  static fromJson(json: SketchJson): QuantileSketch {
    const sketch = new QuantileSketch();
    if (!Number.isSafeInteger(json.z) || json.z < 0) throw new TypeError('sketch: bad zero count');
    sketch.zeros = json.z;
    sketch.total = json.z;
    for (const [list, store] of [
      [json.p, sketch.positive],
      [json.n, sketch.negative],
    ] as const) {
      if (!Array.isArray(list) || list.length % 2 !== 0) throw new TypeError('sketch: bad bin list');
      for (let i = 0; i < list.length; i += 2) {
        const index = list[i]!;
        const count = list[i + 1]!;
        if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count <= 0) {
          throw new TypeError('sketch: bad bin');
        }
        store.set(index, (store.get(index) ?? 0) + count);
        sketch.total += count;
      }
    }
    return sketch;
  }
}

function binValue(index: number): number {
  return (2 * gamma ** index) / (gamma + 1);
}

function flatten(store: Map<number, number>): number[] {
  const out: number[] = [];
  for (const index of [...store.keys()].sort((a, b) => a - b)) out.push(index, store.get(index)!);
  return out;
}

function collapseLowest(store: Map<number, number>): void {
  const indexes = [...store.keys()].sort((a, b) => a - b);
  while (indexes.length > maxBins) {
    const lowest = indexes.shift()!;
    const next = indexes[0]!;
    store.set(next, store.get(next)! + store.get(lowest)!);
    store.delete(lowest);
  }
}
