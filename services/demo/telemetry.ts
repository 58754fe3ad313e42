import type { MetricEventInput } from '../../schemas/metric-event.js';
import { deriveSeed, Prng } from './prng.js';

/**
 * How one metric behaves over the demo's lifetime: a piecewise-linear level over elapsed time plus noise.
 * Flat before the first point and after the last, so `[[0, 62]]` is a flat line and
 * `[[0, 93], [30_000, 93], [330_000, 74]]` holds for 30 s and then drifts down for five minutes.
 */
export interface Signal {
  /** `[ms since the demo started, level]`, in increasing time order. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Standard deviation of normal noise around the level, or `poisson` to draw counts with the level as mean. */
  noise: number | 'poisson';
  min?: number;
  max?: number;
  /** Decimal places the reported value is rounded to (default 2). */
  decimals?: number;
}

/** One metric a feed reports for one module, once per tick. */
export interface Stream {
  moduleId: string;
  metric: string;
  signal: Signal;
  /** A dimension whose value is drawn per event (a route, a district, a station). */
  dimension?: { name: string; values: readonly string[] };
}

/** What one agency reports, and when it stops (the "agency goes silent" scenario). */
export interface FeedPlan {
  agency: string;
  streams: readonly Stream[];
  /** Elapsed time after which the agency sends nothing more. */
  silentAfterMs?: number;
}

/** The noiseless level of a signal at an elapsed time. */
export function levelAt(signal: Signal, elapsedMs: number): number {
  const { points } = signal;
  const first = points[0];
  if (!first) return 0;
  if (elapsedMs <= first[0]) return first[1];
  for (let i = 1; i < points.length; i += 1) {
    const [t1, v1] = points[i]!;
    const [t0, v0] = points[i - 1]!;
    if (elapsedMs <= t1) return t1 === t0 ? v1 : v0 + ((v1 - v0) * (elapsedMs - t0)) / (t1 - t0);
  }
  return points[points.length - 1]![1];
}

/** One reported value: the level plus noise, clamped and rounded. */
export function sampleValue(signal: Signal, elapsedMs: number, rng: Prng): number {
  const level = levelAt(signal, elapsedMs);
  let value = signal.noise === 'poisson' ? rng.poisson(Math.max(0, level)) : rng.normal(level, signal.noise);
  if (signal.min !== undefined) value = Math.max(signal.min, value);
  if (signal.max !== undefined) value = Math.min(signal.max, value);
  const scale = 10 ** (signal.decimals ?? 2);
  return Math.round(value * scale) / scale;
}

/** Largest delay, in ms, between an event's observedAt and the moment its batch is built. */
export const maxJitterMs = 500;

/**
 * The telemetry of one agency, tick by tick. Deterministic: the same plan, seed and tick times give
 * the same events. Event ids carry the run id, so a restarted demo never repeats an earlier run's ids.
 */
export class AgencyFeed {
  private readonly rng: Prng;
  private tickNo = 0;

  constructor(
    readonly plan: FeedPlan,
    seed: number,
    private readonly runId: string,
  ) {
    this.rng = new Prng(deriveSeed(seed, plan.agency));
  }

  /** True once the agency has stopped reporting for good. */
  isSilent(elapsedMs: number): boolean {
    return this.plan.silentAfterMs !== undefined && elapsedMs >= this.plan.silentAfterMs;
  }

  /** The events of the next tick (one per stream), or an empty list once the agency is silent. */
  tick(elapsedMs: number, nowMs: number): MetricEventInput[] {
    if (this.isSilent(elapsedMs)) return [];
    this.tickNo += 1;
    return this.plan.streams.map((stream, index) => {
      const event: MetricEventInput = {
        eventId: `demo:${this.runId}:${this.plan.agency}:${this.tickNo}.${index}`,
        moduleId: stream.moduleId,
        metric: stream.metric,
        value: sampleValue(stream.signal, elapsedMs, this.rng),
        // Agencies observe slightly before they send; never in the future.
        observedAt: nowMs - this.rng.int(maxJitterMs),
      };
      if (stream.dimension) {
        const values = stream.dimension.values;
        event.dimensions = { [stream.dimension.name]: values[this.rng.int(values.length)] ?? 'unknown' };
      }
      return event;
    });
  }
}
