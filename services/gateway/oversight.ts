import { AlertEvent } from '../../schemas/alert.js';
import { toTimestamp } from '../../schemas/common.js';
import type { AuditTrail } from '../ports/audit.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Principal, RegistryView } from '../ports/registry.js';
import { GlasshouseError } from '../runtime/errors.js';

/** The next version of an alert, acknowledged by `by` with `note`. Acknowledgement is a version, not a state. */
export function acknowledgedVersion(alert: AlertEvent, by: string, note: string, now: number): AlertEvent {
  const at = toTimestamp(now);
  return AlertEvent.parse({
    ...alert,
    version: alert.version + 1,
    updatedAt: at,
    acknowledgedBy: by,
    acknowledgedAt: at,
    note,
  });
}

export interface OversightDeps {
  registry: RegistryView;
  bus: Bus;
  audit: AuditTrail;
  clock: Clock;
  /** The latest version of an open alert this process knows. */
  findAlert(alertId: string): AlertEvent | undefined;
  /** Logical topic the new alert version goes to (`alerts.events`). */
  alertsTopic: string;
}

/** Oversight writes over the live socket: authentication and alert acknowledgement. */
export class Oversight {
  constructor(private readonly deps: OversightDeps) {}

  /** Resolves an oversight token to its holder; only overseers may acknowledge. */
  async authenticate(token: string): Promise<Principal> {
    const principal = await this.deps.registry.authenticate(token);
    if (principal?.kind !== 'overseer') {
      throw new GlasshouseError('unauthorized', 'the token is not a valid oversight token', { status: 401 });
    }
    return principal;
  }

  /**
   * Publishes the acknowledged version (every subscriber of the alert's channels receives it from
   * the bus) and appends the audit entry. Resolves with the new version once both are durable.
   */
  async acknowledge(principal: Principal, alertId: string, note: string): Promise<AlertEvent> {
    const alert = this.deps.findAlert(alertId);
    if (!alert) throw new GlasshouseError('alert_not_found', `no open alert ${alertId}`, { status: 404 });
    const next = acknowledgedVersion(alert, principal.id, note, this.deps.clock.now());
    try {
      await this.deps.bus.publish(this.deps.alertsTopic, [
        { key: next.moduleId, value: JSON.stringify(next) },
      ]);
    } catch (err) {
      throw new GlasshouseError('bus_unavailable', 'the acknowledgement could not be published; try again', {
        retriable: true,
        status: 503,
        cause: err,
      });
    }
    try {
      await this.deps.audit.append({
        actor: `overseer:${principal.id}`,
        action: 'alert.acknowledge',
        subject: `alert:${alertId}`,
        before: alert,
        after: next,
        rationale: note,
      });
    } catch (err) {
      throw new GlasshouseError(
        'audit_unavailable',
        'the acknowledgement was published but its audit entry could not be written; try again',
        {
          retriable: true,
          status: 503,
          cause: err,
        },
      );
    }
    return next;
  }
}
