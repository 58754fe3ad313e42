import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/**
 * Plain SQL over a DuckDB file's `metric_events`, with no read-time dedup (the Store's `select` keeps
 * one row per key, so it cannot show an event written twice). Open the file only after the store
 * that wrote it has stopped.
 */
async function withFile<T>(path: string, work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(path);
  try {
    const connection = await instance.connect();
    try {
      return await work(connection);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Rows physically stored per event id (optionally of one module). */
export function storedEventRows(path: string, moduleId?: string): Promise<Map<string, number>> {
  return withFile(path, async (c) => {
    const reader = await c.runAndReadAll(
      'SELECT event_id, count(*) AS n FROM metric_events' +
        (moduleId === undefined ? '' : ' WHERE module_id = $module') +
        ' GROUP BY event_id',
      moduleId === undefined ? {} : { module: moduleId },
    );
    return new Map(reader.getRowObjectsJS().map((r) => [String(r.event_id), Number(r.n)]));
  });
}

/** Every stored row of the events of a module that have more than one row, by event id. */
export function repeatedEventRows(
  path: string,
  moduleId: string,
): Promise<Map<string, Array<Record<string, unknown>>>> {
  return withFile(path, async (c) => {
    const reader = await c.runAndReadAll(
      'SELECT * FROM metric_events WHERE module_id = $module AND event_id IN ' +
        '(SELECT event_id FROM metric_events WHERE module_id = $module GROUP BY event_id HAVING count(*) > 1) ' +
        'ORDER BY event_id, received_ms',
      { module: moduleId },
    );
    const out = new Map<string, Array<Record<string, unknown>>>();
    for (const row of reader.getRowObjectsJS()) {
      const id = String(row.event_id);
      out.set(id, [...(out.get(id) ?? []), row]);
    }
    return out;
  });
}

/**
 * The corrected set of a module's events, in plain SQL (no Glasshouse code): one row per key, no
 * retraction, no version that a stored correction names in `supersedes`. Count and sum of values.
 */
export function correctedTotals(path: string, moduleId: string): Promise<{ count: number; sum: number }> {
  return withFile(path, async (c) => {
    const reader = await c.runAndReadAll(
      'SELECT count(*) AS n, coalesce(sum(value), 0) AS s FROM (' +
        'SELECT DISTINCT ON (agency_id, event_id) agency_id, event_id, value, retract FROM metric_events ' +
        'WHERE module_id = $module) e WHERE NOT e.retract AND NOT EXISTS (' +
        'SELECT 1 FROM metric_events c WHERE c.module_id = $module AND c.agency_id = e.agency_id ' +
        'AND c.supersedes = e.event_id)',
      { module: moduleId },
    );
    const [row] = reader.getRowObjectsJS();
    return { count: Number(row?.n ?? 0), sum: Number(row?.s ?? 0) };
  });
}
