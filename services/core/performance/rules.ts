import { parseDuration } from '../../../schemas/common.js';
import type { Aggregation, Constraint, Direction, Goal, ModuleVersion } from '../../../schemas/registry.js';
import { needsSketch } from './aggregate.js';
import { type WindowGeometry, windowGeometry } from './window.js';

/** A goal or constraint reduced to what evaluation needs. A constraint is a goal with tolerance 0. */
export interface RuleSpec {
  kind: 'goal' | 'constraint';
  id: string;
  metric: string;
  aggregation: Aggregation;
  /** The window as the module states it (e.g. `1h`). */
  window: string;
  geometry: WindowGeometry;
  /** `<=` bound → decrease, `>=` bound → increase. */
  direction: Direction;
  /** The goal's target or the constraint's bound. */
  target: number;
  tolerance: number;
  minSamples: number;
  holdMs: number;
  horizonMs: number;
  /** For messages: the constraint's operator. */
  op?: '<=' | '>=';
  withSketch: boolean;
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new TypeError(`not a duration: ${text}`);
  return ms;
}

/** The rule of a goal. */
export function goalRule(goal: Goal): RuleSpec {
  const windowMs = durationMs(goal.window);
  return {
    kind: 'goal',
    id: goal.id,
    metric: goal.metric,
    aggregation: goal.aggregation,
    window: goal.window,
    geometry: windowGeometry(windowMs),
    direction: goal.direction,
    target: goal.target,
    tolerance: goal.tolerance,
    minSamples: goal.minSamples,
    holdMs: durationMs(goal.hold),
    horizonMs: goal.stagnationHorizon ? durationMs(goal.stagnationHorizon) : 4 * windowMs,
    withSketch: needsSketch(goal.aggregation),
  };
}

/** The rule of a constraint: shortfall beyond the bound with tolerance 0, so any violation is off_track. */
export function constraintRule(constraint: Constraint): RuleSpec {
  const windowMs = durationMs(constraint.window);
  return {
    kind: 'constraint',
    id: constraint.id,
    metric: constraint.metric,
    aggregation: constraint.aggregation,
    window: constraint.window,
    geometry: windowGeometry(windowMs),
    direction: constraint.op === '<=' ? 'decrease' : 'increase',
    target: constraint.bound,
    tolerance: 0,
    minSamples: constraint.minSamples,
    holdMs: durationMs(constraint.hold),
    horizonMs: 4 * windowMs,
    op: constraint.op,
    withSketch: needsSketch(constraint.aggregation),
  };
}

/** Every rule of a module version, goals first. */
export function rulesOf(module: ModuleVersion): RuleSpec[] {
  return [...module.goals.map(goalRule), ...module.constraints.map(constraintRule)];
}

/** True when buckets built for `a` hold exactly what `b` needs (same metric, window and sketch need). */
export function sameBuckets(a: RuleSpec, b: RuleSpec): boolean {
  return (
    a.metric === b.metric && a.geometry.windowMs === b.geometry.windowMs && a.withSketch === b.withSketch
  );
}
