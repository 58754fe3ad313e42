/**
 * Base class for every error Glasshouse reports: a stable machine `code`, whether retrying may help,
 * and the HTTP status an API answer should carry.
 */
export class GlasshouseError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly options: {
      retriable?: boolean;
      status?: number;
      details?: unknown;
      cause?: unknown;
      /** For 429 and 503: when a retry may succeed (the Retry-After header, rounded up to seconds). */
      retryAfterMs?: number;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
  get retriable(): boolean {
    return this.options.retriable ?? false;
  }
  get status(): number {
    return this.options.status ?? 500;
  }
  get details(): unknown {
    return this.options.details;
  }
}

/** A configuration value is missing or malformed; names the variable. Fatal at startup. */
export class ConfigError extends GlasshouseError {
  constructor(message: string, details?: unknown) {
    super('config_invalid', message, { details });
  }
}

/** The request is malformed or violates a contract (HTTP 400). */
export class ValidationError extends GlasshouseError {
  constructor(message: string, details?: unknown, code = 'invalid_request') {
    super(code, message, { status: 400, details });
  }
}

/** A dependency (bus, store) could not confirm an operation; retrying later may succeed (HTTP 503). */
export class UnavailableError extends GlasshouseError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retriable: true, status: 503, cause });
  }
}
