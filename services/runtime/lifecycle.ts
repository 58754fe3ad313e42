import type { Component, Health } from '../ports/lifecycle.js';
import type { Logger } from './logger.js';

export interface PartHealth extends Health {
  name: string;
}

/**
 * Composes components: starts them in order, stops them in reverse order under a watchdog,
 * and aggregates their health for `/readyz`. `stop()` is idempotent and safe after a failed start.
 */
export class Lifecycle {
  private readonly parts: Component[] = [];
  private readonly started: Component[] = [];
  private stopping: Promise<void> | undefined;
  private ready = false;

  constructor(
    private readonly logger: Logger,
    private readonly shutdownTimeoutMs: number,
  ) {}

  /** Adds a part; parts start in the order they were added. */
  add<C extends Component>(component: C): C {
    this.parts.push(component);
    return component;
  }

  /** Starts every part in order; on failure stops what already started and rethrows. */
  async start(): Promise<void> {
    for (const part of this.parts) {
      const log = this.logger.child({ component: part.name });
      const began = Date.now();
      try {
        await part.start();
      } catch (err) {
        log.error({ err }, 'failed to start');
        await this.stop();
        throw err;
      }
      this.started.push(part);
      log.debug({ ms: Date.now() - began }, 'started');
    }
    this.ready = true;
  }

  /** Stops started parts in reverse order; a part that hangs past the timeout is abandoned with an error log. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false;
      const deadline = Date.now() + this.shutdownTimeoutMs;
      for (const part of [...this.started].reverse()) {
        const remaining = Math.max(100, deadline - Date.now());
        let timer: NodeJS.Timeout | undefined;
        const watchdog = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), remaining);
        });
        try {
          const outcome = await Promise.race([part.stop().then(() => 'stopped' as const), watchdog]);
          if (outcome === 'timeout')
            this.logger.error({ component: part.name }, 'stop timed out; abandoning it');
        } catch (err) {
          this.logger.error({ err, component: part.name }, 'stop failed');
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return this.stopping;
  }

  /** Health of every part; the process is ready only once all started and none is in error. */
  health(): { ready: boolean; parts: PartHealth[] } {
    const parts = this.parts.map((part) => {
      if (!this.started.includes(part))
        return { name: part.name, state: 'error' as const, detail: 'not started' };
      try {
        return { name: part.name, ...part.health() };
      } catch (err) {
        return { name: part.name, state: 'error' as const, detail: String(err) };
      }
    });
    return { ready: this.ready && parts.every((p) => p.state !== 'error'), parts };
  }

  /** SIGTERM / SIGINT drain the process: stop everything, then exit (non-zero if shutdown failed). */
  installSignalHandlers(exit: (code: number) => void = process.exit): void {
    const onSignal = (signal: NodeJS.Signals) => {
      this.logger.info({ signal }, 'shutting down');
      const hardStop = setTimeout(() => {
        this.logger.fatal('shutdown watchdog expired; exiting');
        exit(1);
      }, this.shutdownTimeoutMs + 2_000);
      hardStop.unref();
      this.stop().then(
        () => exit(0),
        () => exit(1),
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
}
