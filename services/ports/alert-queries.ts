import { AlertEvent, type AlertEventMs, storedAlert } from '../../schemas/alert.js';
import { type Store, selectAll, selectColumns } from './store.js';

/** Alerts per `IN` list of one read. */
const idsPerRead = 1_000;

/**
 * The latest version of every alert of these modules whose latest state is not `resolved`. The
 * latest version of each alert is found from two small columns; then only the open ones are read
 * whole, their newest version each (an alert may have hundreds of versions: a severity that flaps
 * makes one per change, and only the newest is wanted). An alert that got a newer version between
 * the two reads comes back as the version the first read found.
 */
export async function latestOpenAlerts(store: Store, moduleIds: string[]): Promise<AlertEventMs[]> {
  const latest = await selectColumns(store, 'alerts', ['alert_id', 'version', 'state'], {
    where: [{ column: 'module_id', op: 'in', value: moduleIds }],
    orderBy: [{ column: 'version', direction: 'desc' }],
    firstPer: { columns: ['alert_id'] },
  });
  const open = latest.filter((r) => r.state !== 'resolved');
  const out: AlertEventMs[] = [];
  for (let i = 0; i < open.length; i += idsPerRead) {
    const part = open.slice(i, i + idsPerRead);
    const rows = await selectAll(store, 'alerts', {
      where: [
        { columns: ['alert_id', 'version'], op: 'in', value: part.map((r) => [r.alert_id, r.version]) },
      ],
    });
    for (const row of rows) {
      const parsed = AlertEvent.safeParse(row.body);
      if (parsed.success) out.push(storedAlert(parsed.data));
    }
  }
  return out;
}
