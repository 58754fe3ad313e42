import { setTimeout as delay } from 'node:timers/promises';
import { backoffDelay } from '../runtime/backoff.js';
import type { Logger } from '../runtime/logger.js';
import type { ApiClient, Outcome, RequestOptions } from './client.js';

/** Waits `ms`; resolves false (early) when the signal aborts. */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Capped exponential backoff with jitter (runtime/backoff.ts): attempt 1 → 125–250 ms, doubling up to `maxMs`. */
export function backoffMs(attempt: number, random: number, maxMs = 10_000): number {
  return backoffDelay(attempt, { baseMs: 250, capMs: maxMs }, () => random);
}

/** True for attempts 1, 2, 4, 8, ...: how often a persisting failure is logged again. */
export function worthLogging(attempt: number): boolean {
  return attempt > 0 && (attempt & (attempt - 1)) === 0;
}

export type FinalOutcome = Exclude<Outcome, { kind: 'retry' } | { kind: 'no_route' }>;

/**
 * Sends requests until they get a final answer: transient failures are retried with capped, jittered
 * backoff, and an endpoint that is not deployed yet is polled slowly and logged once, not per attempt.
 */
export class Caller {
  private readonly missingRoutes = new Set<string>();
  /** What the caller is waiting for right now, for the component's health. */
  waitingFor: string | undefined;

  constructor(
    readonly client: ApiClient,
    private readonly log: Logger,
    readonly signal: AbortSignal,
    private readonly noRouteRetryMs = 5_000,
  ) {}

  /** Logs a missing endpoint once per route. */
  noteNoRoute(route: string): void {
    if (this.missingRoutes.has(route)) return;
    this.missingRoutes.add(route);
    this.log.warn({ route }, `${route} is not available on this server yet; the demo will keep trying`);
  }

  /** Notes that a route answered; logs once if it had been missing. */
  noteAvailable(route: string): void {
    if (this.missingRoutes.delete(route)) this.log.info({ route }, `${route} is available now`);
  }

  /** Sends until the answer is final; undefined once the component stops. */
  async call(
    route: string,
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<FinalOutcome | undefined> {
    let attempt = 0;
    while (!this.signal.aborted) {
      const outcome = await this.client.request(method, path, options);
      if (outcome.kind === 'no_route') {
        this.noteNoRoute(route);
        this.waitingFor = `${route} (not deployed)`;
        if (!(await sleep(this.noRouteRetryMs, this.signal))) return undefined;
        continue;
      }
      if (outcome.kind === 'retry') {
        attempt += 1;
        if (worthLogging(attempt))
          this.log.warn({ route, reason: outcome.reason, attempt }, `${route} failed; retrying`);
        this.waitingFor = `${route} (${outcome.reason})`;
        const wait = Math.min(60_000, outcome.afterMs ?? backoffMs(attempt, Math.random()));
        if (!(await sleep(wait, this.signal))) return undefined;
        continue;
      }
      this.noteAvailable(route);
      this.waitingFor = undefined;
      return outcome;
    }
    return undefined;
  }
}
