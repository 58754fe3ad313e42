import { z } from 'zod';
import { Duration, Slug, Timestamp } from './common.js';
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

/** The verdict word for a status and the stagnation flag. */
export function verdictOf(status: GoalStatus, stagnating: boolean): Verdict {
  if (status === 'no_data') return 'No data';
  if (status === 'on_track') return 'Success';
  if (stagnating) return 'Stagnation';
  return status === 'at_risk' ? 'At risk' : 'Failure';
}
