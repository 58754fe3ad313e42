import { type AlertAckCommand, AlertEvent, type AlertEventMs, storedAlert } from '../../schemas/alert.js';
import type { IssueDetail } from '../../schemas/common.js';
import { acknowledgeAlert, type Engine, hasAcknowledgement } from '../core/performance/index.js';
import { maxSelectRows, type Store } from '../ports/store.js';

export type AckOutcome =
  | { kind: 'version'; alert: AlertEventMs }
  | { kind: 'unchanged' }
  | { kind: 'refused'; reason: 'unknown_alert' | 'wrong_module'; errors: IssueDetail[] };

/**
 * Applies one `alert.ack` command of module `moduleId`. The processor is the only writer of alert
 * versions, so the acknowledged version is numbered after every version it made before:
 *
 * - an alert the engine holds open is acknowledged in the engine (later versions, e.g. the resolve,
 *   keep acknowledgedBy, acknowledgedMs and note);
 * - any other (a resolved one) gets `acknowledgeAlert(latest)`, where latest is the newest version
 *   this batch already produced, else the newest stored one (a batch with commands waits for the
 *   partition's earlier outputs to be written before it reads, so the store is current for it);
 * - a command some version already carries (same overseer, note and time) changes nothing: a replay
 *   after a restart, of this command or of older ones followed by newer, makes no version.
 *
 * `stored` holds the stored versions of this alert, read by `storedAlertVersions` before the batch
 * touched the engine (so nothing here can fail after the engine took the batch's events); `produced`
 * holds the versions this batch made so far, by alert id. The caller records the result.
 */
export function applyAcknowledgement(
  engine: Engine,
  stored: readonly AlertEventMs[],
  moduleId: string,
  command: AlertAckCommand,
  produced: ReadonlyMap<string, AlertEventMs>,
): AckOutcome {
  const { alertId, by, note, at } = command;
  const inBatch = produced.get(alertId);
  const open = engine.openAlert(alertId);
  const known = [...stored, ...(inBatch ? [inBatch] : []), ...(open ? [open] : [])];
  const latest = known.reduce<AlertEventMs | undefined>(
    (a, b) => (a && a.version >= b.version ? a : b),
    undefined,
  );
  if (!latest) {
    return {
      kind: 'refused',
      reason: 'unknown_alert',
      errors: [{ path: 'alertId', message: `no alert ${alertId} is stored` }],
    };
  }
  if (latest.moduleId !== moduleId) return wrongModule(moduleId, latest);
  if (known.some((v) => hasAcknowledgement(v, by, note, at))) return { kind: 'unchanged' };
  if (open) {
    const next = engine.acknowledge(alertId, by, note, at);
    if (next) return { kind: 'version', alert: next };
  }
  return { kind: 'version', alert: acknowledgeAlert(latest, by, note, at) };
}

function wrongModule(moduleId: string, alert: AlertEventMs): AckOutcome {
  return {
    kind: 'refused',
    reason: 'wrong_module',
    errors: [
      { path: 'key', message: `alert ${alert.alertId} belongs to ${alert.moduleId}, not ${moduleId}` },
    ],
  };
}

/**
 * Every stored version of these alerts, by alert id (an alert has a handful; the cap only bounds a
 * pathological one). One read for all the acknowledgements of a batch.
 */
export async function storedAlertVersions(
  store: Store,
  alertIds: readonly string[],
): Promise<Map<string, AlertEventMs[]>> {
  const out = new Map<string, AlertEventMs[]>();
  if (alertIds.length === 0) return out;
  const rows = await store.select('alerts', {
    where: [{ column: 'alert_id', op: 'in', value: [...new Set(alertIds)] }],
    orderBy: [{ column: 'version', direction: 'desc' }],
    limit: maxSelectRows,
  });
  for (const row of rows) {
    const parsed = AlertEvent.safeParse(row.body);
    if (parsed.success) out.set(row.alert_id, [...(out.get(row.alert_id) ?? []), storedAlert(parsed.data)]);
  }
  return out;
}
