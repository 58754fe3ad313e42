import type { GoalStatus } from '../../../schemas/performance.js';
import type { Direction } from '../../../schemas/registry.js';

/**
 * How far a value falls short of its target, as a fraction of |target| (absolute when the target is 0):
 * increase `max(0, target − v)`, decrease `max(0, v − target)`, maintain `|v − target|`.
 */
export function shortfallOf(direction: Direction, target: number, value: number): number {
  const gap =
    direction === 'increase'
      ? Math.max(0, target - value)
      : direction === 'decrease'
        ? Math.max(0, value - target)
        : Math.abs(value - target);
  return target === 0 ? gap : gap / Math.abs(target);
}

/**
 * on_track (shortfall 0), at_risk (0 < shortfall ≤ tolerance), off_track (shortfall > tolerance),
 * no_data (fewer than minSamples events in the window, or no value).
 */
export function statusOf(
  shortfall: number | null,
  tolerance: number,
  count: number,
  minSamples: number,
): GoalStatus {
  if (count < minSamples || shortfall === null) return 'no_data';
  if (shortfall === 0) return 'on_track';
  return shortfall <= tolerance ? 'at_risk' : 'off_track';
}

/** A slope of the goal value (units per hour) re-signed so that positive means toward the target. */
export function towardTarget(
  direction: Direction,
  target: number,
  value: number,
  slopePerHour: number,
): number {
  if (direction === 'increase') return slopePerHour;
  if (direction === 'decrease') return -slopePerHour;
  if (value === target) return -Math.abs(slopePerHour);
  return value < target ? slopePerHour : -slopePerHour;
}

/**
 * Stagnation threshold: a goal that is not on track is stagnating when, with enough history, its
 * movement toward the target projected over the whole stagnation horizon (trend × horizon) is less
 * than 10% of its remaining distance |value − target|; in words: at the current pace it would take
 * more than ten horizons to get there (or it is moving away).
 */
export const stagnationProgressFraction = 0.1;

/** Whether a goal is stagnating (see `stagnationProgressFraction`). */
export function isStagnating(input: {
  status: GoalStatus;
  value: number | null;
  target: number;
  trend: number | null;
  horizonMs: number;
  enoughHistory: boolean;
}): boolean {
  if (input.status === 'on_track' || input.status === 'no_data') return false;
  if (!input.enoughHistory || input.trend === null || input.value === null) return false;
  const distance = Math.abs(input.value - input.target);
  const projected = input.trend * (input.horizonMs / 3_600_000);
  return projected < stagnationProgressFraction * distance;
}

/** Slots per stagnation horizon: the trend series keeps the first point of each. */
export const trendSlots = 120;
/** Points kept per trend series (a horizon spans at most `trendSlots + 1` slots). */
export const trendPoints = 128;

/** The width of one trend slot for a horizon: points are the first evaluation in each. */
export function trendSlotMs(horizonMs: number): number {
  return Math.max(1, Math.floor(horizonMs / trendSlots));
}

/**
 * A bounded series of evaluated goal values over the stagnation horizon, for the least-squares trend.
 * It keeps the first point in each slot of `trendSlotMs(horizon)` (slots aligned to the epoch), so the
 * stored updates give back the same series: a restarted engine reads the first stored update per slot.
 * Memory: 2 × 128 Float64 = 2 KB per goal.
 */
export class TrendSeries {
  private readonly times = new Float64Array(trendPoints);
  private readonly values = new Float64Array(trendPoints);
  private next = 0;
  private size = 0;
  readonly slotMs: number;

  constructor(readonly horizonMs: number) {
    this.slotMs = trendSlotMs(horizonMs);
  }

  /** True when a point at event time t would be recorded (the last is in an earlier slot). */
  due(t: number): boolean {
    if (this.size === 0) return true;
    const last = this.times[(this.next - 1 + trendPoints) % trendPoints]!;
    return Math.floor(t / this.slotMs) > Math.floor(last / this.slotMs);
  }

  /** Records a value at event time t if it is the first of its slot (later points in it are skipped). */
  record(t: number, value: number): void {
    if (!this.due(t)) return;
    this.times[this.next] = t;
    this.values[this.next] = value;
    this.next = (this.next + 1) % trendPoints;
    this.size = Math.min(trendPoints, this.size + 1);
  }

  /**
   * The least-squares fit over the recorded points within the horizon ending at `asOf`, plus the
   * current value when given: slope in units per hour (null with fewer than 2 points or no time spread)
   * and whether there is enough history to judge stagnation (at least 3 points spanning at least half
   * the horizon).
   */
  fit(asOf: number, current: number | null): { slopePerHour: number | null; enoughHistory: boolean } {
    const from = asOf - this.horizonMs;
    let n = 0;
    let first = Number.NaN;
    let last = Number.NaN;
    let st = 0;
    let sv = 0;
    let stt = 0;
    let stv = 0;
    // The stored points inside the horizon, then the current value (no closure: this runs per rule
    // on every evaluation).
    const points = this.size + (current === null ? 0 : 1);
    for (let i = 0; i < points; i += 1) {
      let t = asOf;
      let v = current ?? 0;
      if (i < this.size) {
        const index = (this.next - this.size + i + trendPoints) % trendPoints;
        t = this.times[index]!;
        if (!(t >= from && t < asOf)) continue;
        v = this.values[index]!;
      }
      if (n === 0) first = t;
      last = t;
      // Times relative to the first point keep the sums well conditioned.
      const x = t - first;
      n += 1;
      st += x;
      sv += v;
      stt += x * x;
      stv += x * v;
    }
    const den = n * stt - st * st;
    const slopePerHour = n < 2 || den <= 0 ? null : ((n * stv - st * sv) / den) * 3_600_000;
    return { slopePerHour, enoughHistory: n >= 3 && last - first >= this.horizonMs / 2 };
  }

  /** The recorded points, oldest first. */
  points(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.size; i += 1) {
      const index = (this.next - this.size + i + trendPoints) % trendPoints;
      out.push([this.times[index]!, this.values[index]!]);
    }
    return out;
  }
}
