/** Health of one long-running part: `ok`, `degraded` (working, but something needs attention), or `error`. */
export type HealthState = 'ok' | 'degraded' | 'error';

export interface Health {
  state: HealthState;
  detail?: string;
}

/** The contract every long-running part implements; one lifecycle composes them. */
export interface Component {
  /** A short stable name, used in logs, `/readyz` and metrics. */
  readonly name: string;
  /** Connects and starts work. Resolves when the part is ready to serve. */
  start(): Promise<void>;
  /** Stops work and releases resources. Safe to call more than once, and before `start`. */
  stop(): Promise<void>;
  /** Current health, cheap to call. */
  health(): Health;
}
