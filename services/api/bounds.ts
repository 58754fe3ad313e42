import { z } from 'zod';
import { Duration, parseDuration, TimeInput } from '../../schemas/common.js';
import { GlasshouseError, ValidationError } from '../runtime/errors.js';

/** Every public query is bounded; these are the bounds, named in the 400 a query hitting one gets. */
export const queryLimits = {
  /** Points one history answer may hold. */
  historyPoints: 10_000,
  /** Longest from..to of a history query. */
  historyRangeMs: 366 * 86_400_000,
  /** Stored rollup buckets one history query may read. */
  historyBuckets: 100_000,
  /** Longest from..to of a raw events export. */
  eventsRangeMs: 31 * 86_400_000,
  /** Rows one raw events export may hold. */
  eventRows: 50_000,
  /** Raw events per module one comparison may read. */
  comparisonEvents: 50_000,
  /** Longest comparison window. */
  comparisonWindowMs: 31 * 86_400_000,
  /** Alerts per page of `GET /v1/alerts`. */
  alertsPage: 1_000,
} as const;

/** A 400 `limit_exceeded` naming the limit, its value and what the request asked for. */
export function limitExceeded(limit: keyof typeof queryLimits, max: number, requested: number, hint: string) {
  return new GlasshouseError(
    'limit_exceeded',
    `${hint}: the limit "${limit}" is ${max.toLocaleString('en')}, this request needs ${requested.toLocaleString('en')}`,
    { status: 400, details: { limit, max, requested } },
  );
}

/** A time query parameter: RFC 3339 text or epoch milliseconds (digits), parsed to epoch ms. */
export const TimeParam = z.string().transform((text, ctx) => {
  const parsed = TimeInput.safeParse(/^\d{1,16}$/.test(text) ? Number(text) : text);
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: 'custom', message: 'must be an RFC 3339 time or epoch milliseconds' });
  return z.NEVER;
});

/** A duration query parameter (`<n>(ms|s|m|h|d)`), parsed to ms. */
export const DurationParam = Duration.transform((text) => parseDuration(text)!);

/** A whole-number query parameter within [min, max]. */
export function IntParam(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min).max(max));
}

/** Checks from < to and to − from ≤ maxMs. */
export function checkRange(from: number, to: number, limit: 'historyRangeMs' | 'eventsRangeMs'): void {
  if (from >= to)
    throw new ValidationError('"from" must be before "to"', [{ path: 'from', message: 'must be before to' }]);
  const max = queryLimits[limit];
  if (to - from > max) throw limitExceeded(limit, max, to - from, 'the time range is too long (in ms)');
}
