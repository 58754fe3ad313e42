import { GlasshouseError } from '../runtime/errors.js';

/**
 * A bus operation failed. `code` is stable (answers and metrics carry it); `retriable` says whether
 * trying the same operation again later may succeed. Thrown by every Bus adapter.
 */
export class BusError extends GlasshouseError {
  constructor(code: BusErrorCode, message: string, retriable: boolean, cause?: unknown, details?: unknown) {
    super(code, message, { retriable, status: retriable ? 503 : 500, cause, details });
  }
}

export type BusErrorCode =
  /** No broker answered, a request timed out, a leader moved: retry later. */
  | 'bus_unavailable'
  /** The topic does not exist (topics are created by `ensureTopics`, never implicitly). */
  | 'bus_topic_unknown'
  /** A record or request exceeds the broker's size limit; retrying cannot help. */
  | 'bus_record_too_large'
  /** The idempotent producer lost its sequence state; it has been recreated, so a retry is safe. */
  | 'bus_producer_reset'
  /** The bus was stopped (or never started). */
  | 'bus_stopped'
  /** The in-process bus's log on disk is damaged beyond a torn last write; the message names the fix. */
  | 'bus_log_damaged'
  /** Anything else the client reported. */
  | 'bus_error';
