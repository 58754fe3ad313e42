import { StoreError, StoreQueryError, StoreUnavailableError } from '../sql/errors.js';

// Server error codes after which the same statement can succeed later: overload, timeouts,
// memory pressure, a read-only replica, too many parts (merges catching up), network trouble.
const retriableCodes = new Set([
  3, // UNEXPECTED_END_OF_FILE
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (a replica in read-only mode)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

const retriableNetwork = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Wraps anything the ClickHouse client threw in a StoreError. The server's error code is read from
 * the message text: 18.16 writes `Code: 60, e.displayText() = DB::Exception: ...`, which the client's
 * own parser (written for `Code: 60. DB::Exception: ... (TYPE)`) does not recognise.
 */
export function classifyClickHouseError(err: unknown, doing: string): StoreError {
  if (err instanceof StoreError) return err;
  const error = err instanceof Error ? err : new Error(String(err));
  const message = error.message.split('\n')[0]!.slice(0, 2_000);
  const serverCode = /Code: (\d+)/.exec(error.message)?.[1];
  if (serverCode !== undefined) {
    const code = Number(serverCode);
    const text = `${doing}: ClickHouse error ${code}: ${message}`;
    return retriableCodes.has(code)
      ? new StoreUnavailableError(text, { cause: error })
      : new StoreQueryError(text, { cause: error });
  }
  const errno = (error as NodeJS.ErrnoException).code;
  if (
    (errno !== undefined && retriableNetwork.has(errno)) ||
    /timeout|socket hang up|ECONNREFUSED|ECONNRESET|other side closed|fetch failed/i.test(error.message)
  ) {
    return new StoreUnavailableError(`${doing}: ClickHouse unreachable: ${message}`, { cause: error });
  }
  // No server code and no network symptom (e.g. a proxy's 502 page): assume the server may recover.
  return new StoreUnavailableError(`${doing}: ${message}`, { cause: error });
}
