import { type DailyAggregate, type DailyQuery, dayMs, maxDailyRows } from '../../ports/daily.js';
import { InvalidQueryError } from './errors.js';

const dimensionName = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Refuses a daily query that cannot be expressed safely (dimension name, alignment, quantile); nothing
 * is sent. Module and metric go through the literal escaping like every value.
 */
export function checkDailyQuery(query: DailyQuery): void {
  if (query.dimension !== undefined && !dimensionName.test(query.dimension))
    throw new InvalidQueryError(`not a dimension name: ${JSON.stringify(query.dimension)}`);
  for (const [name, ms] of [
    ['fromMs', query.fromMs],
    ['toMs', query.toMs],
  ] as const) {
    if (!Number.isSafeInteger(ms) || ms % dayMs !== 0)
      throw new InvalidQueryError(`${name} must be the start of a UTC day, in epoch ms`);
  }
  if (query.quantile !== undefined && !(query.quantile >= 0 && query.quantile <= 1))
    throw new InvalidQueryError('quantile must be between 0 and 1');
}

/** Refuses an answer that holds more rows than one daily query may. */
export function checkDailyRows(rows: number): void {
  if (rows > maxDailyRows)
    throw new InvalidQueryError(`a daily query may return at most ${maxDailyRows} rows: narrow the range`);
}

/** One row (columns day_ms, grp, n, s, mn, mx, last_value, quantile) as a DailyAggregate. */
export function dailyAggregateOf(row: Record<string, unknown>, withQuantile: boolean): DailyAggregate {
  return {
    dayMs: Number(row.day_ms),
    value: String(row.grp ?? ''),
    count: Number(row.n),
    sum: Number(row.s),
    min: Number(row.mn),
    max: Number(row.mx),
    lastValue: Number(row.last_value),
    quantile:
      withQuantile && row.quantile !== null && row.quantile !== undefined ? Number(row.quantile) : null,
  };
}
