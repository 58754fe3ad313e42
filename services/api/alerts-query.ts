import { AlertEvent, storedAlert } from '../../schemas/alert.js';
import type { Store } from '../ports/store.js';
import type { Row } from '../ports/tables.js';

/** The latest stored version of each row's alert, from rows holding every version of those alerts. */
export function latestOf(rows: readonly Row<'alerts'>[]): AlertEvent[] {
  const latest = new Map<string, Row<'alerts'>>();
  for (const row of rows) {
    const known = latest.get(row.alert_id);
    if (!known || row.version > known.version) latest.set(row.alert_id, row);
  }
  return [...latest.values()].flatMap((row) => {
    const parsed = AlertEvent.safeParse(row.body);
    return parsed.success ? [parsed.data] : [];
  });
}

/** Every stored version of the given alerts (at most 100,000 versions). */
export async function versionsOf(store: Store, alertIds: readonly string[]): Promise<Row<'alerts'>[]> {
  if (alertIds.length === 0) return [];
  return store.select('alerts', { where: [{ column: 'alert_id', op: 'in', value: [...alertIds] }] });
}

/** The latest version of every alert of these modules that is not resolved. */
export async function openAlerts(store: Store, moduleIds: readonly string[]): Promise<AlertEvent[]> {
  if (moduleIds.length === 0) return [];
  const unresolved = await store.select('alerts', {
    where: [
      { column: 'module_id', op: 'in', value: [...moduleIds] },
      { column: 'state', op: '!=', value: 'resolved' },
    ],
    limit: 10_000,
  });
  const ids = [...new Set(unresolved.map((row) => row.alert_id))];
  return latestOf(await versionsOf(store, ids)).filter((alert) => alert.state !== 'resolved');
}

/**
 * Acknowledgement delays of the alerts of these modules opened since `sinceMs`: for each alert with
 * an acknowledged version, the first acknowledgement time minus openedAt.
 */
export async function acknowledgementDelays(
  store: Store,
  moduleIds: readonly string[],
  sinceMs: number,
): Promise<number[]> {
  if (moduleIds.length === 0) return [];
  const rows = await store.select('alerts', {
    where: [
      { column: 'module_id', op: 'in', value: [...moduleIds] },
      { column: 'opened_ms', op: '>=', value: sinceMs },
    ],
    orderBy: [{ column: 'version', direction: 'asc' }],
    limit: 100_000,
  });
  const first = new Map<string, number>();
  for (const row of rows) {
    if (first.has(row.alert_id)) continue;
    const parsed = AlertEvent.safeParse(row.body);
    if (!parsed.success || parsed.data.acknowledgedBy === undefined) continue;
    const alert = storedAlert(parsed.data);
    first.set(row.alert_id, Math.max(0, (alert.acknowledgedMs ?? alert.updatedMs) - row.opened_ms));
  }
  return [...first.values()];
}
