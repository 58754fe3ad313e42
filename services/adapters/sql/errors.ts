/**
 * Errors raised by the storage adapters. Each has a stable `code` and says whether retrying the
 * same call can help (`retriable`), so callers decide between backoff and the DLQ without parsing
 * messages.
 */
export class StoreError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, retriable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
  }
}

/** A table, column, operator or value that cannot be expressed safely; nothing was sent to the server. */
export class InvalidQueryError extends StoreError {
  constructor(message: string) {
    super('store_invalid_query', message, false);
  }
}

/** A row that does not match the catalog (missing or unknown column, wrong type). Nothing was written. */
export class InvalidRowError extends StoreError {
  constructor(message: string) {
    super('store_invalid_row', message, false);
  }
}

/** The store could not be reached or is overloaded; the same call may succeed later. */
export class StoreUnavailableError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, true, options);
  }
}

/** The server rejected the statement; retrying it unchanged will fail again. */
export class StoreQueryError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_query_failed', message, false, options);
  }
}

/** A migration file is malformed, or an applied migration was edited after it ran. */
export class MigrationError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_migration_failed', message, false, options);
  }
}

/** The store was used before `start()` or after `stop()`. */
export class StoreClosedError extends StoreError {
  constructor(name: string) {
    super('store_closed', `${name} is not started`, false);
  }
}
