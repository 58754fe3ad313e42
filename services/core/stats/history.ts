import type { GoalStatus } from '../../../schemas/performance.js';
import { aggregateValue, emptySummary, mergeSummary, type Summary } from '../performance/aggregate.js';
import { fromRollupRow, type RollupRow } from '../performance/rollup.js';
import type { RuleSpec } from '../performance/rules.js';
import { shortfallOf, statusOf } from '../performance/status.js';

/** One point of a goal's history: the step starting at `t` (epoch ms). */
export interface HistoryPoint {
  t: number;
  value: number | null;
  count: number;
  status: GoalStatus;
}

/**
 * The samples a step must hold to have a status: the rule's minSamples scaled to the share of the
 * window the step covers (rounded up, at least 1), since a step shorter than the window holds only
 * part of the events the goal requires.
 */
export function requiredSamples(rule: RuleSpec, stepMs: number): number {
  const share = Math.min(1, stepMs / rule.geometry.windowMs);
  return Math.max(1, Math.ceil(rule.minSamples * share));
}

/**
 * Merges stored rollup buckets into step-aligned points.
 *
 * A point at t = ⌊bucket start / step⌋ · step holds the stored buckets whose start falls in
 * [t, t + step) (late events included: stored rollups restate history). When a step holds buckets
 * of more than one width (the goal's window changed), the width with the most events wins (ties:
 * the finer), so no event is counted twice. The value is the goal's aggregation of the merged
 * buckets (`rate` per second of the time they cover: the step, or the bucket width when a step is
 * shorter than one bucket, since such a step still holds the whole bucket); the status applies the rule in force at t
 * (`ruleAt(t)`; undefined means the goal did not exist then: no_data). Empty steps are omitted.
 */
export function historyPoints(
  rows: readonly RollupRow[],
  stepMs: number,
  ruleAt: (t: number) => RuleSpec | undefined,
): HistoryPoint[] {
  const steps = new Map<number, Map<number, RollupRow[]>>();
  for (const row of rows) {
    if (row.count <= 0) continue;
    const t = Math.floor(row.bucket_ms / stepMs) * stepMs;
    let widths = steps.get(t);
    if (!widths) {
      widths = new Map();
      steps.set(t, widths);
    }
    const list = widths.get(row.width_ms);
    if (list) list.push(row);
    else widths.set(row.width_ms, [row]);
  }
  const points: HistoryPoint[] = [];
  for (const t of [...steps.keys()].sort((a, b) => a - b)) {
    const { width, rows: chosen } = pickWidth(steps.get(t)!);
    const rule = ruleAt(t);
    const withSketch = rule?.withSketch ?? chosen.some((row) => row.sketch.includes('"q"'));
    const summary: Summary = emptySummary(withSketch);
    for (const row of chosen) mergeSummary(summary, fromRollupRow(row, withSketch).stored);
    if (!rule) {
      points.push({ t, value: null, count: summary.count, status: 'no_data' });
      continue;
    }
    const value = aggregateValue(rule.aggregation, summary, Math.max(stepMs, width));
    const shortfall = value === null ? null : shortfallOf(rule.direction, rule.target, value);
    const status = statusOf(shortfall, rule.tolerance, summary.count, requiredSamples(rule, stepMs));
    points.push({ t, value, count: summary.count, status });
  }
  return points;
}

function pickWidth(widths: Map<number, RollupRow[]>): { width: number; rows: RollupRow[] } {
  let best: { width: number; count: number; rows: RollupRow[] } | undefined;
  for (const [width, rows] of widths) {
    const count = rows.reduce((sum, row) => sum + row.count, 0);
    if (!best || count > best.count || (count === best.count && width < best.width))
      best = { width, count, rows };
  }
  return best!;
}
