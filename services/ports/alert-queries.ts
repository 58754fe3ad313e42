import { AlertEvent } from '../../schemas/alert.js';
import { type Store, selectAll } from './store.js';
import type { Row } from './tables.js';

/** Alert ids per `IN` list of one read. */
const idsPerRead = 1_000;

/** The latest version of every alert of these modules whose latest state is not `resolved`. */
export async function latestOpenAlerts(store: Store, moduleIds: string[]): Promise<AlertEvent[]> {
  const open = await selectAll(store, 'alerts', {
    where: [
      { column: 'module_id', op: 'in', value: moduleIds },
      { column: 'state', op: 'in', value: ['pending', 'firing'] },
    ],
  });
  const alertIds = [...new Set(open.map((r) => r.alert_id))];
  const latest = new Map<string, Row<'alerts'>>();
  for (let i = 0; i < alertIds.length; i += idsPerRead) {
    const versions = await selectAll(store, 'alerts', {
      where: [{ column: 'alert_id', op: 'in', value: alertIds.slice(i, i + idsPerRead) }],
    });
    for (const row of versions) {
      const seen = latest.get(row.alert_id);
      if (!seen || row.version > seen.version) latest.set(row.alert_id, row);
    }
  }
  const out: AlertEvent[] = [];
  for (const row of latest.values()) {
    if (row.state === 'resolved') continue;
    const parsed = AlertEvent.safeParse(row.body);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}
