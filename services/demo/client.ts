/**
 * A small HTTP client for the public API, as any outside system would use it. It never throws for an
 * HTTP or network failure: every answer is classified into an outcome the caller decides on.
 */

/** What came of one request. */
export type Outcome =
  | { kind: 'ok'; status: number; body: unknown }
  /** The resource does not exist (the route does). */
  | { kind: 'not_found'; status: 404; body: unknown }
  /** The server has no such route: the endpoint is not deployed (yet). */
  | { kind: 'no_route'; status: 404 }
  | { kind: 'unauthorized'; status: 401 | 403; body: unknown }
  /** Worth retrying later: rate limited, unavailable, server error, timeout or network failure. */
  | { kind: 'retry'; status?: number; reason: string; afterMs?: number }
  /** The request itself is wrong (400, 409, 413, ...): sending it again as is will not help. */
  | { kind: 'rejected'; status: number; body: unknown };

/** Classifies an HTTP answer. */
export function classify(status: number, body: unknown, retryAfter?: string | null): Outcome {
  if (status >= 200 && status < 300) return { kind: 'ok', status, body };
  if (status === 404)
    return isNoRoute(body) ? { kind: 'no_route', status } : { kind: 'not_found', status, body };
  if (status === 401 || status === 403) return { kind: 'unauthorized', status, body };
  if (status === 408 || status === 429 || status >= 500) {
    const afterMs = parseRetryAfter(retryAfter);
    return {
      kind: 'retry',
      status,
      reason: `${status} ${errorCode(body) ?? ''}`.trim(),
      ...(afterMs === undefined ? {} : { afterMs }),
    };
  }
  return { kind: 'rejected', status, body };
}

/** The `error.code` of an error envelope, if the body is one. */
export function errorCode(body: unknown): string | undefined {
  const error = (body as { error?: { code?: unknown } } | undefined)?.error;
  return typeof error?.code === 'string' ? error.code : undefined;
}

// The server's catch-all answers "no route for GET /path"; a missing resource names the resource instead.
function isNoRoute(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!error) return true;
  return (
    error.code === 'not_found' &&
    typeof error.message === 'string' &&
    error.message.startsWith('no route for')
  );
}

function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export interface RequestOptions {
  token?: string | undefined;
  body?: unknown;
}

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    /** Aborts every request in flight (the component is stopping). */
    private readonly signal: AbortSignal,
    private readonly timeoutMs = 10_000,
  ) {}

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Outcome> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { kind: 'retry', reason: cause ?? (err as Error).name ?? 'network error' };
    }
    let body: unknown;
    try {
      const text = await response.text();
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    return classify(response.status, body, response.headers.get('retry-after'));
  }
}

/** Base URL to reach a server bound to `host:port` from the same machine. */
export function localBaseUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}/`;
  if (host === '::') return `http://[::1]:${port}/`;
  return host.includes(':') ? `http://[${host}]:${port}/` : `http://${host}:${port}/`;
}
