import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { PolicyModuleInput } from '../../schemas/registry.js';
import {
  Engine,
  mergeRollupRows,
  type RollupRow,
  rollupKeyOf,
} from '../../services/core/performance/index.js';
import type { Clock } from '../../services/ports/clock.js';
import type { Store } from '../../services/ports/store.js';
import type { Row } from '../../services/ports/tables.js';
import { updateRow } from '../../services/processor/outputs.js';
import { FixtureRegistry } from './registry-fixture.js';

/**
 * A module with one rule of each kind the check treats differently: a mean (sum tolerance), a p95
 * (sketch error), a last (tie rule), and a max constraint over 24h windows (24-minute buckets, so
 * each holds about 200,000 events of a million spread over two hours).
 */
export function groundTruthModule(id: string): PolicyModuleInput {
  const goal = { metric: 'wait_minutes', unit: 'min', direction: 'decrease', target: 50, tolerance: 0.1 };
  return {
    id,
    domain: 'health',
    title: `Module ${id}`,
    owner: 'ada',
    agencies: ['clinic-agency'],
    goals: [
      { ...goal, id: 'mean', window: '1h', aggregation: 'mean', minSamples: 1, hold: '0s' },
      { ...goal, id: 'p95', window: '1h', aggregation: 'p95', minSamples: 1, hold: '0s' },
      { ...goal, id: 'latest', window: '10m', aggregation: 'last', minSamples: 1, hold: '0s' },
    ],
    constraints: [
      { id: 'peak', metric: 'wait_minutes', op: '<=', bound: 1000, window: '24h', aggregation: 'max' },
    ],
  } as PolicyModuleInput;
}

export interface Loaded {
  events: number;
  late: number;
  rollups: number;
  /** The rollup rows as written, by key (for altering one). */
  rows: Map<string, RollupRow>;
  /** Time to run the engine over the events and store its rows. */
  ms: number;
}

/**
 * The events, as one generator written twice: `eventAt(i)` here for the engine, `eventsSql` for the
 * store's bulk insert (a million rows through the driver would take most of a test's time). Any
 * disagreement between the two shows as differences in the check.
 *
 * Event times: three events per 20 ms over about two hours (ties on observedAt, settled by eventId,
 * where `e10` sorts before `e9`); every 997th event (but the first) is 3 h old (late: it restates a
 * stored bucket) and every other 101st is 10 s old (out of order, inside the lateness: it corrects a
 * live bucket). Values have plenty of distinct magnitudes, some negative, many repeated.
 */
export const t0 = Date.UTC(2026, 0, 5, 8, 0, 0);

function eventAt(i: number): { eventId: string; observedAt: number; value: number; late: boolean } {
  const late = i % 997 === 0 && i > 0;
  const shift = late ? 3 * 3_600_000 : i % 101 === 0 ? 10_000 : 0;
  return {
    eventId: `e${i}`,
    observedAt: t0 + Math.floor(i / 3) * 20 - shift,
    value: ((i * 7919) % 100_003) / 100 - 50 + (i % 7 === 0 ? 0.1 : 0),
    late,
  };
}

/** `INSERT ... SELECT` of the `n` events of `eventAt` into metric_events, from the dialect's number table. */
export function eventsSql(
  dialect: 'clickhouse' | 'duckdb',
  moduleId: string,
  n: number,
  version = 1,
): string {
  const late = '(i % 997 = 0 AND i > 0)';
  if (dialect === 'clickhouse') {
    const observed = `toInt64(${t0} + intDiv(i, 3) * 20 - if(${late}, 10800000, if(i % 101 = 0, 10000, 0)))`;
    return (
      'INSERT INTO metric_events (module_id, agency_id, event_id, metric, value, observed_ms, received_ms, ' +
      'dimensions, late, module_version, observed_at) ' +
      `SELECT '${moduleId}', 'clinic-agency', concat('e', toString(i)), 'wait_minutes', ` +
      'toFloat64((i * 7919) % 100003) / 100 - 50 + if(i % 7 = 0, 0.1, 0.), ' +
      `${observed}, ${observed} + 50, 'null', toUInt8(${late}), ${version}, toDateTime(intDiv(${observed}, 1000)) ` +
      `FROM (SELECT number AS i FROM numbers(${n}))`
    );
  }
  const observed = `CAST(${t0} + (i // 3) * 20 - CASE WHEN ${late} THEN 10800000 WHEN i % 101 = 0 THEN 10000 ELSE 0 END AS BIGINT)`;
  return (
    'INSERT INTO metric_events (module_id, agency_id, event_id, metric, value, observed_ms, received_ms, ' +
    `dimensions, late, module_version) SELECT '${moduleId}', 'clinic-agency', 'e' || CAST(i AS VARCHAR), 'wait_minutes', ` +
    'CAST((i * 7919) % 100003 AS DOUBLE) / CAST(100 AS DOUBLE) - CAST(50 AS DOUBLE) + ' +
    'CASE WHEN i % 7 = 0 THEN CAST(0.1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END, ' +
    `${observed}, ${observed} + 50, 'null', ${late}, ${version} FROM (SELECT range AS i FROM range(${n}))`
  );
}

/**
 * Runs the real Engine over the `n` events of `eventAt`, in chunks as the processor gets batches, and
 * stores the rollup rows and latest update per goal as the processor would have written them: full
 * rows replace the kept row of their key, partial rows (buckets outside the live windows) merge into
 * it, then every kept row is inserted. Throws if the engine calls an event late that the generator
 * did not (the raw rows' late flag comes from the generator).
 */
export async function storeEngineRows(
  store: Store,
  moduleId: string,
  n: number,
  chunk = 50_000,
): Promise<Loaded> {
  const started = Date.now();
  const [module] = new FixtureRegistry({ modules: [groundTruthModule(moduleId)] }).modules();
  await store.insert('module_versions', [
    {
      module_id: module!.id,
      version: module!.version,
      updated_ms: Date.parse(module!.updatedAt),
      body: module,
    },
  ]);
  let now = t0;
  const clock: Clock = { now: () => now };
  const engine = new Engine({ clock, coalesceMs: 0 });
  engine.setModule(module!);
  const rows = new Map<string, RollupRow>();
  const latest = new Map<string, Row<'performance_updates'>>();
  let late = 0;
  for (let start = 0; start < n; start += chunk) {
    for (let i = start; i < Math.min(n, start + chunk); i += 1) {
      const e = eventAt(i);
      now = Math.max(now, e.observedAt + 50);
      const result = engine.ingest({
        eventId: e.eventId,
        agencyId: 'clinic-agency',
        moduleId,
        metric: 'wait_minutes',
        value: e.value,
        observedAt: e.observedAt,
        receivedAt: now,
      });
      if (result !== (e.late ? 'late' : 'accepted'))
        throw new Error(`engine said ${result} for ${e.eventId}`);
      if (e.late) late += 1;
    }
    collect(engine.evaluate(now), rows, latest);
  }
  now += 1_000;
  collect(engine.evaluate(now), rows, latest);
  const all = [...rows.values()];
  for (let i = 0; i < all.length; i += 10_000) await store.insert('rollups', all.slice(i, i + 10_000));
  await store.insert('performance_updates', [...latest.values()]);
  return { events: n, late, rollups: rows.size, rows, ms: Date.now() - started };
}

function collect(
  evaluation: ReturnType<Engine['evaluate']>,
  rows: Map<string, RollupRow>,
  latest: Map<string, Row<'performance_updates'>>,
): void {
  for (const row of evaluation.rollups) {
    const key = rollupKeyOf(row);
    const kept = rows.get(key);
    if (!kept || row.count >= kept.count) rows.set(key, row);
  }
  for (const partial of evaluation.rollupMerges) {
    const key = rollupKeyOf(partial);
    rows.set(key, mergeRollupRows(rows.get(key), partial));
  }
  for (const update of evaluation.updates) {
    const row = updateRow(update, update.asOfMs);
    const kept = latest.get(row.goal_id);
    if (!kept || row.as_of_ms >= kept.as_of_ms) latest.set(row.goal_id, row);
  }
}

const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * Runs `work` and reports its wall time and how far the JavaScript heap grew above what it was
 * after a full collection before it started (sampled every 5 ms, and at the end).
 */
export async function measured<T>(
  work: () => Promise<T>,
): Promise<{ result: T; ms: number; heapGrowthMb: number; rssMb: number }> {
  collectGarbage();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  let peakRss = process.memoryUsage().rss;
  const sample = () => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  };
  const timer = setInterval(sample, 5);
  const started = performance.now();
  try {
    const result = await work();
    sample();
    return {
      result,
      ms: performance.now() - started,
      heapGrowthMb: (peak - base) / 2 ** 20,
      rssMb: peakRss / 2 ** 20,
    };
  } finally {
    clearInterval(timer);
  }
}

/** Window lengths whose bucket geometry the store's SQL and the engine must agree on. */
export const geometryWindows: number[] = [
  0, 1, 2, 13, 59, 60, 61, 97, 119, 120, 121, 997, 1_000, 7_000, 10_000, 59_999, 60_000, 61_000, 7_919_000,
  300_000, 3_600_000, 86_400_000, 604_800_000, 2_592_000_000, 1_000_003, 123_457, 14_400_001,
];
