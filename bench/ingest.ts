/**
 * Ingest throughput: events per second from HTTP request to bus acknowledgement, batches of 100,
 * 50 concurrent keep-alive clients, 10 s per server after a 2 s warm-up, in alternating rounds (bare,
 * ingest, ingest, bare, ...; 3 by default), reported as the median with the min–max beside it. Latency
 * is then measured separately at a fixed offered load (open loop, 5,000 events/s by default, the
 * per-agency rate limit): a saturated closed loop keeps 5,000 events queued at all times, so its p99
 * measures the queue, not the server. Paced latency counts from each request's scheduled send time
 * (no coordinated omission).
 *
 * Baseline, same broker, same run: a bare node:http server that parses the same bodies and produces
 * the same records with kafkajs (same producer settings as the Kafka bus: idempotent, acks from all
 * in-sync replicas) through one shared producer that coalesces, as ingest does: the records of every
 * request that arrives while a send is in flight go out together in the next send. No auth, no
 * validation, no rate limit. The clients run in a child process.
 *
 *   node --import tsx bench/ingest.ts      (GLASSHOUSE_KAFKA_BROKERS=host:port to use a running broker)
 *   BENCH_ROUNDS=3 BENCH_INGEST_MEASURE_MS=10000 BENCH_INGEST_WARMUP_MS=2000 shorten or lengthen a run.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as hdr from 'hdr-histogram-js';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startLocalKafka } from '../infra/kafka/local.js';
import { MetricEvent } from '../schemas/metric-event.js';
import { ModuleVersion } from '../schemas/registry.js';
import { KafkaBus } from '../services/adapters/kafka/index.js';
import { validateMetricEvent } from '../services/core/validation/index.js';
import { defaultBodyOptions } from '../services/ingest/body.js';
import { IngestMetrics } from '../services/ingest/metrics.js';
import { RateLimiter } from '../services/ingest/rate-limit.js';
import { RecentEventIds } from '../services/ingest/recent-event-ids.js';
import { ingestRoutes } from '../services/ingest/routes.js';
import type { Principal, RegistryView } from '../services/ports/registry.js';
import { Topics, topicName } from '../services/ports/topics.js';
import { HttpServer } from '../services/runtime/http.js';
import { Lifecycle } from '../services/runtime/lifecycle.js';
import { median, spread } from './rounds.js';

const clients = 50;
const batchSize = 100;
const warmupMs = Number(process.env.BENCH_INGEST_WARMUP_MS ?? 2_000);
const measureMs = Number(process.env.BENCH_INGEST_MEASURE_MS ?? 10_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const key = 'bench-agency-key-0123456789';
const moduleIds = ['bench-a', 'bench-b', 'bench-c', 'bench-d'];
const pacedEventsPerSecond = Number(process.env.BENCH_INGEST_PACED_RATE ?? 5_000);

interface LoadResult {
  events: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

const loadTarget = process.env.BENCH_INGEST_LOAD_URL;
if (loadTarget) {
  const tag = process.env.BENCH_INGEST_LOAD_TAG ?? 'load';
  const paced = process.env.BENCH_INGEST_PACED === '1';
  process.send!(await (paced ? loadPaced(loadTarget, tag) : load(loadTarget, tag)));
  process.disconnect();
} else {
  await main();
}

async function main(): Promise<void> {
  const external = process.env.GLASSHOUSE_KAFKA_BROKERS;
  const kafka = external ? undefined : await startLocalKafka();
  const brokers = (external ?? kafka!.brokers).split(',');
  const prefix = `bench-ingest-${randomBytes(3).toString('hex')}`;
  const logger = pino({ level: 'warn' });
  const bus = new KafkaBus({ brokers, clientId: 'bench-ingest', topicPrefix: prefix, logger });
  await bus.start();
  await bus.ensureTopics([
    { name: Topics.metricsRaw, partitions: 6 },
    { name: 'bare.metrics.raw', partitions: 6 },
  ]);

  const bare = await startBare(brokers, topicName(prefix, 'bare.metrics.raw'));
  const ingest = await startIngest(bus, logger);
  try {
    const rate = (r: LoadResult) => r.events / r.seconds;
    const bareRates: number[] = [];
    const oursRates: number[] = [];
    const errors = { bare: 0, ours: 0 };
    // Alternating rounds (ABBA): neither server always runs first, on a broker that warms and fills.
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['bare', 'ours'] as const) : (['ours', 'bare'] as const);
      for (const which of order) {
        const r = await runWorker(which === 'bare' ? bare.url : ingest.url, `${which}-${round}`);
        (which === 'bare' ? bareRates : oursRates).push(rate(r));
        errors[which] += r.errors;
      }
    }
    const bareLatency = await runWorker(bare.url, 'bare-paced', true);
    const oursLatency = await runWorker(ingest.url, 'ingest-paced', true);
    const share = validationShare();
    const paced = (name: string, r: LoadResult) =>
      `${name}: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, errors ${r.errors}`;
    console.log(
      `bare parse-and-produce, coalescing (saturated): ${spread(bareRates)} events/s, errors ${errors.bare}`,
    );
    console.log(`ingest (saturated): ${spread(oursRates)} events/s, errors ${errors.ours}`);
    console.log(paced(`bare parse-and-produce (paced ${pacedEventsPerSecond}/s)`, bareLatency));
    console.log(paced(`ingest (paced ${pacedEventsPerSecond}/s)`, oursLatency));
    console.log(
      `validation: ${share.fastUs.toFixed(2)} µs/event (zod alone ${share.zodUs.toFixed(2)} µs/event); ` +
        `${((share.fastUs * median(oursRates)) / 1e4).toFixed(1)}% of one core at the measured ingest rate`,
    );
    const ratios = oursRates.map((r, i) => r / bareRates[i]!);
    console.log(
      `ingest: ${Math.round(median(oursRates))} events/s (${median(ratios).toFixed(2)} of bare coalescing parse-and-produce, ` +
        `rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}; median of ${rounds}), p99 ${oursLatency.p99.toFixed(1)} ms paced`,
    );
  } finally {
    await ingest.stop();
    await bare.stop();
    await bus.stop();
    await kafka?.stop();
  }
}

/** Runs the clients in a child process, so they do not share the servers' event loop. */
function runWorker(url: string, tag: string, paced = false): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        BENCH_INGEST_LOAD_URL: url,
        BENCH_INGEST_LOAD_TAG: tag,
        BENCH_INGEST_PACED: paced ? '1' : '0',
      },
    });
    child.once('message', (result) => resolve(result as LoadResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the load process exited with ${code}`));
    });
  });
}

/** The client side: 50 loops posting batches of 100 fresh events; latency per request. */
async function load(url: string, tag: string): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const histogram = microsHistogram();
  let seq = 0;
  let measuring = false;
  let events = 0;
  let errors = 0;
  const started = Date.now();
  const measureFrom = started + warmupMs;
  const end = measureFrom + measureMs;
  const loop = async () => {
    while (Date.now() < end) {
      const now = Date.now();
      measuring = now >= measureFrom;
      const body = batchBody(`${tag}-${seq}`, now);
      seq++;
      const t0 = performance.now();
      const status = await post(url, agent, body);
      const micros = Math.round((performance.now() - t0) * 1000);
      if (!measuring) continue;
      if (status === 202) {
        events += batchSize;
        histogram.recordValue(micros);
      } else {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, loop));
  agent.destroy();
  return resultOf(histogram, events, errors);
}

/** Open loop: batches sent on a fixed schedule whatever the answers; latency from the scheduled time. */
async function loadPaced(url: string, tag: string): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const histogram = microsHistogram();
  const intervalMs = (1000 * batchSize) / pacedEventsPerSecond;
  const started = performance.now();
  const total = Math.floor((warmupMs + measureMs) / intervalMs);
  const measureFrom = Math.floor(warmupMs / intervalMs);
  let events = 0;
  let errors = 0;
  let seq = 0;
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const now = Date.now();
    const body = batchBody(`${tag}-${seq}`, now);
    seq++;
    const measured = i >= measureFrom;
    inFlight.push(
      post(url, agent, body).then((status) => {
        if (!measured) return;
        if (status !== 202) {
          errors++;
          return;
        }
        events += batchSize;
        histogram.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000)));
      }),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  return resultOf(histogram, events, errors);
}

/** One request body: `batchSize` fresh events whose ids start with `idPrefix`. */
function batchBody(idPrefix: string, now: number): string {
  const observedAt = new Date(now).toISOString();
  return JSON.stringify({
    events: Array.from({ length: batchSize }, (_, i) => ({
      eventId: `${idPrefix}-${i}`,
      moduleId: moduleIds[i % moduleIds.length],
      metric: 'latency_ms',
      value: ((now + i) % 1000) / 10,
      observedAt,
      dimensions: { route: `r${i % 7}` },
    })),
  });
}

/** Request latencies in microseconds, up to a minute. */
function microsHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function resultOf(histogram: ReturnType<typeof microsHistogram>, events: number, errors: number): LoadResult {
  return {
    events,
    seconds: measureMs / 1000,
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
    errors,
  };
}

function post(url: string, agent: Agent, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      `${url}/v1/metrics`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${key}`,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/**
 * One producer shared by every request, one send in flight: what arrives meanwhile goes out together
 * in the next send (the same coalescing the Kafka bus adapter does for ingest).
 */
function coalescingSend(send: (messages: Message[]) => Promise<unknown>) {
  let queued: Array<{ messages: Message[]; done: (ok: boolean) => void }> = [];
  let sending = false;
  const flush = async () => {
    sending = true;
    while (queued.length) {
      const batch = queued;
      queued = [];
      const ok = await send(batch.flatMap((b) => b.messages)).then(
        () => true,
        () => false,
      );
      for (const b of batch) b.done(ok);
    }
    sending = false;
  };
  return (messages: Message[]) =>
    new Promise<boolean>((done) => {
      queued.push({ messages, done });
      if (!sending) void flush();
    });
}

/** The baseline: parse, map to records, produce (coalesced), answer. Nothing else. */
async function startBare(brokers: string[], topic: string) {
  const kafka = new Kafka({ clientId: 'bench-bare', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const send = coalescingSend((messages) => producer.send({ topic, acks: -1, messages }));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let events: Array<Record<string, unknown>>;
      try {
        events = (
          JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: Array<Record<string, unknown>> }
        ).events;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const messages = events.map((e) => ({
        key: String(e.moduleId),
        value: JSON.stringify({ ...e, observedAt: Date.parse(String(e.observedAt)) }),
        headers: { 'glasshouse-agency': 'bench-agency' },
      }));
      void send(messages).then((ok) => {
        if (!ok) {
          res.writeHead(503).end();
          return;
        }
        res
          .writeHead(202, { 'content-type': 'application/json' })
          .end(JSON.stringify({ accepted: events.length, duplicates: 0, rejected: [] }));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      await new Promise((r) => server.close(r));
      await producer.disconnect();
    },
  };
}

function benchRegistry(): RegistryView {
  const modules = new Map(
    ['bench-a', 'bench-b', 'bench-c', 'bench-d'].map((id) => [
      id,
      ModuleVersion.parse({
        id,
        domain: 'bench',
        title: id,
        owner: 'bench-owner',
        agencies: ['bench-agency'],
        goals: [
          {
            id: 'lat',
            metric: 'latency_ms',
            unit: 'ms',
            direction: 'decrease',
            target: 50,
            tolerance: 0.1,
            window: '1m',
            aggregation: 'p95',
          },
        ],
        version: 1,
        updatedAt: new Date().toISOString(),
        updatedBy: 'bench',
        rationale: 'bench',
      }),
    ]),
  );
  const agency: Principal = { kind: 'agency', id: 'bench-agency', name: 'Bench Agency' };
  return {
    module: (id) => modules.get(id),
    modules: () => [...modules.values()],
    sociotechnician: () => undefined,
    sociotechnicians: () => [],
    authenticate: async (secret) => (secret === key ? agency : undefined),
    onChange: () => () => {},
    proposal: () => undefined,
    proposals: () => [],
    openProposal: () => undefined,
  };
}

async function startIngest(bus: KafkaBus, logger: pino.Logger) {
  const metrics = new Registry();
  const lifecycle = new Lifecycle(logger, 5_000);
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger, metrics, lifecycle, version: 'bench' });
  const registry = benchRegistry();
  http.app.register(
    ingestRoutes({
      bus,
      registry,
      auth: registry,
      clock: { now: () => Date.now() },
      recent: new RecentEventIds(),
      metrics: new IngestMetrics(metrics),
      limiter: new RateLimiter(10_000_000, 10_000_000),
      body: defaultBodyOptions,
      publishTimeoutMs: 10_000,
    }),
  );
  await http.start();
  return { url: `http://127.0.0.1:${http.port()}`, stop: () => http.stop() };
}

/** Validation cost per event on the bench's events: the shared validator vs zod alone. */
function validationShare(): { fastUs: number; zodUs: number } {
  const registry = benchRegistry();
  const now = Date.now();
  const events = Array.from({ length: 10_000 }, (_, i) =>
    JSON.parse(
      JSON.stringify({
        eventId: `v-${i}`,
        moduleId: 'bench-a',
        metric: 'latency_ms',
        value: i / 10,
        observedAt: new Date(now).toISOString(),
        dimensions: { route: `r${i % 7}` },
      }),
    ),
  );
  const time = (fn: (e: unknown) => unknown) => {
    for (const e of events) fn(e);
    const t0 = performance.now();
    for (let round = 0; round < 5; round++) for (const e of events) fn(e);
    return ((performance.now() - t0) * 1000) / (5 * events.length);
  };
  return {
    fastUs: time((e) => validateMetricEvent(e, { agencyId: 'bench-agency', registry, now })),
    zodUs: time((e) => MetricEvent.safeParse(e)),
  };
}
