import { parseDuration } from '../../schemas/common.js';
import type { Aggregation, ModuleVersion } from '../../schemas/registry.js';
import { type RollupRow, relativeAccuracy, windowGeometry, windowRange } from '../core/performance/index.js';
import type { Row } from '../ports/tables.js';

/**
 * The ground-truth check (DESIGN "Live numbers must agree with ground truth"): windows and rollups
 * recomputed from the stored raw events, compared with what the processor emitted and stored.
 * Pure: the caller reads the rows (verify-rollups, tests).
 */

export type RawEvent = Pick<Row<'metric_events'>, 'event_id' | 'metric' | 'value' | 'observed_ms' | 'late'>;

export interface Difference {
  ruleId: string;
  what: string;
  expected: number | null;
  actual: number | null;
}

/** sum and mean agree within this relative difference (float addition order differs). */
export const sumTolerance = 1e-9;

/** One rule's window geometry, from the module definition. */
export function ruleWindows(
  module: ModuleVersion,
): Array<{ id: string; metric: string; aggregation: Aggregation; widthMs: number; buckets: number }> {
  return [...module.goals, ...module.constraints].map((rule) => {
    const g = windowGeometry(parseDuration(rule.window) ?? 0);
    return {
      id: rule.id,
      metric: rule.metric,
      aggregation: rule.aggregation,
      widthMs: g.widthMs,
      buckets: g.buckets,
    };
  });
}

/**
 * A window recomputed from raw events that were not late: the events of `metric` with observedAt in
 * the window ending at `asOfMs`, aggregated exactly (percentiles: lower-nearest-rank).
 */
export function recomputeWindow(
  events: readonly RawEvent[],
  rule: { metric: string; aggregation: Aggregation; widthMs: number; buckets: number },
  asOfMs: number,
): { value: number | null; count: number } {
  const { fromMs, toMs } = windowRange(asOfMs, rule.widthMs, rule.buckets);
  const inWindow = events.filter(
    (e) => !e.late && e.metric === rule.metric && e.observed_ms >= fromMs && e.observed_ms < toMs,
  );
  const values = inWindow.map((e) => e.value);
  const count = values.length;
  const sum = values.reduce((a, b) => a + b, 0);
  const spanMs = rule.buckets * rule.widthMs;
  switch (rule.aggregation) {
    case 'count':
      return { value: count, count };
    case 'sum':
      return { value: sum, count };
    case 'rate':
      return { value: sum / (spanMs / 1000), count };
    default:
      break;
  }
  if (count === 0) return { value: null, count };
  switch (rule.aggregation) {
    case 'mean':
      return { value: sum / count, count };
    case 'min':
      return { value: Math.min(...values), count };
    case 'max':
      return { value: Math.max(...values), count };
    case 'last': {
      let last = inWindow[0]!;
      for (const e of inWindow) {
        if (
          e.observed_ms > last.observed_ms ||
          (e.observed_ms === last.observed_ms && e.event_id > last.event_id)
        )
          last = e;
      }
      return { value: last.value, count };
    }
    case 'p50':
    case 'p95': {
      const sorted = [...values].sort((a, b) => a - b);
      const q = rule.aggregation === 'p50' ? 0.5 : 0.95;
      return { value: sorted[Math.floor(q * (count - 1))]!, count };
    }
  }
}

/** Whether an emitted value agrees with the recomputed one for this aggregation. */
export function agrees(aggregation: Aggregation, expected: number | null, actual: number | null): boolean {
  if (expected === null || actual === null) return expected === actual;
  switch (aggregation) {
    case 'sum':
    case 'mean':
    case 'rate':
      return Math.abs(expected - actual) <= sumTolerance * Math.max(1, Math.abs(expected));
    case 'p50':
    case 'p95':
      return Math.abs(expected - actual) <= relativeAccuracy * Math.abs(expected) + 1e-9;
    default:
      return expected === actual;
  }
}

/**
 * Every stored rollup bucket against the raw events (late ones included) of its rule's metric in
 * that bucket: count, min, max and last exactly, sum within 1e-9 relative. Buckets that have raw
 * events but no row are differences too.
 */
export function compareRollups(
  module: ModuleVersion,
  rollups: readonly RollupRow[],
  events: readonly RawEvent[],
): Difference[] {
  const out: Difference[] = [];
  for (const rule of ruleWindows(module)) {
    const expected = new Map<number, RawEvent[]>();
    for (const e of events) {
      if (e.metric !== rule.metric) continue;
      const bucket = Math.floor(e.observed_ms / rule.widthMs) * rule.widthMs;
      const list = expected.get(bucket);
      if (list) list.push(e);
      else expected.set(bucket, [e]);
    }
    const rows = new Map(
      rollups
        .filter((r) => r.rule_id === rule.id && r.width_ms === rule.widthMs)
        .map((r) => [r.bucket_ms, r]),
    );
    for (const [bucket, list] of expected) {
      const row = rows.get(bucket);
      const what = (field: string) => `bucket ${new Date(bucket).toISOString()} ${field}`;
      if (!row) {
        out.push({
          ruleId: rule.id,
          what: what('count (no rollup row)'),
          expected: list.length,
          actual: null,
        });
        continue;
      }
      const values = list.map((e) => e.value);
      const sum = values.reduce((a, b) => a + b, 0);
      let last = list[0]!;
      for (const e of list) {
        if (
          e.observed_ms > last.observed_ms ||
          (e.observed_ms === last.observed_ms && e.event_id > last.event_id)
        )
          last = e;
      }
      const checks: Array<[string, number, number, boolean]> = [
        ['count', list.length, row.count, list.length === row.count],
        ['sum', sum, row.sum, Math.abs(sum - row.sum) <= sumTolerance * Math.max(1, Math.abs(sum))],
        ['min', Math.min(...values), row.min, Math.min(...values) === row.min],
        ['max', Math.max(...values), row.max, Math.max(...values) === row.max],
        ['last', last.value, row.last_value, last.value === row.last_value],
      ];
      for (const [field, exp, act, ok] of checks)
        if (!ok) out.push({ ruleId: rule.id, what: what(field), expected: exp, actual: act });
    }
    for (const [bucket, row] of rows) {
      if (!expected.has(bucket) && row.count > 0) {
        out.push({
          ruleId: rule.id,
          what: `bucket ${new Date(bucket).toISOString()} count (no raw events)`,
          expected: 0,
          actual: row.count,
        });
      }
    }
  }
  return out;
}

/** The latest emitted update of each goal against the same window recomputed from raw non-late events. */
export function compareUpdates(
  module: ModuleVersion,
  latest: ReadonlyArray<Pick<Row<'performance_updates'>, 'goal_id' | 'as_of_ms' | 'body'>>,
  events: readonly RawEvent[],
): Difference[] {
  const out: Difference[] = [];
  const rules = new Map(ruleWindows(module).map((r) => [r.id, r]));
  for (const row of latest) {
    const rule = rules.get(row.goal_id);
    if (!rule) continue;
    const body = row.body as { value: number | null; count: number };
    const truth = recomputeWindow(events, rule, row.as_of_ms);
    if (truth.count !== body.count)
      out.push({
        ruleId: rule.id,
        what: `window count at ${new Date(row.as_of_ms).toISOString()}`,
        expected: truth.count,
        actual: body.count,
      });
    if (!agrees(rule.aggregation, truth.value, body.value)) {
      out.push({
        ruleId: rule.id,
        what: `window ${rule.aggregation} at ${new Date(row.as_of_ms).toISOString()}`,
        expected: truth.value,
        actual: body.value,
      });
    }
  }
  return out;
}
