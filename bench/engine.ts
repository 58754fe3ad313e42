/**
 * The processor end to end on Kafka + ClickHouse, for 1,000 modules × 3 goals, against same-run baselines.
 *
 * 1. Throughput: `--events` records pre-published to metrics.raw, then one Processor (the real role
 *    class, store and bus adapters) consumes them; events/s = events / time from the processor's start
 *    having returned (group joined, partitions assigned and their modules restored) until all are
 *    processed and their outputs acknowledged. Baseline: a bare kafkajs consumer (eachBatch, no
 *    auto-commit) with the processor's partition concurrency (`partitionsConsumedConcurrently`) that
 *    produces one batch per fetch to another topic (acks all) and commits it, over the same topic,
 *    timed from its first batch (so neither figure counts the group join). The processor consumes the
 *    topic once (a second pass would find its events stored and do other work); the bare consumer
 *    runs before it and twice after it, each time in a group of its own: median with min–max.
 * 2. Sink: the same raw-event rows written in 10k-row batches through the Store adapter, as the same
 *    RowBinary bytes (the adapter's own encoding) POSTed over bare HTTP, and, as a second line, through
 *    @clickhouse/client's own JSONEachRow insert, each into a table of its own; three alternating
 *    rounds, median with min–max (ClickHouse is still merging the processor's writes meanwhile).
 * 3. Latency: 5,000 events/s for `--seconds`, one status-changing probe per 50 ms batch (a `last` goal
 *    flipping between on and off track); p99 from the publish acknowledgement (what makes ingest answer
 *    202) to the probe's PerformanceUpdate arriving on performance.updates. The bench's own event
 *    loop delay (it hosts the processor) is printed beside it: a long pause there shows in the p99.
 * 4. Memory (engine alone): resident memory for 100,000 mean/sum/count goals, and per p95 goal.
 *
 *   node --expose-gc --import tsx bench/engine.ts [--events 50000] [--seconds 10] [--concurrency N]
 *
 * Starts a local Kafka and ClickHouse (as the tests do) unless GLASSHOUSE_KAFKA_BROKERS and
 * GLASSHOUSE_CLICKHOUSE_URL name running ones.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import * as hdr from 'hdr-histogram-js';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startLocalClickHouse } from '../infra/clickhouse/local.js';
import { startLocalKafka } from '../infra/kafka/local.js';
import type { PerformanceUpdate } from '../schemas/performance.js';
import type { PolicyModuleInput } from '../schemas/registry.js';
import { ClickHouseStore } from '../services/adapters/clickhouse/index.js';
import { encodeRowBinary } from '../services/adapters/clickhouse/rowbinary.js';
import { wireColumns, wireRow } from '../services/adapters/clickhouse/store.js';
import { KafkaBus } from '../services/adapters/kafka/index.js';
import { Engine } from '../services/core/performance/index.js';
import { systemClock } from '../services/ports/clock.js';
import type { Row } from '../services/ports/tables.js';
import { Topics, topicName, topicSpecs } from '../services/ports/topics.js';
import { ProcessorMetrics } from '../services/processor/metrics.js';
import { Processor } from '../services/processor/processor.js';
import { metricRecord } from '../test/support/processor-harness.js';
import { FixtureRegistry } from '../test/support/registry-fixture.js';
import { median, spread } from './rounds.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    seconds: { type: 'string', default: '10' },
    /** Partitions the processor handles at once (default: the processor's own default). */
    concurrency: { type: 'string' },
  },
});
const totalEvents = Number(args.events);
/** The processor's and the bare consumer's partitions at once: the processor's default unless given. */
const concurrency = Number(
  args.concurrency ?? topicSpecs.find((t) => t.name === Topics.metricsRaw)?.partitions ?? 6,
);
const latencySeconds = Number(args.seconds);
const localKafka = process.env.GLASSHOUSE_KAFKA_BROKERS ? undefined : await startLocalKafka();
const localClickHouse = process.env.GLASSHOUSE_CLICKHOUSE_URL ? undefined : await startLocalClickHouse();
const brokers = (process.env.GLASSHOUSE_KAFKA_BROKERS ?? localKafka!.brokers).split(',');
const clickhouseUrl = process.env.GLASSHOUSE_CLICKHOUSE_URL ?? localClickHouse!.url;
const suffix = randomBytes(4).toString('hex');
const prefix = `bench-engine-${suffix}`;
const database = `bench_engine_${suffix}`;
const logger = pino({ level: 'silent' });
const say = (line: string) => process.stdout.write(`${line}\n`);

function moduleOf(
  i: number,
  goals: Array<'mean' | 'sum' | 'count' | 'max' | 'p95' | 'last'>,
): PolicyModuleInput {
  return {
    id: `mod-${i}`,
    domain: 'bench',
    title: `Module ${i}`,
    owner: 'ada',
    agencies: ['clinic-agency'],
    goals: goals.map((aggregation, g) => ({
      id: `g${g}`,
      metric: 'wait_minutes',
      unit: 'min',
      direction: 'decrease' as const,
      target: aggregation === 'count' || aggregation === 'sum' ? 1e9 : 30,
      tolerance: 0.1,
      window: '1m',
      aggregation,
      minSamples: 1,
      hold: '0s',
    })),
  };
}

const moduleCount = 1000;
const probeModules = 20;
const modules = [
  ...Array.from({ length: moduleCount }, (_, i) => moduleOf(i, ['mean', 'sum', 'count'])),
  // Probes: a `last` goal flips status with every probe value (100 off track, 10 on track).
  ...Array.from({ length: probeModules }, (_, i) => ({ ...moduleOf(i, ['last']), id: `probe-${i}` })),
];
const registry = new FixtureRegistry({ modules });

async function main(): Promise<void> {
  const bus = new KafkaBus({ brokers, clientId: 'bench-engine', topicPrefix: prefix, logger });
  await bus.start();
  await bus.ensureTopics([...topicSpecs, { name: 'bench.out', partitions: 6 }]);
  const store = new ClickHouseStore({ url: clickhouseUrl, database, logger });
  await store.start();
  await store.migrate();

  // ---- 1. throughput: pre-publish, then processor vs bare consume-produce ----
  const t0 = Date.now() - 20_000;
  const rawRows: Row<'metric_events'>[] = [];
  for (let i = 0; i < totalEvents; i += 1000) {
    const chunk = [];
    for (let j = i; j < Math.min(totalEvents, i + 1000); j++) {
      const m = j % moduleCount;
      const value = 10 + (j % 17);
      const at = t0 + Math.floor(j / moduleCount) * 10;
      chunk.push(metricRecord(`mod-${m}`, `e${j}`, value, at));
      rawRows.push({
        module_id: `mod-${m}`,
        agency_id: 'clinic-agency',
        event_id: `e${j}`,
        metric: 'wait_minutes',
        value,
        observed_ms: at,
        received_ms: Date.now(),
        dimensions: {},
        late: false,
        module_version: 1,
        supersedes: '',
        retract: false,
        note: '',
      });
    }
    await bus.publish(Topics.metricsRaw, chunk);
  }
  say(`published ${totalEvents} events for ${moduleCount} modules × 3 goals`);

  const bareRates = [await bareConsumeProduce(0)];

  const metrics = new Registry();
  const processorMetrics = new ProcessorMetrics(metrics);
  const processor = new Processor({
    bus,
    store,
    registry,
    clock: systemClock,
    logger,
    metrics: processorMetrics,
    commandKey: randomBytes(32),
    concurrency,
  });
  const starting = Date.now();
  await processor.start();
  const began = Date.now();
  const processed = async () => {
    const m = await processorMetrics.records.get();
    return m.values.reduce((n, v) => n + v.value, 0);
  };
  // Processed = every raw event's row written (the records counter moves at ingest, before the writes).
  const written = async () =>
    (await processorMetrics.outputs.get()).values.find((v) => v.labels.kind === 'metric_events')?.value ?? 0;
  while ((await processed()) < totalEvents || (await written()) < totalEvents)
    await new Promise((r) => setTimeout(r, 50));
  while ((await processorMetrics.lag.get()).values.some((v) => v.value > 0))
    await new Promise((r) => setTimeout(r, 20));
  const engineSeconds = (Date.now() - began) / 1000;
  const engineRate = totalEvents / engineSeconds;
  const rowsWritten = (await processorMetrics.outputs.get()).values.reduce((n, v) => n + v.value, 0);
  say(
    `processor: ${Math.round(engineRate)} events/s (${rowsWritten} rows written, ${Math.round(rowsWritten / engineSeconds)} rows/s; ` +
      `start, group join and restore before that: ${began - starting} ms; ${concurrency} partitions at once)`,
  );
  bareRates.push(await bareConsumeProduce(1), await bareConsumeProduce(2));
  const bare = median(bareRates);
  say(`bare kafkajs consume-produce (${concurrency} partitions at once): ${spread(bareRates)} events/s`);

  // ---- 2. sink: Store adapter vs the same bytes over bare HTTP vs the client's JSONEachRow ----
  // Alternating rounds, median and min–max: ClickHouse still merges what the processor wrote, and
  // whichever went first would pay for it.
  const sinkRates: number[] = [];
  const bareHttpRates: number[] = [];
  const jsonRates: number[] = [];
  const bareSink = await bareInserters(rawRows);
  const sinks: Array<[number[], () => Promise<number>]> = [
    [
      sinkRates,
      () =>
        timeRows(rawRows.length, async () => {
          for (let i = 0; i < rawRows.length; i += 10_000)
            await store.insert('metric_events', rawRows.slice(i, i + 10_000));
        }),
    ],
    [bareHttpRates, bareSink.rowBinaryOverHttp],
    [jsonRates, bareSink.clientJsonEachRow],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [rates, run] of round % 2 === 0 ? sinks : [...sinks].reverse()) rates.push(await run());
  }
  await bareSink.close();
  const sinkRate = median(sinkRates);
  const bareInsert = median(bareHttpRates);
  say(`sink (Store.insert, RowBinary): ${spread(sinkRates)} rows/s`);
  say(`bare HTTP insert of the same RowBinary bytes: ${spread(bareHttpRates)} rows/s`);
  say(`@clickhouse/client JSONEachRow insert of the same rows: ${spread(jsonRates)} rows/s`);

  // ---- 3. latency at 5,000 events/s ----
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000,
    numberOfSignificantValueDigits: 3,
  });
  const waiting = new Map<string, number>();
  const updates = await bus.consume({
    topic: Topics.performanceUpdates,
    group: null,
    onBatch: async (batch) => {
      const now = performance.now();
      for (const record of batch.records) {
        const u = JSON.parse(record.value.toString()) as PerformanceUpdate;
        if (!u.moduleId.startsWith('probe-')) continue;
        const key = `${u.moduleId}:${u.value}`;
        const sent = waiting.get(key);
        if (sent !== undefined) {
          histogram.recordValue(Math.max(1, Math.round(now - sent)));
          waiting.delete(key);
        }
      }
    },
  });
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  let seq = totalEvents;
  let probe = 0;
  const perBatch = 250;
  const start = performance.now();
  for (let tick = 0; tick < latencySeconds * 20; tick++) {
    const due = start + tick * 50;
    const delay = due - performance.now();
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const batch = [];
    for (let j = 0; j < perBatch - 1; j++, seq++)
      batch.push(metricRecord(`mod-${seq % moduleCount}`, `e${seq}`, 10 + (seq % 17), Date.now()));
    const p = probe++;
    const moduleId = `probe-${p % probeModules}`;
    const value = Math.floor(p / probeModules) % 2 === 0 ? 100 : 10;
    batch.push(metricRecord(moduleId, `p${p}`, value, Date.now()));
    const sending = bus.publish(Topics.metricsRaw, batch);
    await sending;
    waiting.set(`${moduleId}:${value}`, performance.now());
  }
  const deadline = Date.now() + 10_000;
  while (waiting.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  loopDelay.disable();
  const p99 = histogram.getValueAtPercentile(99);
  say(
    `latency: ${histogram.totalCount} probes, p50 ${histogram.getValueAtPercentile(50)} ms, p99 ${p99} ms, ` +
      `max ${histogram.maxValue} ms, ${waiting.size} unanswered; event loop delay p99 ` +
      `${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
  );
  await updates.stop();
  await processor.stop();
  await bus.stop();
  await store.stop();

  // ---- 4. memory (engine alone) ----
  const mem = memoryFigures();
  say(
    `memory: 100,000 mean/sum/count goals: ${mem.goalsMiB.toFixed(0)} MiB resident; a p95 goal costs ${mem.percentileKiB.toFixed(1)} KiB`,
  );

  say(
    `engine: ${Math.round(engineRate)} events/s (${(engineRate / bare).toFixed(2)} of bare consume-produce), ` +
      `sink ${Math.round(sinkRate)} rows/s (${(sinkRate / bareInsert).toFixed(2)} of the same bytes over bare HTTP), p99 ${p99} ms ` +
      `(medians; bare consume-produce ${spread(bareRates)}, sink ${spread(sinkRates)} against ${spread(bareHttpRates)})`,
  );
}

/** One pass over metrics.raw in a group of its own: one produce and one commit per fetched batch. */
async function bareConsumeProduce(round: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench-bare', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${prefix}.bare.${round}` });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topic: topicName(prefix, Topics.metricsRaw), fromBeginning: true });
  let seen = 0;
  let began = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        if (began === 0) began = Date.now();
        await producer.send({
          topic: topicName(prefix, 'bench.out'),
          acks: -1,
          messages: batch.messages.map((m) => ({ key: m.key, value: m.value })),
        });
        const last = batch.messages[batch.messages.length - 1];
        if (last) {
          resolveOffset(last.offset);
          await commitOffsetsIfNecessary({
            topics: [
              {
                topic: batch.topic,
                partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }],
              },
            ],
          });
        }
        seen += batch.messages.length;
        if (seen >= totalEvents) resolve();
      },
    });
  });
  await done;
  const rate = totalEvents / ((Date.now() - began) / 1000);
  await consumer.disconnect();
  await producer.disconnect();
  return rate;
}

/**
 * The baseline sinks, each into a twin table of its own: the bytes the Store adapter sends (its own
 * RowBinary encoding, 10k rows per request) POSTed with node:http, and the same rows through
 * @clickhouse/client's own JSONEachRow insert.
 */
async function bareInserters(rows: Row<'metric_events'>[]) {
  const client = createClient({ url: clickhouseUrl, database });
  for (const table of ['bare_rowbinary_events', 'bare_json_events'])
    await client.command({ query: `CREATE TABLE IF NOT EXISTS ${table} AS metric_events` });
  const columns = wireColumns('metric_events');
  const bodies: Buffer[] = [];
  for (let i = 0; i < rows.length; i += 10_000) {
    const wire = rows.slice(i, i + 10_000).map((r) => wireRow('metric_events', r as Record<string, unknown>));
    bodies.push(encodeRowBinary(columns, wire));
  }
  const insertUrl = new URL(clickhouseUrl);
  insertUrl.searchParams.set('database', database);
  insertUrl.searchParams.set(
    'query',
    `INSERT INTO bare_rowbinary_events (${columns.map(([name]) => name).join(', ')}) FORMAT RowBinary`,
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const post = (body: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const req = request(insertUrl, { method: 'POST', agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve()
            : reject(new Error(`insert answered ${res.statusCode}: ${text}`)),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  const json = rows.map((r) => ({
    ...r,
    dimensions: JSON.stringify(r.dimensions),
    late: r.late ? 1 : 0,
    observed_at: Math.floor(r.observed_ms / 1000),
  }));
  return {
    rowBinaryOverHttp: () =>
      timeRows(rows.length, async () => {
        for (const body of bodies) await post(body);
      }),
    clientJsonEachRow: () =>
      timeRows(rows.length, async () => {
        for (let i = 0; i < json.length; i += 10_000) {
          await client.insert({
            table: 'bare_json_events',
            values: json.slice(i, i + 10_000),
            format: 'JSONEachRow',
          });
        }
      }),
    close: async () => {
      agent.destroy();
      await client.close();
    },
  };
}

async function timeRows(rows: number, work: () => Promise<void>): Promise<number> {
  const began = performance.now();
  await work();
  return rows / ((performance.now() - began) / 1000);
}

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

function memoryFigures(): { goalsMiB: number; percentileKiB: number } {
  const now = Date.now();
  const before = rss();
  const engine = new Engine({ clock: systemClock });
  const count = Math.ceil(100_000 / 3);
  for (let i = 0; i < count; i++) {
    const m = new FixtureRegistry({ modules: [moduleOf(i, ['mean', 'sum', 'count'])] }).module(`mod-${i}`)!;
    engine.setModule(m);
    for (let e = 0; e < 5; e++) {
      engine.ingest({
        eventId: `m${i}-${e}`,
        agencyId: 'a',
        moduleId: m.id,
        metric: 'wait_minutes',
        value: e,
        observedAt: now + e * 1000,
        receivedAt: now,
      });
    }
  }
  engine.evaluate(now);
  const goalsMiB = (rss() - before) / 2 ** 20;
  const keep = [engine];
  const beforeP = rss();
  const p = new Engine({ clock: systemClock });
  const pGoals = 5_000;
  for (let i = 0; i < pGoals; i++) {
    const m = new FixtureRegistry({ modules: [moduleOf(i, ['p95'])] }).module(`mod-${i}`)!;
    p.setModule(m);
    for (let e = 0; e < 60; e++) {
      p.ingest({
        eventId: `p${i}-${e}`,
        agencyId: 'a',
        moduleId: m.id,
        metric: 'wait_minutes',
        value: 1 + ((e * 37) % 500),
        observedAt: now + e * 1000,
        receivedAt: now,
      });
    }
  }
  p.evaluate(now);
  const percentileKiB = (rss() - beforeP) / 1024 / pGoals;
  keep.push(p);
  return { goalsMiB, percentileKiB };
}

const stopLocal = async () => {
  await localKafka?.stop();
  await localClickHouse?.stop();
};
main().then(
  async () => {
    await stopLocal();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    void stopLocal().finally(() => process.exit(1));
  },
);
