import {
  addObservation,
  cloneSummary,
  emptySummary,
  isLater,
  type Observation,
  removeObservation,
  type Summary,
} from './aggregate.js';
import { QuantileSketch } from './sketch.js';

/**
 * How a rule's window is cut into buckets.
 *
 * A window of W ms is `buckets` (n) buckets of `widthMs` (w) each, aligned to epoch multiples of w:
 * n is the first value in 60..120 that divides W exactly (W = n·w, the usual case: 10s → 80 × 125ms,
 * 5m → 60 × 5s, 1h → 60 × 1m, 24h → 60 × 24m, 7d → 60 × 168m); windows under 60 ms use 1 ms buckets;
 * otherwise w = ⌊W/60⌋ and n = ⌈W/w⌉, so the live span n·w is at most one bucket longer than W.
 *
 * The live window at evaluation time T is the half-open range of observedAt
 *     [ ⌊T/w⌋·w − (n−1)·w ,  ⌊T/w⌋·w + w )
 * i.e. the n buckets ending with the one containing T. The short window (severity) is the same with
 * `shortBuckets` = max(1, round(n/12)) buckets. A SQL recompute over that range, of the stored raw
 * events with `late = false`, gives exactly the live numbers.
 */
export interface WindowGeometry {
  windowMs: number;
  widthMs: number;
  buckets: number;
  shortBuckets: number;
}

/** Cuts a window length into aligned buckets (see WindowGeometry). */
export function windowGeometry(windowMs: number): WindowGeometry {
  let widthMs: number;
  let buckets: number;
  if (windowMs < 60) {
    widthMs = 1;
    buckets = Math.max(1, windowMs);
  } else {
    buckets = 0;
    widthMs = 0;
    for (let n = 60; n <= 120; n += 1) {
      if (windowMs % n === 0) {
        buckets = n;
        widthMs = windowMs / n;
        break;
      }
    }
    if (buckets === 0) {
      widthMs = Math.floor(windowMs / 60);
      buckets = Math.ceil(windowMs / widthMs);
    }
  }
  return { windowMs, widthMs, buckets, shortBuckets: Math.max(1, Math.round(buckets / 12)) };
}

/** The half-open observedAt range [fromMs, toMs) of the last `buckets` buckets ending at the one holding `asOf`. */
export function windowRange(
  asOf: number,
  widthMs: number,
  buckets: number,
): { fromMs: number; toMs: number } {
  const end = Math.floor(asOf / widthMs) * widthMs;
  return { fromMs: end - (buckets - 1) * widthMs, toMs: end + widthMs };
}

/** A bucket whose stored state changed: `stored` includes late events, `live` (when different) does not. */
export interface DirtyBucket {
  bucketMs: number;
  stored: Summary;
  live?: Summary;
}

/** Where an added observation went. `outside`: its bucket is older than the ring; the caller merges it into storage. */
export type Placement = 'live' | 'stored' | 'outside';

// Float64 fields per slot, laid out field-major in one array: start, count, sum, min, max, lastValue, lastMs.
const START = 0;
const COUNT = 1;
const SUM = 2;
const MIN = 3;
const MAX = 4;
const LAST_VALUE = 5;
const LAST_MS = 6;
const FIELDS = 7;

/**
 * A ring of n buckets holding one rule's live window in fixed memory.
 *
 * Each slot keeps the live summary (events that were not late) in a shared Float64Array plus the
 * last event id; percentile rules add one quantile sketch per slot. A slot that also received late
 * events keeps a second, full `stored` summary (late ones included), which is what storage holds.
 * Memory: 57 bytes per slot + the last event id string (+ the sketch, ~40 bytes per bin, for p50/p95),
 * so a 60-bucket window costs about 3.4 KB plus ids; late-event slots cost one extra summary each.
 * The ring also holds the buckets of the module's maxFuture ahead of the window's end (events observed
 * ahead of the clock wait there for their time): one more slot for a 1h window, 60 more for a 1m one.
 */
export class BucketRing {
  private readonly data: Float64Array;
  private readonly lastIds: string[];
  private readonly sketches: Array<QuantileSketch | undefined> | undefined;
  private readonly dirty: Uint8Array;
  private readonly stored = new Map<number, Summary>();
  private readonly evicted = new Map<number, DirtyBucket>();
  /** False when no slot is dirty and nothing was evicted dirty: `takeDirty` has nothing to scan. */
  private anyDirty = false;
  private headMs = Number.NEGATIVE_INFINITY;

  /** Slots held: the window's buckets plus `aheadBuckets` for events observed ahead of the window's end. */
  private readonly n: number;

  constructor(
    readonly geometry: WindowGeometry,
    readonly withSketch: boolean,
    aheadBuckets = 0,
  ) {
    const n = geometry.buckets + aheadBuckets;
    this.n = n;
    this.data = new Float64Array(FIELDS * n);
    this.data.fill(Number.NaN, 0, n);
    this.lastIds = new Array<string>(n).fill('');
    this.sketches = withSketch ? new Array<QuantileSketch | undefined>(n).fill(undefined) : undefined;
    this.dirty = new Uint8Array(n);
  }

  /** Start of the newest bucket the ring covers. */
  get head(): number {
    return this.headMs;
  }

  /** Moves the ring forward so it ends with the bucket holding `t` (never backwards). */
  advance(t: number): void {
    const start = this.bucketOf(t);
    if (start > this.headMs) this.headMs = start;
  }

  /** Start of the bucket holding `t`. */
  bucketOf(t: number): number {
    const w = this.geometry.widthMs;
    return Math.floor(t / w) * w;
  }

  /**
   * Adds an observation. A live one (not late) advances the ring and counts in the live window; a late
   * one only changes the bucket's stored summary. Buckets older than the ring are not held: `outside`.
   */
  add(event: Observation, late: boolean): Placement {
    if (!late) this.advance(event.observedAt);
    const bucketMs = this.bucketOf(event.observedAt);
    if (bucketMs < this.oldest() || bucketMs > this.headMs) return 'outside';
    const slot = this.slotFor(bucketMs);
    this.dirty[slot] = 1;
    this.anyDirty = true;
    const stored = this.stored.get(slot);
    if (late) {
      const full = stored ?? this.liveSummary(slot, true);
      addObservation(full, event);
      this.stored.set(slot, full);
      return 'stored';
    }
    this.addLive(slot, event);
    if (stored) addObservation(stored, event);
    return 'live';
  }

  /** The summary of the live window: the last `buckets` buckets ending with the one holding `asOf`. */
  window(asOf: number, buckets = this.geometry.buckets): Summary {
    const { fromMs, toMs } = windowRange(asOf, this.geometry.widthMs, buckets);
    const total = emptySummary(this.withSketch);
    const n = this.n;
    const d = this.data;
    // Read the arrays directly: this runs for every rule on every evaluation, so no per-slot objects.
    for (let slot = 0; slot < n; slot += 1) {
      const start = d[START * n + slot]!;
      if (!(start >= fromMs && start < toMs) || d[COUNT * n + slot] === 0) continue;
      total.count += d[COUNT * n + slot]!;
      total.sum += d[SUM * n + slot]!;
      if (d[MIN * n + slot]! < total.min) total.min = d[MIN * n + slot]!;
      if (d[MAX * n + slot]! > total.max) total.max = d[MAX * n + slot]!;
      const lastMs = d[LAST_MS * n + slot]!;
      if (isLater(lastMs, this.lastIds[slot]!, total.lastMs, total.lastEventId)) {
        total.lastMs = lastMs;
        total.lastValue = d[LAST_VALUE * n + slot]!;
        total.lastEventId = this.lastIds[slot]!;
      }
      const sketch = this.sketches?.[slot];
      if (sketch) total.sketch!.merge(sketch);
    }
    return total;
  }

  /** Buckets changed since the last call (including those the ring has since reused), then forgets them. */
  takeDirty(): DirtyBucket[] {
    if (!this.anyDirty) return [];
    this.anyDirty = false;
    const out = [...this.evicted.values()];
    this.evicted.clear();
    const n = this.n;
    for (let slot = 0; slot < n; slot += 1) {
      if (this.dirty[slot] === 0) continue;
      this.dirty[slot] = 0;
      out.push(this.describe(slot));
    }
    return out.sort((a, b) => a.bucketMs - b.bucketMs);
  }

  /**
   * Puts a stored bucket back after a restart. `live` is the live part when it differs (late events).
   * Buckets older than the ring are ignored. Returns whether the bucket was kept.
   */
  restore(bucketMs: number, stored: Summary, live?: Summary): boolean {
    if (bucketMs !== this.bucketOf(bucketMs)) return false;
    if (bucketMs > this.headMs) this.headMs = bucketMs;
    if (bucketMs < this.oldest()) return false;
    const slot = this.slotFor(bucketMs);
    this.dirty[slot] = 0;
    this.setLive(slot, live ?? stored);
    if (live) this.stored.set(slot, stored);
    else this.stored.delete(slot);
    return true;
  }

  /** True when the bucket holding `t` is one the ring covers (it may be empty). */
  holds(t: number): boolean {
    const bucketMs = this.bucketOf(t);
    return bucketMs >= this.oldest() && bucketMs <= this.headMs;
  }

  /**
   * Takes a counted observation back out of its bucket (a correction), from the live summary too when
   * it was not late. Returns false, changing nothing, when the bucket is not held or the summaries
   * cannot be subtracted exactly (see `removeObservation`): the caller then `replace`s the bucket.
   */
  remove(event: Observation, late: boolean, dryRun = false): boolean {
    if (!this.holds(event.observedAt)) return false;
    const bucketMs = this.bucketOf(event.observedAt);
    const n = this.n;
    const index = Math.round(bucketMs / this.geometry.widthMs);
    const slot = ((index % n) + n) % n;
    if (this.data[START * n + slot] !== bucketMs) return false;
    const live = this.liveSummary(slot, true);
    const stored = this.stored.get(slot);
    const storedCopy = stored ? cloneSummary(stored) : undefined;
    if (storedCopy && !removeObservation(storedCopy, event)) return false;
    if (!late && !removeObservation(live, event)) return false;
    if (late && !storedCopy) return false;
    if (dryRun) return true;
    this.setLive(slot, live);
    if (storedCopy) this.stored.set(slot, storedCopy);
    this.dirty[slot] = 1;
    this.anyDirty = true;
    return true;
  }

  /**
   * Sets a held bucket to summaries recomputed from its events (a correction that could not be
   * subtracted); `live` when late events make it differ from `stored`. Marks it changed.
   */
  replace(bucketMs: number, stored: Summary, live?: Summary): void {
    if (!this.holds(bucketMs) || bucketMs !== this.bucketOf(bucketMs)) return;
    const slot = this.slotFor(bucketMs);
    this.setLive(slot, live ?? stored);
    if (live) this.stored.set(slot, cloneSummary(stored));
    else this.stored.delete(slot);
    this.dirty[slot] = 1;
    this.anyDirty = true;
  }

  /** Non-empty quantile sketch bins held (memory accounting). */
  sketchBins(): number {
    let bins = 0;
    for (const sketch of this.sketches ?? []) bins += sketch?.bins ?? 0;
    for (const summary of this.stored.values()) bins += summary.sketch?.bins ?? 0;
    return bins;
  }

  private oldest(): number {
    return this.headMs - (this.n - 1) * this.geometry.widthMs;
  }

  /** The slot for a bucket inside the ring, recycled (and its pending change kept) if it held an older one. */
  private slotFor(bucketMs: number): number {
    const n = this.n;
    const index = Math.round(bucketMs / this.geometry.widthMs);
    const slot = ((index % n) + n) % n;
    if (this.data[START * n + slot] !== bucketMs) {
      if (this.dirty[slot] === 1) {
        const described = this.describe(slot);
        this.evicted.set(described.bucketMs, described);
        this.dirty[slot] = 0;
      }
      this.setLive(slot, emptySummary(this.withSketch));
      this.data[START * n + slot] = bucketMs;
      this.stored.delete(slot);
    }
    return slot;
  }

  private describe(slot: number): DirtyBucket {
    const n = this.n;
    const live = this.liveSummary(slot, true);
    const stored = this.stored.get(slot);
    const bucketMs = this.data[START * n + slot]!;
    return stored ? { bucketMs, stored: cloneSummary(stored), live } : { bucketMs, stored: live };
  }

  private liveSummary(slot: number, copySketch: boolean): Summary {
    const n = this.n;
    const d = this.data;
    const summary: Summary = {
      count: d[COUNT * n + slot]!,
      sum: d[SUM * n + slot]!,
      min: d[MIN * n + slot]!,
      max: d[MAX * n + slot]!,
      lastValue: d[LAST_VALUE * n + slot]!,
      lastMs: d[LAST_MS * n + slot]!,
      lastEventId: this.lastIds[slot]!,
    };
    if (this.sketches) {
      const sketch = this.sketches[slot];
      summary.sketch = sketch ? (copySketch ? sketch.clone() : sketch) : new QuantileSketch();
    }
    return summary;
  }

  private setLive(slot: number, summary: Summary): void {
    const n = this.n;
    const d = this.data;
    d[COUNT * n + slot] = summary.count;
    d[SUM * n + slot] = summary.sum;
    d[MIN * n + slot] = summary.min;
    d[MAX * n + slot] = summary.max;
    d[LAST_VALUE * n + slot] = summary.lastValue;
    d[LAST_MS * n + slot] = summary.lastMs;
    this.lastIds[slot] = summary.lastEventId;
    if (this.sketches) this.sketches[slot] = summary.sketch?.clone();
  }

  private addLive(slot: number, event: Observation): void {
    const n = this.n;
    const d = this.data;
    d[COUNT * n + slot]! += 1;
    d[SUM * n + slot]! += event.value;
    if (event.value < d[MIN * n + slot]!) d[MIN * n + slot] = event.value;
    if (event.value > d[MAX * n + slot]!) d[MAX * n + slot] = event.value;
    const lastMs = d[LAST_MS * n + slot]!;
    if (event.observedAt > lastMs || (event.observedAt === lastMs && event.eventId > this.lastIds[slot]!)) {
      d[LAST_VALUE * n + slot] = event.value;
      d[LAST_MS * n + slot] = event.observedAt;
      this.lastIds[slot] = event.eventId;
    }
    if (this.sketches) {
      let sketch = this.sketches[slot];
      if (!sketch) {
        sketch = new QuantileSketch();
        this.sketches[slot] = sketch;
      }
      sketch.add(event.value);
    }
  }
}
