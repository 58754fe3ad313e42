import { systemActor } from '../core/registry/proposals.js';
import type { ChangeRequests } from '../ports/audit.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { RegistryView, RegistryWrites } from '../ports/registry.js';
import type { Logger } from '../runtime/logger.js';

export interface ProposalClockOptions {
  registry: RegistryView & RegistryWrites;
  audit: ChangeRequests;
  clock: Clock;
  logger: Logger;
  /** How often due proposals are looked for. Default 1000 ms. */
  intervalMs?: number;
}

/**
 * Takes the steps time alone takes: a proposal past its `expiresAt` expires, an approved one past its
 * `effectiveAt` is applied (a new module version naming it). Every api replica runs one; the
 * sequencer executes each step once and answers a repeat as unchanged, so replicas racing each other
 * apply a proposal once. The engine does not wait for this: it switches to the approved version at
 * `effectiveAt` in event time on its own (core/performance/engine.ts); this records it in the registry.
 */
export class ProposalClock implements Component {
  readonly name = 'proposal-clock';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing: string | undefined;
  private readonly log: Logger;

  constructor(private readonly o: ProposalClockOptions) {
    this.log = o.logger.child({ component: 'proposal-clock' });
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => {
      this.running ??= this.pass().finally(() => {
        this.running = undefined;
      });
    }, this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  health(): Health {
    return this.failing ? { state: 'degraded', detail: this.failing } : { state: 'ok' };
  }

  /** One look at every open proposal; submits what is due. */
  async pass(): Promise<void> {
    const now = this.o.clock.now();
    const due: Array<{ op: 'proposal.expire' | 'proposal.apply'; id: string }> = [];
    for (const proposal of this.o.registry.proposals()) {
      if (proposal.state === 'proposed' && Date.parse(proposal.expiresAt) <= now)
        due.push({ op: 'proposal.expire', id: proposal.id });
      else if (
        proposal.state === 'approved' &&
        proposal.effectiveAt &&
        Date.parse(proposal.effectiveAt) <= now
      )
        due.push({ op: 'proposal.apply', id: proposal.id });
    }
    let failed: string | undefined;
    for (const request of due) {
      try {
        const result = await this.o.audit.submit(systemActor, request);
        this.o.registry.apply(result.records);
        if (result.entry) this.log.info({ op: request.op, proposalId: request.id }, 'proposal step recorded');
      } catch (err) {
        failed = `${request.op} ${request.id} failed: ${(err as Error).message}`;
        this.log.warn({ err, op: request.op, proposalId: request.id }, 'proposal step failed; retried');
      }
    }
    this.failing = failed;
  }
}
