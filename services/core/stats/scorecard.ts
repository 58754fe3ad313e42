import type { GoalStatus } from '../../../schemas/performance.js';

/** One status observation of a goal: from event time `t` (epoch ms) on, the goal had `status`. */
export interface StatusPoint {
  t: number;
  status: GoalStatus;
}

/** Milliseconds spent in each status within a period, and their total. */
export interface StatusTime {
  on_track: number;
  at_risk: number;
  off_track: number;
  no_data: number;
  /** The sum of the four: the part of the period for which a status is known. */
  observed: number;
}

export function emptyStatusTime(): StatusTime {
  return { on_track: 0, at_risk: 0, off_track: 0, no_data: 0, observed: 0 };
}

/**
 * Time-weighted status over [from, to): each point's status holds from its `t` until the next
 * point (or `to`). `points` must be sorted by `t`; the status in force at `from` is the last point
 * at or before `from`. Time before the first point is unknown and not counted.
 */
export function statusTime(points: readonly StatusPoint[], from: number, to: number): StatusTime {
  const out = emptyStatusTime();
  for (let i = 0; i < points.length; i += 1) {
    const point = points[i]!;
    const start = Math.max(point.t, from);
    const end = Math.min(points[i + 1]?.t ?? to, to);
    if (end <= start) continue;
    out[point.status] += end - start;
    out.observed += end - start;
  }
  return out;
}

/** Adds `b` into `a` in place. */
export function addStatusTime(a: StatusTime, b: StatusTime): StatusTime {
  a.on_track += b.on_track;
  a.at_risk += b.at_risk;
  a.off_track += b.off_track;
  a.no_data += b.no_data;
  a.observed += b.observed;
  return a;
}

/** Share of known time spent on track (0..1), or null when no time is known. */
export function onTrackShare(time: StatusTime): number | null {
  return time.observed > 0 ? time.on_track / time.observed : null;
}

/** A change of at least this many percentage points between the two halves of the period is a trend. */
export const trendThresholdPoints = 5;

export type TrendWord = 'improving' | 'steady' | 'worsening' | 'unknown';

/**
 * The trend of a scorecard: the on-track share of the second half of the period minus that of the
 * first half, in percentage points; ≥ +5 improving, ≤ −5 worsening, otherwise steady; unknown when
 * either half has no known time.
 */
export function shareTrend(
  first: StatusTime,
  second: StatusTime,
): { direction: TrendWord; changePoints: number | null } {
  const a = onTrackShare(first);
  const b = onTrackShare(second);
  if (a === null || b === null) return { direction: 'unknown', changePoints: null };
  const changePoints = Math.round((b - a) * 1000) / 10;
  const direction =
    changePoints >= trendThresholdPoints
      ? 'improving'
      : changePoints <= -trendThresholdPoints
        ? 'worsening'
        : 'steady';
  return { direction, changePoints };
}

/** The summary score: the on-track share in whole percent (0-100), or null with no known time. */
export function scoreOf(time: StatusTime): number | null {
  const share = onTrackShare(time);
  return share === null ? null : Math.round(share * 100);
}

/** Mean of the given durations in ms, or null for none. */
export function meanMs(durations: readonly number[]): number | null {
  if (durations.length === 0) return null;
  return Math.round(durations.reduce((sum, d) => sum + d, 0) / durations.length);
}

/** The scorecard formula in words, served with every scorecard so anyone can check the numbers. */
export function scorecardMethod(periodHours: number, ackDays: number): string {
  return (
    `Period: the last ${periodHours} hours. For each goal of the sociotechnician's active modules, every stored ` +
    'performance update (GET /v1/modules/{id}/history and the live feed publish the same updates) sets the ' +
    "goal's status from its asOf time until the next update; the last one holds until now; time before a " +
    "goal's first update is not counted. onTrackShare = time on track / time with a known status (no_data " +
    `counts as not on track), summed over all goals. score = round(100 × onTrackShare). trend = onTrackShare of the ` +
    `second half of the period − that of the first half, in percentage points: ≥ +${trendThresholdPoints} improving, ` +
    `≤ −${trendThresholdPoints} worsening, otherwise steady. openAlerts = alerts of their modules whose latest ` +
    `version is not resolved. meanTimeToAcknowledge = mean of (first acknowledgement − openedAt) over the alerts of ` +
    `their modules opened in the last ${ackDays} days that were acknowledged.`
  );
}

/** One agency's applied corrections against the events it reported, over a period. */
export interface CorrectionRate {
  agency: string;
  events: number;
  corrections: number;
  /** corrections / events; null without events. */
  rate: number | null;
}

/**
 * Correction rates per agency (sorted by agency) and over all of them, from distinct event counts:
 * every event an agency reported, and those of them that correct an earlier one (retractions too).
 */
export function correctionRates(
  events: ReadonlyMap<string, number>,
  corrections: ReadonlyMap<string, number>,
): { total: Omit<CorrectionRate, 'agency'>; agencies: CorrectionRate[] } {
  const rate = (e: number, c: number) => (e > 0 ? c / e : null);
  const agencies = [...events.keys()].sort().map((agency) => {
    const e = events.get(agency) ?? 0;
    const c = corrections.get(agency) ?? 0;
    return { agency, events: e, corrections: c, rate: rate(e, c) };
  });
  const e = agencies.reduce((sum, a) => sum + a.events, 0);
  const c = agencies.reduce((sum, a) => sum + a.corrections, 0);
  return { total: { events: e, corrections: c, rate: rate(e, c) }, agencies };
}

/** How the correction rate of a scorecard is computed. */
export function correctionRateMethod(periodDays: number): string {
  return (
    `Events received in the last ${periodDays} days for the sociotechnician's active modules, per reporting agency: ` +
    'rate = corrections / events, where events counts every distinct event the agency sent and corrections those ' +
    'of them that replace or retract an earlier one (GET /v1/modules/{id}/revisions lists them). A correction held ' +
    'for approval counts once it is applied.'
  );
}
