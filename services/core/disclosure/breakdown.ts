import type { Aggregation } from '../../../schemas/registry.js';
import type { DailyAggregate } from '../../ports/daily.js';
import { type DisclosureRules, describeRules, individualStatistics, protectDay } from './protect.js';

/** The per-cell statistic a goal's aggregation gives, or null (a count shows only counts; min, max and last are single reports). */
export type CellStatistic = 'mean' | 'sum' | 'rate' | 'p50' | 'p95';

export function cellStatistic(aggregation: Aggregation): CellStatistic | null {
  if (aggregation === 'count' || individualStatistics.has(aggregation)) return null;
  return aggregation as CellStatistic;
}

/** The quantile a statistic needs from the store, if any. */
export function quantileOf(statistic: CellStatistic | null): number | undefined {
  return statistic === 'p50' ? 0.5 : statistic === 'p95' ? 0.95 : undefined;
}

export interface BreakdownCellOut {
  value: string;
  count: number | null;
  statistic: number | null;
}

export type BreakdownDayOut =
  | { dayMs: number; withheld: false; total: number; cells: BreakdownCellOut[] }
  | { dayMs: number; withheld: true };

const daySeconds = 86_400;

function statisticOf(row: DailyAggregate, statistic: CellStatistic | null): number | null {
  switch (statistic) {
    case 'mean':
      return row.sum / row.count;
    case 'sum':
      return row.sum;
    case 'rate':
      return row.sum / daySeconds;
    case 'p50':
    case 'p95':
      return row.quantile;
    default:
      return null;
  }
}

/**
 * Protects a breakdown: each closed day from `fromMs` to `toMs` (day-aligned) on its own, with the
 * rules of protect.ts. A day's cells are the declared `values` (zero when nobody reported them), then
 * any other value seen, then `""` (reports without the dimension); a cell of a value that is not
 * declared in a list is left out when suppressed, so a suppressed free-text value (a postcode) is not
 * named at all. A cell's statistic is shown only with its count. Pure.
 */
export function protectBreakdown(input: {
  rows: readonly DailyAggregate[];
  fromMs: number;
  toMs: number;
  dayMs: number;
  declaredValues: readonly string[] | undefined;
  statistic: CellStatistic | null;
  rules: DisclosureRules;
}): BreakdownDayOut[] {
  const byDay = new Map<number, DailyAggregate[]>();
  for (const row of input.rows) byDay.set(row.dayMs, [...(byDay.get(row.dayMs) ?? []), row]);
  const declared = input.declaredValues ?? [];
  const listed = new Set(declared);
  const days: BreakdownDayOut[] = [];
  for (let day = input.fromMs; day < input.toMs; day += input.dayMs) {
    const rows = byDay.get(day) ?? [];
    const seen = new Map(rows.map((r) => [r.value, r]));
    const others = rows
      .map((r) => r.value)
      .filter((v) => v !== '' && !listed.has(v))
      .sort();
    const order = [...declared, ...others, ...(seen.has('') && !listed.has('') ? [''] : [])];
    const counts = order.map((value) => ({ value, count: seen.get(value)?.count ?? 0 }));
    const protectedDay = protectDay(counts, input.rules);
    if (protectedDay.withheld) {
      days.push({ dayMs: day, withheld: true });
      continue;
    }
    const cells: BreakdownCellOut[] = [];
    for (const cell of protectedDay.cells) {
      if (cell.count === null && !listed.has(cell.value)) continue;
      const row = seen.get(cell.value);
      cells.push({
        value: cell.value,
        count: cell.count,
        statistic: cell.count === null || cell.count === 0 || !row ? null : statisticOf(row, input.statistic),
      });
    }
    days.push({ dayMs: day, withheld: false, total: protectedDay.total, cells });
  }
  return days;
}

/** The answer's `method`: the disclosure rules and how cells are built, in words. */
export function describeBreakdown(rules: DisclosureRules, statistic: CellStatistic | null): string {
  const stat =
    statistic === null
      ? 'Cells show counts only.'
      : statistic === 'rate'
        ? "A cell's statistic is the sum of its reports' values per second of the day."
        : statistic === 'mean' || statistic === 'sum'
          ? `A cell's statistic is the ${statistic} of its reports' values.`
          : `A cell's statistic is the ${statistic}: the value at index ⌊q·(n−1)⌋ of its n reports sorted (q = ${statistic === 'p50' ? '0.5' : '0.95'}), computed exactly.`;
  return (
    "Reports (raw events of the goal's metric, one per agency and eventId, late ones included) are counted per UTC day " +
    'and value of the dimension; "" counts reports without it. Only whole days that have closed (the day\'s end plus the module\'s ' +
    'allowedLateness) are shown. ' +
    `${stat} ${describeRules(rules)} ` +
    'Values declared in a list are always listed; any other value is listed only when its count is shown. ' +
    'No totals over the range are given: add the published daily figures if you need them (they are rounded and may omit suppressed cells). ' +
    'A report arriving after its day closed still changes that day.'
  );
}
