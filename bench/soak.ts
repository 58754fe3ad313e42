/**
 * Soak: the processor role for a simulated day and more, to show that its memory is bounded and that a
 * restart restores it in bounded time.
 *
 * The processor (the real classes, with the real bus and store adapters: by default the standalone
 * durable in-process bus and a DuckDB file; with `--kafka`, Kafka and ClickHouse) consumes
 * `metrics.raw` at a sustained `--rate` records per wall second (5,000) for `--modules` modules (1,000,
 * each with a mean, a count and a p95 goal), driven by an injected clock that runs `--hours` simulated
 * hours (26) in `--minutes` of wall time (9.5): about 164× faster than the wall, so dedup retention,
 * windows, ticks and restore all see a day go by. Records are published straight to `metrics.raw` as
 * ingest does (one publish per batch, the `glasshouse-agency` header), observedAt from the simulated
 * clock with a little jitter; 0.2% are late (behind the watermark), and resends exercise dedup: 0.5%
 * of the events again within two simulated minutes, some 1 h, 12 h and 25 h later.
 *
 * It prints resident memory (after a forced GC) at the first simulated hour, every few hours and at the
 * end; then stops the processor, bus and store, starts new ones on the same data and prints the time
 * until the processor is ready (what /readyz waits for: store, bus, topics, the group joined and every
 * owned module restored), resends a sample of earlier events, and checks in the store with plain SQL
 * that every distinct event was stored once and counted once by every goal's rollups (so the bench
 * cannot pass by dropping events or pass while counting a resend twice). Last line:
 *
 *   soak: R MiB at end (x.xx of first hour), restore S s, N events
 *
 * Targets: end at most 1.2× the first hour, under 1 GiB, restore under 10 s, every event exactly once.
 *
 *   node --expose-gc --import tsx bench/soak.ts [--kafka] [--hours 26] [--minutes 9.5] [--rate 5000] [--modules 1000] [--data dir]
 *
 * With `--kafka`, a local Kafka and ClickHouse are started (as the tests do) unless
 * GLASSHOUSE_KAFKA_BROKERS and GLASSHOUSE_CLICKHOUSE_URL name running ones; their memory is their own
 * processes', so the figure is the processor's alone. Standalone, DuckDB runs in this process and its
 * buffers count in the resident memory, as they do in a standalone deployment.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startLocalClickHouse } from '../infra/clickhouse/local.js';
import { startLocalKafka } from '../infra/kafka/local.js';
import { agencyHeader } from '../schemas/metric-event.js';
import type { PolicyModuleInput } from '../schemas/registry.js';
import { ClickHouseStore } from '../services/adapters/clickhouse/index.js';
import { physicalTable } from '../services/adapters/clickhouse/tables.js';
import { DuckDbStore } from '../services/adapters/duckdb/index.js';
import { KafkaBus } from '../services/adapters/kafka/index.js';
import { MemoryBus } from '../services/adapters/memory/index.js';
import type { Bus, OutgoingRecord } from '../services/ports/bus.js';
import type { Clock } from '../services/ports/clock.js';
import type { Store } from '../services/ports/store.js';
import { Topics, topicSpecs } from '../services/ports/topics.js';
import { ProcessorMetrics } from '../services/processor/metrics.js';
import { Processor } from '../services/processor/processor.js';
import { loadConfig } from '../services/runtime/config.js';
import { boundHeapGrowth } from '../services/runtime/heap.js';
import { FixtureRegistry } from '../test/support/registry-fixture.js';

// As every deployment runs (`npm start`, docker-compose.yml, README "Running"): glibc's malloc keeps
// at most two arenas. Without it, each thread that allocates (V8's GC helpers, libuv's pool) gets an
// arena of its own that keeps what was freed in it.
if (process.env.MALLOC_ARENA_MAX === undefined) {
  const run = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
  process.exit(run.status ?? 1);
}
// As bin/glasshouse.js runs every deployment.
boundHeapGrowth();

const { values: args } = parseArgs({
  options: {
    kafka: { type: 'boolean', default: false },
    hours: { type: 'string', default: '26' },
    minutes: { type: 'string', default: '9.5' },
    rate: { type: 'string', default: '5000' },
    modules: { type: 'string', default: '1000' },
    /** Standalone: keep the bus log and DuckDB file in this directory (to inspect them afterwards). */
    data: { type: 'string' },
  },
});
const simHours = positive('hours');
const wallMinutes = positive('minutes');
const rate = positive('rate');
const moduleCount = Math.round(positive('modules'));
const speed = (simHours * 60) / wallMinutes;
const hourMs = 3_600_000;
const agency = 'soak-agency';
const tickMs = 50;
/** How long a start may take to restore every module before the bench gives up waiting. */
const restoreTimeoutMs = 60_000;

function positive(name: keyof typeof args): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`--${name} must be a positive number, got ${args[name]}`);
  return v;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/**
 * Modules restored so far, from the processor's own log ("module state restored" names them): a
 * restore that fails on assignment is retried by later batches and ticks, so the start having
 * returned does not mean every module is restored. Warnings and errors go to stderr.
 */
const restored = new Set<string>();
const logger = pino(
  { level: 'info' },
  {
    write(line: string) {
      const entry = JSON.parse(line) as { level: number; msg?: string; modules?: string[] };
      if (entry.msg === 'module state restored') for (const id of entry.modules ?? []) restored.add(id);
      else if (entry.level >= 40) process.stderr.write(line);
    },
  },
);

/**
 * Simulated time: `speed` simulated ms per wall ms from a start `hours` in the past, so the run ends
 * near the real time. The speed can change (rebased at the current reading, so time never steps back).
 */
class SimClock implements Clock {
  private baseSim: number;
  private baseWall = performance.now();
  constructor(
    start: number,
    private speed: number,
  ) {
    this.baseSim = start;
  }
  /** Simulated ms per wall ms. */
  get pace(): number {
    return this.speed;
  }
  now(): number {
    return Math.floor(this.baseSim + (performance.now() - this.baseWall) * this.speed);
  }
  setSpeed(speed: number): void {
    this.baseSim = this.now();
    this.baseWall = performance.now();
    this.speed = speed;
  }
}

/** A mean (1 h), a count (24 h) and a p95 (1 h) goal on one metric; targets spread so statuses vary. */
function moduleOf(i: number): PolicyModuleInput {
  const goal = (id: string, aggregation: 'mean' | 'count' | 'p95', window: string, target: number) => ({
    id,
    metric: 'wait_minutes',
    unit: 'min',
    direction: 'decrease' as const,
    target,
    tolerance: 0.1,
    window,
    aggregation,
    minSamples: 5,
    hold: '5m',
  });
  return {
    id: `soak-${i}`,
    domain: 'soak',
    title: `Soak module ${i}`,
    owner: 'ada',
    agencies: [agency],
    goals: [
      goal('mean', 'mean', '1h', 25 + (i % 20)),
      goal('count', 'count', '24h', 1e9),
      goal('p95', 'p95', '1h', 50 + (i % 15)),
    ],
  };
}

const registry = new FixtureRegistry({ modules: Array.from({ length: moduleCount }, (_, i) => moduleOf(i)) });

interface Setup {
  open(clock: Clock): Promise<{ bus: Bus; store: Store }>;
  /** Plain SQL over the stored rows, after every store of the run has stopped. */
  check(): Promise<StoredCounts>;
  close(): Promise<void>;
}

interface StoredCounts {
  rows: number;
  distinct: number;
  late: number;
  /** Per rule: the sum over buckets of the newest rollup row's count (the row that wins). */
  rollupCounts: Map<string, number>;
}

const countsSql = {
  rows: 'SELECT count(*) AS n FROM metric_events',
  distinct:
    'SELECT count(*) AS n FROM (SELECT module_id, agency_id, event_id FROM metric_events GROUP BY module_id, agency_id, event_id)',
  late: 'SELECT count(*) AS n FROM (SELECT module_id, agency_id, event_id FROM metric_events WHERE late GROUP BY module_id, agency_id, event_id)',
  // ClickHouse keeps the catalog's rollups in another table (services/adapters/clickhouse/tables.ts).
  rollups: (table: string) =>
    `SELECT rule_id, sum(c) AS n FROM (SELECT rule_id, argMax("count", updated_ms) AS c FROM ${table} GROUP BY module_id, rule_id, width_ms, bucket_ms) AS b GROUP BY rule_id`,
};

async function standaloneSetup(): Promise<Setup> {
  const dir = args.data ?? (await mkdtemp(join(tmpdir(), 'gh-soak-')));
  const path = join(dir, 'glasshouse.duckdb');
  // The store's limits as a standalone deployment configures them (GLASSHOUSE_DUCKDB_*).
  const config = loadConfig(process.env);
  return {
    // As runtime/adapters.ts builds them for the standalone deployment.
    open: async (clock) => ({
      bus: new MemoryBus({ dataDir: join(dir, 'bus'), logger, maxBatchSize: 2_000, clock }),
      store: new DuckDbStore({
        path,
        logger,
        memoryLimit: config.duckdbMemory,
        threads: config.duckdbThreads,
      }),
    }),
    check: async () => {
      const instance = await DuckDBInstance.create(path);
      const c = await instance.connect();
      try {
        const one = async (sql: string) => Number((await c.runAndReadAll(sql)).getRowObjectsJS()[0]?.n ?? 0);
        const rollups = (await c.runAndReadAll(countsSql.rollups('rollups'))).getRowObjectsJS();
        return {
          rows: await one(countsSql.rows),
          distinct: await one(countsSql.distinct),
          late: await one(countsSql.late),
          rollupCounts: new Map(rollups.map((r) => [String(r.rule_id), Number(r.n)])),
        };
      } finally {
        c.closeSync();
        instance.closeSync();
      }
    },
    close: async () => {
      if (!args.data) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function kafkaSetup(): Promise<Setup> {
  const localKafka = process.env.GLASSHOUSE_KAFKA_BROKERS ? undefined : await startLocalKafka();
  const localClickHouse = process.env.GLASSHOUSE_CLICKHOUSE_URL ? undefined : await startLocalClickHouse();
  const brokers = (process.env.GLASSHOUSE_KAFKA_BROKERS ?? localKafka!.brokers).split(',');
  const url = process.env.GLASSHOUSE_CLICKHOUSE_URL ?? localClickHouse!.url;
  const suffix = randomBytes(4).toString('hex');
  const database = `bench_soak_${suffix}`;
  return {
    open: async () => ({
      bus: new KafkaBus({ brokers, clientId: 'bench-soak', topicPrefix: `bench-soak-${suffix}`, logger }),
      store: new ClickHouseStore({ url, database, logger }),
    }),
    check: async () => {
      const client = createClient({ url, database });
      try {
        const all = async (sql: string) =>
          (await (
            await client.query({
              query: sql,
              format: 'JSONEachRow',
              // A day's events and rollups grouped by key outgrow a small server's per-query memory
              // limit: the grouping spills to disk instead.
              clickhouse_settings: { max_bytes_before_external_group_by: '300000000' },
            })
          ).json()) as Array<Record<string, unknown>>;
        const one = async (sql: string) => Number((await all(sql))[0]?.n ?? 0);
        const rollups = await all(countsSql.rollups(physicalTable('rollups')));
        return {
          rows: await one(countsSql.rows),
          distinct: await one(countsSql.distinct),
          late: await one(countsSql.late),
          rollupCounts: new Map(rollups.map((r) => [String(r.rule_id), Number(r.n)])),
        };
      } finally {
        await client.close();
      }
    },
    close: async () => {
      await localKafka?.stop();
      await localClickHouse?.stop();
    },
  };
}

interface Running {
  bus: Bus;
  store: Store;
  processor: Processor;
  metrics: ProcessorMetrics;
}

/** Starts store, bus, topics, migrations and the processor in the order of services/main.ts. */
async function startProcessor(
  setup: Setup,
  clock: SimClock,
): Promise<Running & { phases: string; complete: boolean }> {
  const t0 = performance.now();
  const { bus, store } = await setup.open(clock);
  await store.start();
  await bus.start();
  await bus.ensureTopics(topicSpecs);
  await store.migrate();
  const t1 = performance.now();
  const metrics = new ProcessorMetrics(new Registry());
  const processor = new Processor({
    bus,
    store,
    registry,
    clock,
    logger,
    metrics,
    commandKey: randomBytes(32),
    // Paced by simulated time, the engine would publish `speed` times more updates per wall second
    // than at the wall clock's pace: coalesce per wall second, as a deployment does.
    engine: { coalesceMs: Math.max(1_000, Math.round(1_000 * clock.pace)) },
  });
  restored.clear();
  // Resolves once the group is joined and the owned modules' restore was tried (onAssign); a restore
  // that failed there is retried by the next batch or tick, so wait for every module.
  await processor.start();
  const t2 = performance.now();
  const deadline = t2 + restoreTimeoutMs;
  while (
    (restored.size < moduleCount ||
      processor.health().state !== 'ok' ||
      bus.health().state !== 'ok' ||
      store.health().state !== 'ok') &&
    performance.now() < deadline
  )
    await sleep(5);
  const t3 = performance.now();
  const complete = restored.size >= moduleCount;
  return {
    bus,
    store,
    processor,
    metrics,
    phases:
      `store and bus ${((t1 - t0) / 1000).toFixed(2)} s, processor start ${((t2 - t1) / 1000).toFixed(2)} s, ` +
      (complete
        ? `every module restored ${((t3 - t2) / 1000).toFixed(2)} s later`
        : `only ${restored.size} of ${moduleCount} modules restored ${((t3 - t2) / 1000).toFixed(0)} s later`),
    complete,
  };
}

async function stopProcessor(r: Running): Promise<void> {
  await r.processor.stop();
  await r.bus.stop();
  await r.store.stop();
}

/** True when `work` settled within `ms` (a failure counts as settled: it is not waited on further). */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = work.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Memory {
  rss: number;
  heap: number;
  /** The JavaScript heap as reserved from the system (what of it counts in `rss`). */
  heapTotal: number;
  external: number;
  /** What DuckDB's buffer manager holds (standalone only). */
  duckdb?: number;
}

async function memory(store?: Store): Promise<Memory> {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const mib = (n: number) => n / 2 ** 20;
  const duckdb = store instanceof DuckDbStore ? mib(await store.memoryBytes()) : undefined;
  return {
    rss: mib(m.rss),
    heap: mib(m.heapUsed),
    heapTotal: mib(m.heapTotal),
    external: mib(m.external),
    ...(duckdb === undefined ? {} : { duckdb }),
  };
}

/** Resident memory, and what of it is the JavaScript heap, buffers and DuckDB (the rest: native). */
function describe(m: Memory): string {
  const duckdb = m.duckdb === undefined ? '' : `, duckdb ${m.duckdb.toFixed(0)} MiB`;
  return `${m.rss.toFixed(0)} MiB resident (heap ${m.heap.toFixed(0)} of ${m.heapTotal.toFixed(0)} MiB, buffers ${m.external.toFixed(0)} MiB${duckdb})`;
}

async function outcomes(m: ProcessorMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await m.records.get()).values) out[String(v.labels.outcome)] = v.value;
  return out;
}

async function outputs(m: ProcessorMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await m.outputs.get()).values) out[String(v.labels.kind)] = v.value;
  return out;
}

/** Pairs held in the dedup memory, and events looked up in the store for dedup so far. */
async function dedup(m: ProcessorMetrics): Promise<string> {
  const held = (await m.dedupMemory.get()).values[0]?.value ?? 0;
  const lookups = (await m.dedupLookups.get()).values[0]?.value ?? 0;
  return `dedup memory ${held} ids, ${lookups} store lookups`;
}

async function written(m: ProcessorMetrics): Promise<number> {
  return (await m.outputs.get()).values.find((v) => v.labels.kind === 'metric_events')?.value ?? 0;
}

/** Waits until the processor has taken `records` records and written every row it made. */
async function drained(r: Running, records: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = await outcomes(r.metrics);
    const taken = Object.values(o).reduce((a, b) => a + b, 0);
    const stored = (o.accepted ?? 0) + (o.late ?? 0);
    const lagging = (await r.metrics.lag.get()).values.some((v) => v.value > 0);
    if (taken >= records && (await written(r.metrics)) >= stored && !lagging) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** The records of the run: fresh events, late ones, and resends of earlier ones. */
class Load {
  fresh = 0;
  late = 0;
  resent = 0;
  /** Resends by wall tick they are due at. */
  private readonly due = new Map<number, OutgoingRecord[]>();
  /** The first tick whose resends have not been taken yet. */
  private nextDue = 0;
  /** A sample of fresh records (1 in 5,000), resent after the restart. */
  readonly sample: OutgoingRecord[] = [];
  private readonly runId = randomBytes(4).toString('hex');

  constructor(private readonly clock: SimClock) {}

  /** The records of wall tick `tick`: resends due then, and fresh events up to `count` in all. */
  records(tick: number, count: number, lastTick: number): OutgoingRecord[] {
    const out: OutgoingRecord[] = [];
    for (; this.nextDue <= tick; this.nextDue++) {
      out.push(...(this.due.get(this.nextDue) ?? []));
      this.due.delete(this.nextDue);
    }
    this.resent += out.length;
    const now = this.clock.now();
    while (out.length < count) {
      const seq = this.fresh++;
      const moduleId = `soak-${seq % moduleCount}`;
      const value = 5 + ((seq * 7919) % 61);
      let observedAt = now - ((seq * 31) % 2_000);
      // Behind the watermark (the newest observedAt of the module minus 30 s): restates history.
      if (seq % 500 === 7) {
        observedAt = now - 60_000 - ((seq * 13) % 600_000);
        this.late++;
      }
      const record: OutgoingRecord = {
        key: moduleId,
        value: JSON.stringify({
          eventId: `${this.runId}-${seq.toString(36).padStart(8, '0')}`,
          moduleId,
          metric: 'wait_minutes',
          value,
          observedAt,
        }),
        headers: { [agencyHeader]: agency },
      };
      out.push(record);
      if (seq % 5_000 === 1) this.sample.push(record);
      // Resends: an agency retrying after a lost answer (soon), or after an outage of its own (hours).
      const delays: number[] = [];
      if (seq % 200 === 3) delays.push(1_000 + ((seq * 17) % 119_000));
      if (seq % 2_000 === 11) delays.push(hourMs);
      if (seq % 5_000 === 13) delays.push(12 * hourMs);
      if (seq % 10_000 === 17) delays.push(25 * hourMs);
      for (const d of delays) {
        const at = tick + Math.ceil(d / speed / tickMs);
        if (at > lastTick) continue;
        const list = this.due.get(at) ?? [];
        list.push(record);
        this.due.set(at, list);
      }
    }
    return out;
  }
}

async function main(): Promise<void> {
  const setup = args.kafka ? await kafkaSetup() : await standaloneSetup();
  // Interrupted: still stop the local Kafka and ClickHouse and remove the data.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void setup.close().finally(() => process.exit(130)));
  try {
    await run(setup);
  } finally {
    await setup.close();
  }
}

async function run(setup: Setup): Promise<void> {
  const clock = new SimClock(Date.now() - simHours * hourMs, speed);
  say(
    `soak: ${args.kafka ? 'kafka + clickhouse' : 'standalone (durable in-process bus + duckdb)'}, ${moduleCount} modules × 3 goals, ` +
      `${rate} records/s for ${wallMinutes} min wall = ${simHours} h simulated (${speed.toFixed(0)}× the wall clock)`,
  );
  const before = await memory();
  let proc = await startProcessor(setup, clock);
  const simStart = clock.now();
  say(`started (${proc.phases}); ${before.rss.toFixed(0)} MiB resident before`);

  const load = new Load(clock);
  const lastTick = Math.floor((wallMinutes * 60_000) / tickMs);
  const began = performance.now();
  let sent = 0;
  let pending = 0;
  let firstHour: Memory | undefined;
  let nextReport = 2;
  let failure: unknown;
  for (let tick = 0; tick <= lastTick; tick++) {
    const delay = began + tick * tickMs - performance.now();
    if (delay > 0) await sleep(delay);
    if (failure) throw failure;
    // Records owed by now at the target rate, published as ingest publishes a request's records.
    const owed = Math.floor(((performance.now() - began) / 1000) * rate) - sent;
    // A bus that cannot keep up holds the producer back rather than growing its queue without bound.
    if (owed > 0 && pending < rate) {
      const records = load.records(tick, owed, lastTick);
      sent += records.length;
      pending += records.length;
      proc.bus.publish(Topics.metricsRaw, records).then(
        () => {
          pending -= records.length;
        },
        (err: unknown) => {
          failure = err;
        },
      );
    }
    const simHour = (clock.now() - simStart) / hourMs;
    if (!firstHour && simHour >= 1) {
      firstHour = await memory(proc.store);
      say(`first simulated hour: ${describe(firstHour)}, ${sent} records`);
    } else if (simHour >= nextReport) {
      nextReport += 2;
      const m = await memory(proc.store);
      const o = await outcomes(proc.metrics);
      const wallS = (performance.now() - began) / 1000;
      say(
        `  ${simHour.toFixed(1)} h: ${describe(m)}; ` +
          `${sent} records (${Math.round(sent / wallS)}/s), processed ${Object.values(o).reduce((a, b) => a + b, 0)}; ${await dedup(proc.metrics)}`,
      );
    }
  }
  while (pending > 0) {
    if (failure) throw failure;
    await sleep(20);
  }
  const wallS = (performance.now() - began) / 1000;
  const simulated = (clock.now() - simStart) / hourMs;
  const caughtUp = await drained(proc, sent, 60_000);
  const drainS = (performance.now() - began) / 1000 - wallS;
  const o = await outcomes(proc.metrics);
  const end = await memory(proc.store);
  const ratio = end.rss / (firstHour?.rss ?? Number.NaN);
  say(
    `end: ${simulated.toFixed(1)} h simulated in ${wallS.toFixed(0)} s: ${sent} records (${Math.round(sent / wallS)}/s; ` +
      `${load.fresh} events, ${load.late} of them late, ${load.resent} resends); processor ${caughtUp ? 'caught up' : 'NOT caught up'} ` +
      `${drainS.toFixed(1)} s after the last publish; outcomes ${JSON.stringify(o)}; ${await dedup(proc.metrics)}`,
  );
  const spaces = getHeapSpaceStatistics()
    .filter((h) => h.space_size > 2 ** 20)
    .map(
      (h) =>
        `${h.space_name} ${(h.space_used_size / 2 ** 20).toFixed(0)}/${(h.space_size / 2 ** 20).toFixed(0)}`,
    );
  say(`end: heap spaces (used/reserved MiB): ${spaces.join(', ')}`);
  say(
    `end: ${describe(end)}, ${ratio.toFixed(2)} of the first hour; rows written ${JSON.stringify(await outputs(proc.metrics))}`,
  );

  // Restart: a new bus, store and processor on the same data, as a restarted process would have;
  // time keeps running, at the wall clock's pace.
  await stopProcessor(proc);
  clock.setSpeed(1);
  const restartBegan = performance.now();
  proc = await startProcessor(setup, clock);
  const restoreS = (performance.now() - restartBegan) / 1000;
  say(`restart: ready after ${restoreS.toFixed(2)} s (${proc.phases})`);

  // The sample again, from hours ago to minutes ago: every one a duplicate across the restart.
  await proc.bus.publish(Topics.metricsRaw, load.sample);
  const sampleDone = await drained(proc, load.sample.length, 30_000);
  const after = await outcomes(proc.metrics);
  const stopBegan = performance.now();
  if (!(await within(stopProcessor(proc), 30_000)))
    say('restart: the processor, bus and store did not stop within 30 s; checking the store anyway');
  else say(`restart: stopped in ${((performance.now() - stopBegan) / 1000).toFixed(1)} s`);

  const stored = await setup.check();
  const rollups = [...stored.rollupCounts].map(([rule, n]) => `${rule} ${n}`).join(', ');
  const exact =
    caughtUp &&
    sampleDone &&
    stored.distinct === load.fresh &&
    stored.rollupCounts.size === 3 &&
    [...stored.rollupCounts.values()].every((n) => n === load.fresh) &&
    (o.duplicate ?? 0) === load.resent &&
    (after.duplicate ?? 0) === load.sample.length;
  say(
    `exactly once: ${exact ? 'yes' : 'NO'}: ${load.fresh} distinct events published; stored ${stored.distinct} distinct ` +
      `(${stored.rows} rows, ${stored.late} late, ${load.late} published late); rollup counts per goal: ${rollups}; ` +
      `duplicates ${o.duplicate ?? 0} of ${load.resent} resends, after the restart ${after.duplicate ?? 0} of ${load.sample.length}`,
  );
  const met = ratio <= 1.2 && end.rss < 1024 && proc.complete && restoreS < 10 && exact;
  say(
    `targets (≤ 1.2 of the first hour, < 1024 MiB, restore < 10 s, exactly once): ${met ? 'met' : 'NOT met'}`,
  );
  say(
    `soak: ${end.rss.toFixed(0)} MiB at end (${ratio.toFixed(2)} of first hour), restore ${restoreS.toFixed(1)} s, ${sent} events`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
