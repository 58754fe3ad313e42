import { AlertEvent, type AlertEventMs, storedAlert } from '../../schemas/alert.js';
import { type Store, selectAll, selectColumns } from './store.js';

/** Alert ids per `IN` list of one read. */
const idsPerRead = 1_000;

/**
 * The latest version of every alert of these modules whose latest state is not `resolved`. The
 * latest version of each alert is found from two small columns; only the open ones are read whole.
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
    const wanted = new Set(part.map((r) => `${r.alert_id} ${r.version}`));
    const rows = await selectAll(store, 'alerts', {
      where: [
        { column: 'alert_id', op: 'in', value: part.map((r) => r.alert_id) },
        { column: 'version', op: 'in', value: [...new Set(part.map((r) => r.version))] },
      ],
    });
    for (const row of rows) {
      if (!wanted.has(`${row.alert_id} ${row.version}`)) continue;
      const parsed = AlertEvent.safeParse(row.body);
      if (parsed.success) out.push(storedAlert(parsed.data));
    }
  }
  return out;
}
