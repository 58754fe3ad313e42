import type { StoredEvent } from '../core/stats/vintages.js';
import { type Store, selectAll } from '../ports/store.js';
import type { Row } from '../ports/tables.js';
import { limitExceeded } from './bounds.js';

/** Most corrections of one module (and metric) a history or revisions read takes. */
export const maxCorrections = 10_000;

export function storedEvent(row: Row<'metric_events'>): StoredEvent {
  return {
    agencyId: row.agency_id,
    eventId: row.event_id,
    value: row.value,
    observedMs: row.observed_ms,
    receivedMs: row.received_ms,
    supersedes: row.supersedes,
    retract: row.retract,
  };
}

/** A module's corrections (optionally of one metric) and the versions they replaced, by `agency eventId`. */
export async function correctionsOf(
  store: Store,
  moduleId: string,
  metric?: string,
): Promise<{ corrections: Row<'metric_events'>[]; replaced: Map<string, Row<'metric_events'>> }> {
  const corrections = await store.select('metric_events', {
    where: [
      { column: 'module_id', op: '=', value: moduleId },
      { column: 'supersedes', op: '!=', value: '' },
      ...(metric === undefined ? [] : [{ column: 'metric', op: '=', value: metric } as const]),
    ],
    orderBy: [{ column: 'received_ms', direction: 'desc' }],
    limit: maxCorrections + 1,
  });
  if (corrections.length > maxCorrections)
    throw limitExceeded(
      'historyBuckets',
      maxCorrections,
      corrections.length,
      'too many corrections to replay',
    );
  const replaced = new Map<string, Row<'metric_events'>>();
  const ids = [...new Set(corrections.map((c) => c.supersedes))];
  for (let i = 0; i < ids.length; i += 1_000) {
    const rows = await selectAll(store, 'metric_events', {
      where: [
        { column: 'module_id', op: '=', value: moduleId },
        { column: 'event_id', op: 'in', value: ids.slice(i, i + 1_000) },
      ],
    });
    for (const r of rows) replaced.set(`${r.agency_id} ${r.event_id}`, r);
  }
  return { corrections, replaced };
}
