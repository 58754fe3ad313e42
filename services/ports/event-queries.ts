import { type Store, selectAll } from './store.js';

/**
 * Which of these (module, eventId) pairs the store holds an event of this agency for (any stored
 * copy), as `module eventId` keys: ingest checks that a correction names an event the agency sent.
 */
export async function knownEvents(
  store: Store,
  agencyId: string,
  refs: ReadonlyArray<{ moduleId: string; eventId: string }>,
): Promise<Set<string>> {
  const out = new Set<string>();
  if (refs.length === 0) return out;
  const rows = await selectAll(store, 'metric_events', {
    where: [
      { column: 'agency_id', op: '=', value: agencyId },
      { column: 'module_id', op: 'in', value: [...new Set(refs.map((r) => r.moduleId))] },
      { column: 'event_id', op: 'in', value: [...new Set(refs.map((r) => r.eventId))] },
    ],
    allRows: true,
  });
  for (const row of rows) out.add(`${row.module_id} ${row.event_id}`);
  return out;
}
