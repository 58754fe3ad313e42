import { expiryTimes } from '../../ports/retention.js';
import { InvalidQueryError } from './errors.js';

/** Refuses a table without an expiry time, or a cutoff that is not a whole epoch-ms number. */
export function checkExpiry(table: unknown, beforeMs: unknown): void {
  if (typeof table !== 'string' || !Object.hasOwn(expiryTimes, table))
    throw new InvalidQueryError(`table ${JSON.stringify(table)} does not expire`);
  if (typeof beforeMs !== 'number' || !Number.isSafeInteger(beforeMs))
    throw new InvalidQueryError(`expiry cutoff must be whole epoch milliseconds, got ${String(beforeMs)}`);
}
