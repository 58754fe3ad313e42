import type { AlertEvent } from '../../schemas/alert.js';
import type { AlertAcknowledger } from '../oversight/acknowledge.js';
import type { Principal, RegistryView } from '../ports/registry.js';
import { GlasshouseError } from '../runtime/errors.js';

export interface OversightDeps {
  registry: RegistryView;
  /** Makes acknowledgements (shared with `POST /v1/alerts/:id/ack`). */
  acknowledger: AlertAcknowledger;
}

/** Oversight writes over the live socket: authentication and alert acknowledgement. */
export class Oversight {
  constructor(private readonly deps: OversightDeps) {}

  /** Resolves an oversight token (sent from `source`, an address) to its holder; only overseers may acknowledge. */
  async authenticate(token: string, source?: string): Promise<Principal> {
    const principal = await this.deps.registry.authenticate(token, source);
    if (principal?.kind !== 'overseer') {
      throw new GlasshouseError('unauthorized', 'the token is not a valid oversight token', { status: 401 });
    }
    return principal;
  }

  /**
   * Calls `listener` after every registry change that is not a module change (credentials issued or
   * revoked, among others), so authenticated sockets can re-check their credential. Returns an unsubscribe.
   */
  onCredentialsChange(listener: () => void): () => void {
    return this.deps.registry.onChange((moduleId) => {
      if (moduleId === undefined) listener();
    });
  }

  /**
   * Acknowledges an alert (audited; the processor writes the version) and resolves with the
   * acknowledged version once it went by on `alerts.events` (see oversight/acknowledge.ts).
   */
  acknowledge(principal: Principal, alertId: string, note: string): Promise<AlertEvent> {
    return this.deps.acknowledger.acknowledge(principal, alertId, note);
  }
}
