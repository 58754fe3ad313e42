import {
  type AlertAckCommand,
  AlertEvent,
  commandHeader,
  commandSignatureHeader,
  storedAlert,
} from '../../schemas/alert.js';
import { hasAcknowledgement } from '../core/performance/index.js';
import { signCommand } from '../core/validation/index.js';
import type { AuditTrail } from '../ports/audit.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Principal } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { Topics } from '../ports/topics.js';
import { GlasshouseError } from '../runtime/errors.js';
import type { RoleContext } from '../runtime/role.js';
import type { AlertVersions } from './alert-versions.js';

const alertIdPattern = /^[a-f0-9]{32}$/;

/** How long an acknowledgement waits for its version by default. */
export const defaultAckWaitMs = 10_000;

export interface AcknowledgerDeps {
  bus: Bus;
  store: Store;
  audit: AuditTrail;
  clock: Clock;
  /** Versions read from `alerts.events` by this process. */
  versions: AlertVersions;
  /** The key commands are signed with (runtime/command-key.ts), shared with the processors. */
  commandKey: Buffer;
  /** The latest version this process already holds (the gateway's live state), before asking the store. */
  cached?(alertId: string): AlertEvent | undefined;
  /** How long to wait for the acknowledged version (default 10 s). */
  waitMs?: number;
}

/**
 * Acknowledges an alert for an overseer; shared by the WebSocket `ack` op and `POST /v1/alerts/:id/ack`.
 *
 * The processor is the only writer of alert versions, so this does not make the version: it checks
 * the alert exists, appends the audit entry (`alert.acknowledge`, the note as rationale), publishes
 * a signed `alert.ack` command to `metrics.raw` keyed by the alert's module (the partition whose
 * processor owns the alert), and waits, bounded, for the acknowledged version on `alerts.events`.
 *
 * Errors: 404 `alert_not_found`; 503 `audit_unavailable`, `bus_unavailable`, `store_unavailable`
 * (nothing was published), or `ack_pending` (published, the version did not arrive in time: the
 * processor applies it when it can; asking again makes a second acknowledgement version).
 */
export class AlertAcknowledger {
  constructor(private readonly deps: AcknowledgerDeps) {}

  /** An acknowledger on a role's shared parts (bus, store, audit trail, clock, command key). */
  static forRole(
    ctx: RoleContext,
    versions: AlertVersions,
    extra: Pick<AcknowledgerDeps, 'cached' | 'waitMs'> = {},
  ): AlertAcknowledger {
    const { bus, store, audit, clock, commandKey } = ctx;
    return new AlertAcknowledger({ bus, store, audit, clock, commandKey, versions, ...extra });
  }

  async acknowledge(principal: Principal, alertId: string, note: string): Promise<AlertEvent> {
    const alert = await this.find(alertId);
    if (!alert) throw new GlasshouseError('alert_not_found', `no alert ${alertId}`, { status: 404 });
    const command: AlertAckCommand = { alertId, by: principal.id, note, at: this.deps.clock.now() };
    try {
      await this.deps.audit.append({
        actor: `overseer:${principal.id}`,
        action: 'alert.acknowledge',
        subject: `alert:${alertId}`,
        before: alert,
        after: { acknowledgedBy: command.by, acknowledgedAt: new Date(command.at).toISOString(), note },
        rationale: note,
      });
    } catch (err) {
      throw unavailable(
        'audit_unavailable',
        'the audit entry could not be written; nothing changed, try again',
        err,
      );
    }
    // Waiting starts before the command exists, so the version cannot go by unseen.
    const arrived = this.deps.versions.waitFor(
      (v) => v.alertId === alertId && hasAcknowledgement(storedAlert(v), command.by, note, command.at),
      this.deps.waitMs ?? defaultAckWaitMs,
    );
    try {
      const value = JSON.stringify(command);
      await this.deps.bus.publish(Topics.metricsRaw, [
        {
          key: alert.moduleId,
          value,
          headers: {
            [commandHeader]: 'alert.ack',
            [commandSignatureHeader]: signCommand(this.deps.commandKey, 'alert.ack', alert.moduleId, value),
          },
        },
      ]);
    } catch (err) {
      throw unavailable('bus_unavailable', 'the acknowledgement could not be published; try again', err);
    }
    const version = await arrived;
    if (!version) {
      throw unavailable(
        'ack_pending',
        'the acknowledgement was recorded but its alert version has not been written yet; it will appear when the processor catches up',
      );
    }
    return version;
  }

  private async find(alertId: string): Promise<AlertEvent | undefined> {
    if (!alertIdPattern.test(alertId)) return undefined;
    const cached = this.deps.cached?.(alertId);
    if (cached) return cached;
    try {
      return await latestAlert(this.deps.store, alertId);
    } catch (err) {
      throw unavailable('store_unavailable', 'the alert could not be looked up; try again', err);
    }
  }
}

function unavailable(code: string, message: string, cause?: unknown): GlasshouseError {
  return new GlasshouseError(code, message, { retriable: true, status: 503, ...(cause ? { cause } : {}) });
}

/** The newest stored version of an alert, or undefined. */
export async function latestAlert(store: Store, alertId: string): Promise<AlertEvent | undefined> {
  const [row] = await store.select('alerts', {
    where: [{ column: 'alert_id', op: '=', value: alertId }],
    orderBy: [{ column: 'version', direction: 'desc' }],
    limit: 1,
  });
  if (!row) return undefined;
  const parsed = AlertEvent.safeParse(row.body);
  return parsed.success ? parsed.data : undefined;
}
