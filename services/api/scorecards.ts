import { toTimestamp } from '../../schemas/common.js';
import { GoalStatus } from '../../schemas/performance.js';
import type { Scorecard } from '../../schemas/queries.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import {
  addStatusTime,
  correctionRateMethod,
  correctionRates,
  emptyStatusTime,
  meanMs,
  onTrackShare,
  type StatusPoint,
  scorecardMethod,
  scoreOf,
  shareTrend,
  statusTime,
} from '../core/stats/index.js';
import type { Store } from '../ports/store.js';
import { acknowledgementDelays, openAlerts } from './alerts-query.js';

/** The scorecard period: the last 24 hours. */
export const scorecardPeriodMs = 24 * 3_600_000;
/** Acknowledgement delays are averaged over alerts opened in the last 30 days. */
export const acknowledgementPeriodMs = 30 * 86_400_000;
/** Correction rates count the events received in the last 30 days. */
export const correctionPeriodMs = 30 * 86_400_000;
/** Stored updates read per query when catching up. */
const pageRows = 20_000;

interface GoalTimeline {
  /** Status runs, oldest first: each point starts a run of a different status. */
  points: StatusPoint[];
  /** as_of_ms of the newest update read so far. */
  readThrough: number;
}

/**
 * Each goal's status timeline over the scorecard period, read from stored performance updates and
 * kept per process: a request reads only the updates newer than the last one it saw, so the
 * scoreboard stays cheap however often it is asked for. Memory: one point per status change in
 * the period, per goal.
 */
export class StatusTimelines {
  private readonly goals = new Map<string, GoalTimeline>();

  constructor(private readonly store: Store) {}

  /** The goal's status points relevant to [from, now]: the one in force at `from` and every change after it. */
  async points(moduleId: string, goalId: string, from: number): Promise<StatusPoint[]> {
    const key = `${moduleId}\u0000${goalId}`;
    let timeline = this.goals.get(key);
    if (!timeline) {
      timeline = { points: [], readThrough: Number.NEGATIVE_INFINITY };
      const [before] = await this.store.select('performance_updates', {
        where: [
          { column: 'module_id', op: '=', value: moduleId },
          { column: 'goal_id', op: '=', value: goalId },
          { column: 'as_of_ms', op: '<', value: from },
        ],
        orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
        limit: 1,
      });
      if (before) this.append(timeline, before.as_of_ms, before.status);
      timeline.readThrough = Math.max(before?.as_of_ms ?? Number.NEGATIVE_INFINITY, from - 1);
      this.goals.set(key, timeline);
    }
    for (;;) {
      const rows = await this.store.select('performance_updates', {
        where: [
          { column: 'module_id', op: '=', value: moduleId },
          { column: 'goal_id', op: '=', value: goalId },
          { column: 'as_of_ms', op: '>', value: timeline.readThrough },
        ],
        orderBy: [{ column: 'as_of_ms', direction: 'asc' }],
        limit: pageRows,
      });
      for (const row of rows) this.append(timeline, row.as_of_ms, row.status);
      if (rows.length > 0)
        timeline.readThrough = Math.max(timeline.readThrough, rows[rows.length - 1]!.as_of_ms);
      if (rows.length < pageRows) break;
    }
    // Forget runs that ended before the period, keeping the one in force at its start.
    const firstInPeriod = timeline.points.findIndex((p) => p.t > from);
    const keepFrom = firstInPeriod < 0 ? timeline.points.length - 1 : Math.max(0, firstInPeriod - 1);
    if (keepFrom > 0) timeline.points.splice(0, keepFrom);
    return timeline.points;
  }

  private append(timeline: GoalTimeline, t: number, status: string): void {
    const parsed = GoalStatus.safeParse(status);
    if (!parsed.success) return;
    const last = timeline.points[timeline.points.length - 1];
    if (last && (last.status === parsed.data || t < last.t)) return;
    timeline.points.push({ t, status: parsed.data });
  }
}

/** The scorecard of one sociotechnician's active modules at `now` (formula: `scorecardMethod`). */
export async function scorecardOf(
  store: Store,
  timelines: StatusTimelines,
  modules: readonly ModuleVersion[],
  now: number,
): Promise<Scorecard> {
  const active = modules.filter((m) => m.status === 'active');
  const from = now - scorecardPeriodMs;
  const middle = from + scorecardPeriodMs / 2;
  const total = emptyStatusTime();
  const firstHalf = emptyStatusTime();
  const secondHalf = emptyStatusTime();
  const goals: Scorecard['goals'] = [];
  for (const module of active) {
    for (const goal of module.goals) {
      const points = await timelines.points(module.id, goal.id, from);
      const time = statusTime(points, from, now);
      addStatusTime(total, time);
      addStatusTime(firstHalf, statusTime(points, from, middle));
      addStatusTime(secondHalf, statusTime(points, middle, now));
      goals.push({
        moduleId: module.id,
        goalId: goal.id,
        status: points[points.length - 1]?.status ?? 'no_data',
        onTrackShare: onTrackShare(time),
        timeMs: time,
      });
    }
  }
  const ids = active.map((m) => m.id);
  const [open, delays] = await Promise.all([
    openAlerts(store, ids),
    acknowledgementDelays(store, ids, now - acknowledgementPeriodMs),
  ]);
  return {
    period: { from: toTimestamp(from), to: toTimestamp(now) },
    score: scoreOf(total),
    onTrackShare: onTrackShare(total),
    timeMs: total,
    goals,
    openAlerts: open.length,
    meanTimeToAcknowledgeMs: meanMs(delays),
    acknowledgedAlerts: delays.length,
    trend: shareTrend(firstHalf, secondHalf),
    method: scorecardMethod(scorecardPeriodMs / 3_600_000, acknowledgementPeriodMs / 86_400_000),
  };
}

/** The correction rate of the agencies reporting for `modules` (their active ones), at `now`. */
export async function correctionsOf(
  store: Store,
  modules: readonly ModuleVersion[],
  now: number,
): Promise<NonNullable<Scorecard['corrections']>> {
  const from = now - correctionPeriodMs;
  const ids = modules.filter((m) => m.status === 'active').map((m) => m.id);
  const where = [
    { column: 'module_id', op: 'in', value: ids },
    { column: 'received_ms', op: '>=', value: from },
  ] as const;
  const [events, corrections] =
    ids.length === 0
      ? [new Map<string, number>(), new Map<string, number>()]
      : await Promise.all([
          store.countPerGroup('metric_events', 'agency_id', [...where]),
          store.countPerGroup('metric_events', 'agency_id', [
            ...where,
            { column: 'supersedes', op: '!=', value: '' },
          ]),
        ]);
  const { total, agencies } = correctionRates(events, corrections);
  return {
    period: { from: toTimestamp(from), to: toTimestamp(now) },
    ...total,
    agencies,
    method: correctionRateMethod(correctionPeriodMs / 86_400_000),
  };
}
