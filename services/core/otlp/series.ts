/**
 * Cumulative sums to per-interval deltas, one series at a time. A series is one exporter's stream of
 * one metric with one set of attributes; its state is the last cumulative point taken.
 */
export interface SeriesState {
  /** Start of the cumulative count (ns since the epoch, decimal). */
  startNs: string;
  /** Time of the last point taken (ns, decimal). */
  timeNs: string;
  /** Its cumulative value. */
  value: number;
  /** The cumulative value its delta was taken from (0 after a start or reset), so a retry of that point gets the same delta. */
  base: number;
}

export interface CumulativePoint {
  startNs: string;
  timeNs: string;
  value: number;
}

export type DeltaVerdict =
  | { ok: true; delta: number; next: SeriesState }
  | { ok: false; reason: 'stale_point' | 'negative_cumulative' };

/**
 * The delta a cumulative point adds, and the series state after it. Never negative for a monotonic
 * sum: a point whose value fell below the previous one, or whose start time moved forward, is a
 * counter reset (the exporter restarted), and its whole value is the count since the new start.
 * The first point of a series counts its whole value (everything since its start time). A point
 * with the time of the last one is a retry: the same delta again, so its eventId makes it a
 * duplicate. A point older than the last one (or from an older start) is refused: taking it would
 * count an interval twice.
 */
export function cumulativeDelta(previous: SeriesState | undefined, point: CumulativePoint): DeltaVerdict {
  if (point.value < 0) return { ok: false, reason: 'negative_cumulative' };
  const fresh = (): DeltaVerdict => ({
    ok: true,
    delta: point.value,
    next: { startNs: point.startNs, timeNs: point.timeNs, value: point.value, base: 0 },
  });
  if (!previous) return fresh();
  const start = BigInt(point.startNs);
  const previousStart = BigInt(previous.startNs);
  if (start < previousStart) return { ok: false, reason: 'stale_point' };
  if (start > previousStart) return fresh();
  const time = BigInt(point.timeNs);
  const previousTime = BigInt(previous.timeNs);
  if (time < previousTime) return { ok: false, reason: 'stale_point' };
  if (time === previousTime) return { ok: true, delta: previous.value - previous.base, next: previous };
  if (point.value < previous.value) return fresh();
  return {
    ok: true,
    delta: point.value - previous.value,
    next: { startNs: point.startNs, timeNs: point.timeNs, value: point.value, base: previous.value },
  };
}
