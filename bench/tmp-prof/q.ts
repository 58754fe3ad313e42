import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create('/tmp/soakC/glasshouse.duckdb', { memory_limit: '512MB' });
const c = await inst.connect();
const ids = Array.from({ length: 50 }, (_, i) => `'soak-${i}'`).join(',');
for (const [name, sql] of [
  ['count alerts', 'SELECT count(*) FROM alerts'],
  ['alerts ranked', `SELECT count(*) FROM (SELECT *, row_number() OVER (PARTITION BY alert_id, version) AS r FROM alerts WHERE module_id IN (${ids})) WHERE r = 1 AND state IN ('pending','firing')`],
  ['alerts ranked rows', `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY alert_id, version) AS r FROM alerts WHERE module_id IN (${ids})) WHERE r = 1 AND state IN ('pending','firing')`],
  ['rollups ranked rows', `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY module_id, rule_id, width_ms, bucket_ms ORDER BY count DESC) AS r FROM rollups WHERE module_id IN (${ids})) WHERE r = 1`],
] as const) {
  const t = performance.now();
  const reader = await c.runAndReadAll(sql);
  const t1 = performance.now();
  const rows = reader.getRowObjectsJS();
  console.log(name, rows.length, 'query', (t1 - t).toFixed(0), 'ms; to JS', (performance.now() - t1).toFixed(0), 'ms');
}
