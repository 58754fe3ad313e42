import { DuckDBInstance } from '@duckdb/node-api';

/**
 * Rows physically stored in a DuckDB file per event id of `metric_events`, counted with plain SQL:
 * no read-time dedup (the Store's `select` keeps one row per key, so it cannot show a duplicate).
 * Open the file only after the store that wrote it has stopped.
 */
export async function storedEventRows(path: string, moduleId?: string): Promise<Map<string, number>> {
  const instance = await DuckDBInstance.create(path);
  try {
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(
        'SELECT event_id, count(*) AS n FROM metric_events' +
          (moduleId === undefined ? '' : ' WHERE module_id = $module') +
          ' GROUP BY event_id',
        moduleId === undefined ? {} : { module: moduleId },
      );
      return new Map(reader.getRowObjectsJS().map((r) => [String(r.event_id), Number(r.n)]));
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
