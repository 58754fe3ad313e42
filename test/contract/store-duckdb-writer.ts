// Child process for the SIGKILL durability test: inserts, reports, then idles until killed.
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';

const [path, count] = process.argv.slice(2);
const store = new DuckDbStore({ path: path! });
await store.start();
await store.migrate();
const rows = Array.from({ length: Number(count) }, (_, i) => ({
  module_id: 'killed',
  agency_id: 'a',
  event_id: `e${i}`,
  metric: 'm',
  value: i / 7,
  observed_ms: 1_700_000_000_000 + i,
  received_ms: 1_700_000_000_000 + i,
  dimensions: { i: String(i) },
  late: false,
  module_version: 1,
  supersedes: '',
  retract: false,
  note: '',
}));
await store.insert('metric_events', rows);
await store.insert('metric_events', rows);
process.stdout.write('inserted\n');
setInterval(() => {}, 60_000);
