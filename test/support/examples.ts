import type { z } from 'zod';
import type { Goal } from '../../schemas/registry.js';

export type GoalInput = z.input<typeof Goal>;

/**
 * The goal of DESIGN.md's example module (bus punctuality: mean on-time rate of at least 90% over 1h,
 * 5% tolerance). Tests override what they exercise, so the rest reads as the spec's own example.
 */
export function exampleGoal(overrides: Partial<GoalInput> = {}): GoalInput {
  return {
    id: 'ontime',
    metric: 'on_time_rate',
    unit: '%',
    direction: 'increase',
    target: 90,
    tolerance: 0.05,
    window: '1h',
    aggregation: 'mean',
    ...overrides,
  };
}

/** DESIGN.md's example module with one goal (before defaults are filled), for registry and schema tests. */
export function exampleModule(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'bus-punctuality',
    domain: 'transit',
    title: 'Bus punctuality',
    owner: 'ada',
    goals: [exampleGoal()],
    ...overrides,
  };
}

/** A waiting-time goal (mean minutes, at most 30, every sample counts, alerting at once), for correction tests. */
export function waitGoal(overrides: Partial<GoalInput> = {}): GoalInput {
  return exampleGoal({
    id: 'wait',
    metric: 'wait_minutes',
    unit: 'min',
    direction: 'decrease',
    target: 30,
    tolerance: 0.1,
    minSamples: 1,
    hold: '0s',
    ...overrides,
  });
}
