import { z } from 'zod';
import { Duration, Slug, Timestamp, toTimestamp } from './common.js';
import { Aggregation } from './registry.js';

export const GoalStatus = z.enum(['on_track', 'at_risk', 'off_track', 'no_data']);
export type GoalStatus = z.infer<typeof GoalStatus>;

/** The public word on every badge. */
export const Verdict = z.enum(['Success', 'At risk', 'Failure', 'Stagnation', 'No data']);
export type Verdict = z.infer<typeof Verdict>;

/** A goal's (or constraint's) rolling performance at one moment of event time. */
export const PerformanceUpdate = z.strictObject({
  moduleId: Slug,
  moduleVersion: z.number().int().min(1),
  goalId: Slug,
  /** `goal` or `constraint`: constraints are evaluated the same way, with `target` = bound. */
  ruleKind: z.enum(['goal', 'constraint']).default('goal'),
  metric: Slug,
  aggregation: Aggregation,
  window: Duration,
  asOf: Timestamp,
  /** The window's aggregated value; null with no data. */
  value: z.number().nullable(),
  count: z.number().int().min(0),
  target: z.number(),
  shortfall: z.number().min(0).nullable(),
  status: GoalStatus,
  stagnating: z.boolean(),
  /** Least-squares slope over the stagnation horizon, goal units per hour, positive = toward target. */
  trend: z.number().nullable(),
});
export type PerformanceUpdate = z.output<typeof PerformanceUpdate>;

/**
 * A PerformanceUpdate inside the system (the engine, the `performance.updates` topic between the
 * processor and the gateway, the gateway's state): `asOfMs` in epoch ms instead of `asOf` text. The
 * public shape, with RFC 3339 text, is made once where it leaves: the stored body the API answers
 * with, and the gateway's WebSocket frames (`publicUpdate`).
 */
export const PerformanceUpdateMs = PerformanceUpdate.omit({ asOf: true }).extend({
  asOfMs: z.number().int().min(0),
});
export type PerformanceUpdateMs = z.output<typeof PerformanceUpdateMs>;

/** The public shape of an update (fields in the order of PerformanceUpdate). */
export function publicUpdate(u: PerformanceUpdateMs): PerformanceUpdate {
  return {
    moduleId: u.moduleId,
    moduleVersion: u.moduleVersion,
    goalId: u.goalId,
    ruleKind: u.ruleKind,
    metric: u.metric,
    aggregation: u.aggregation,
    window: u.window,
    asOf: toTimestamp(u.asOfMs),
    value: u.value,
    count: u.count,
    target: u.target,
    shortfall: u.shortfall,
    status: u.status,
    stagnating: u.stagnating,
    trend: u.trend,
  };
}

/** An update as stored: the public body with the `as_of_ms` column beside it. */
export function storedUpdate(body: PerformanceUpdate, asOfMs: number): PerformanceUpdateMs {
  const { asOf: _text, ...rest } = body;
  return { ...rest, asOfMs };
}

/** The verdict word for a status and the stagnation flag. */
export function verdictOf(status: GoalStatus, stagnating: boolean): Verdict {
  if (status === 'no_data') return 'No data';
  if (status === 'on_track') return 'Success';
  if (stagnating) return 'Stagnation';
  return status === 'at_risk' ? 'At risk' : 'Failure';
}
