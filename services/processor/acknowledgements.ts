import type { AlertAckCommand, AlertEvent } from '../../schemas/alert.js';
import type { IssueDetail } from '../../schemas/common.js';
import { acknowledgeAlert, type Engine, hasAcknowledgement } from '../core/performance/index.js';
import { latestAlert } from '../oversight/acknowledge.js';
import type { Store } from '../ports/store.js';

export type AckOutcome =
  | { kind: 'version'; alert: AlertEvent }
  | { kind: 'unchanged' }
  | { kind: 'refused'; reason: 'unknown_alert' | 'wrong_module'; errors: IssueDetail[] };

/**
 * Applies one `alert.ack` command of module `moduleId`. The processor is the only writer of alert
 * versions, so the acknowledged version is numbered after every version it made before:
 *
 * - an alert the engine holds open is acknowledged in the engine (later versions, e.g. the resolve,
 *   keep acknowledgedBy, acknowledgedAt and note);
 * - any other (a resolved one) gets `acknowledgeAlert(latest)`, where latest is the newest version
 *   this batch already produced, else the newest stored one (earlier batches' outputs are written
 *   before a batch runs, so the store is current for this partition);
 * - an alert that already carries the same acknowledgement is left as it is (a replayed command).
 *
 * `produced` holds the versions this batch made so far, by alert id; the caller records the result.
 */
export async function applyAcknowledgement(
  engine: Engine,
  store: Store,
  moduleId: string,
  command: AlertAckCommand,
  produced: ReadonlyMap<string, AlertEvent>,
): Promise<AckOutcome> {
  const { alertId, by, note, at } = command;
  const open = engine.openAlert(alertId);
  if (open) {
    if (open.moduleId !== moduleId) return wrongModule(moduleId, open);
    if (hasAcknowledgement(open, by, note, at)) return { kind: 'unchanged' };
    const next = engine.acknowledge(alertId, by, note, at);
    return next ? { kind: 'version', alert: next } : { kind: 'unchanged' };
  }
  const latest = produced.get(alertId) ?? (await latestAlert(store, alertId));
  if (!latest) {
    return {
      kind: 'refused',
      reason: 'unknown_alert',
      errors: [{ path: 'alertId', message: `no alert ${alertId} is stored` }],
    };
  }
  if (latest.moduleId !== moduleId) return wrongModule(moduleId, latest);
  if (hasAcknowledgement(latest, by, note, at)) return { kind: 'unchanged' };
  return { kind: 'version', alert: acknowledgeAlert(latest, by, note, at) };
}

function wrongModule(moduleId: string, alert: AlertEvent): AckOutcome {
  return {
    kind: 'refused',
    reason: 'wrong_module',
    errors: [
      { path: 'key', message: `alert ${alert.alertId} belongs to ${alert.moduleId}, not ${moduleId}` },
    ],
  };
}
