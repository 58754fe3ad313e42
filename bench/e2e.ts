/**
 * The latency users feel, end to end: the four roles as separate processes (the real bin: api,
 * processor, ingest, gateway) on Kafka + ClickHouse, `--rate` events/s (default 5,000) offered to
 * ingest's HTTP API, open loop (a request every 25 ms whatever the answers do). Once per 50 ms one of
 * the events is a probe: a `last` goal of one of 100 probe modules (each gets one every 5 s), whose
 * value flips it between off and on track, so each probe changes a status. A probe is unanswered
 * when its frame never comes: lost, or superseded by the next probe of its module in the same batch
 * (which only happens when the processor is 5 s behind). Measured: from the 202 of the request that carried
 * the probe to the probe's update frame arriving on a WebSocket subscribed to the probe modules' domain.
 *
 * Floor, same run, same broker, same offered load: the same records published with a bare kafkajs
 * producer (idempotent, acks from all in-sync replicas, as the Kafka bus publishes), consumed by a
 * bare kafkajs consumer in another process (same fetch wait as the bus) that sends each probe on a
 * bare `ws` server to a ws client here; measured from the publish acknowledgement (what makes ingest
 * answer 202) to the frame. Rounds alternate (glasshouse, floor, floor, glasshouse, ...); p50 and p99
 * are the median of the rounds with the min–max beside it.
 *
 *   node --import tsx bench/e2e.ts [--seconds 15] [--rounds 3] [--rate 5000] [--profile dir]
 *
 * Starts a local Kafka and ClickHouse (as the tests do) unless GLASSHOUSE_KAFKA_BROKERS and
 * GLASSHOUSE_CLICKHOUSE_URL name running ones.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import * as hdr from 'hdr-histogram-js';
import { Kafka, logLevel, type Message } from 'kafkajs';
import WebSocket, { WebSocketServer } from 'ws';
import { startLocalClickHouse } from '../infra/clickhouse/local.js';
import { startLocalKafka } from '../infra/kafka/local.js';
import { type GlasshouseProcess, killLeftovers, runGlasshouse } from '../test/support/process.js';
import { median, spread } from './rounds.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '5000' },
    /** Write each role's CPU profile (`--cpu-prof`) into this directory when it stops. */
    profile: { type: 'string' },
  },
});
const roundSeconds = Number(args.seconds);
const rounds = Number(args.rounds);
const rate = Number(args.rate);
const tickMs = 25;
const perTick = Math.round((rate * tickMs) / 1000);
const probeModules = 100;
const loadModules = 100;
const agency = 'bench-agency';
const say = (line: string) => process.stdout.write(`${line}\n`);

interface RoundResult {
  p50: number;
  p99: number;
  max: number;
  probes: number;
  unanswered: number;
  errors: number;
}

/** The floor's middle: a bare kafkajs consumer that sends each probe record on a bare ws server. */
async function relay(spec: string): Promise<void> {
  const { brokers, topic } = JSON.parse(spec) as { brokers: string[]; topic: string };
  const kafka = new Kafka({ clientId: 'bench-e2e-relay', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}.relay`, maxWaitTimeInMs: 1_000 });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  let joined!: () => void;
  const join = new Promise<void>((resolve) => {
    joined = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, () => joined());
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        if (!m.key?.toString().startsWith('probe-')) continue;
        const frame = JSON.stringify({ type: 'update', data: JSON.parse(m.value!.toString()) });
        for (const client of wss.clients) client.send(frame);
      }
    },
  });
  await join;
  process.send!({ port: (wss.address() as AddressInfo).port });
  process.once('disconnect', () => {
    void consumer.disconnect().finally(() => {
      wss.close();
      process.exit(0);
    });
  });
}

async function run(): Promise<void> {
  const localKafka = process.env.GLASSHOUSE_KAFKA_BROKERS ? undefined : await startLocalKafka();
  const localClickHouse = process.env.GLASSHOUSE_CLICKHOUSE_URL ? undefined : await startLocalClickHouse();
  const brokers = process.env.GLASSHOUSE_KAFKA_BROKERS ?? localKafka!.brokers;
  const clickhouseUrl = process.env.GLASSHOUSE_CLICKHOUSE_URL ?? localClickHouse!.url;
  const suffix = randomBytes(4).toString('hex');
  const prefix = `bench-e2e-${suffix}`;
  const database = `bench_e2e_${suffix}`;
  const adminToken = `bench-admin-${randomBytes(12).toString('hex')}`;
  const env = {
    GLASSHOUSE_ADMIN_TOKEN: adminToken,
    GLASSHOUSE_KAFKA_BROKERS: brokers,
    GLASSHOUSE_CLICKHOUSE_URL: clickhouseUrl,
    GLASSHOUSE_CLICKHOUSE_DATABASE: database,
    GLASSHOUSE_TOPIC_PREFIX: prefix,
    GLASSHOUSE_LOG_LEVEL: 'info',
    // The offered rate is the bench's; the per-agency limit is not what is measured.
    GLASSHOUSE_INGEST_RATE: String(rate * 4),
    GLASSHOUSE_INGEST_BURST: String(rate * 4),
  };
  const roles: GlasshouseProcess[] = [];
  const floorTopic = `${prefix}.floor`;
  const kafka = new Kafka({ clientId: 'bench-e2e', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  let relayProcess: ReturnType<typeof fork> | undefined;
  try {
    // The api first: it migrates the database and creates the topics the others use.
    const start = (role: string) => {
      const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}/${role}`] : [];
      const p = runGlasshouse(['start', '--role', role, '--port', '0'], env, profile);
      roles.push(p);
      return p.ready(120_000);
    };
    const apiPort = await start('api');
    const [processorPort, ingestPort, gatewayPort] = await Promise.all([
      start('processor'),
      start('ingest'),
      start('gateway'),
    ]);
    const api = `http://127.0.0.1:${apiPort}`;
    const ingest = `http://127.0.0.1:${ingestPort}`;
    const live = `ws://127.0.0.1:${gatewayPort}/v1/live`;
    say(`roles up: api ${apiPort}, ingest ${ingestPort}, gateway ${gatewayPort}, processor ${processorPort}`);
    const key = await seed(api, adminToken);

    await admin.connect();
    await admin.createTopics({ topics: [{ topic: floorTopic, numPartitions: 6, replicationFactor: 1 }] });
    await producer.connect();
    relayProcess = fork(new URL(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        BENCH_E2E_RELAY: JSON.stringify({ brokers: brokers.split(','), topic: floorTopic }),
      },
    });
    const relayPort = await new Promise<number>((resolve, reject) => {
      relayProcess!.once('message', (m) => resolve((m as { port: number }).port));
      relayProcess!.once('exit', (code) => reject(new Error(`the floor relay exited (${code})`)));
    });

    // One socket per path, each subscribed to what carries its probes.
    const probes = new Probes();
    const glasshouseSocket = await connect(live);
    glasshouseSocket.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as { type: string; data?: { moduleId: string; value: number } };
      if (m.type === 'update' && m.data) probes.arrived(`${m.data.moduleId}:${m.data.value}`);
    });
    // The probe modules form a domain of their own: one channel carries all their updates.
    glasshouseSocket.send(JSON.stringify({ op: 'subscribe', channel: 'domain:probes' }));
    const floorSocket = await connect(`ws://127.0.0.1:${relayPort}/`);
    floorSocket.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as { data: { moduleId: string; value: number } };
      probes.arrived(`${m.data.moduleId}:${m.data.value}`);
    });

    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const postEvents = (events: unknown[]) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          `${ingest}/v1/metrics`,
          {
            method: 'POST',
            agent,
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ events }));
      });
    const paths = {
      glasshouse: async (events: Event[]) => {
        const status = await postEvents(events);
        if (status !== 202) throw new Error(`ingest answered ${status}`);
      },
      floor: async (events: Event[]) => {
        await producer.send({
          topic: floorTopic,
          acks: -1,
          messages: events.map((e): Message => ({ key: e.moduleId, value: JSON.stringify(e) })),
        });
      },
    };

    // Warm-up: every role has read the modules and the key, and both paths deliver a probe.
    const warm = new Load(probes, 1_000_000);
    for (const [name, send] of Object.entries(paths)) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await warm.round(send, 2, true);
        if (r.probes > 0 && r.unanswered === 0) break;
        if (Date.now() > deadline) throw new Error(`the ${name} path never delivered a probe`);
      }
    }
    say(`warmed up; ${rounds} alternating rounds of ${roundSeconds} s at ${rate} events/s per path`);

    const results: Record<'glasshouse' | 'floor', RoundResult[]> = { glasshouse: [], floor: [] };
    const load = new Load(probes, 0);
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['glasshouse', 'floor'] as const) : (['floor', 'glasshouse'] as const);
      for (const which of order) {
        const r = await load.round(paths[which], roundSeconds);
        results[which].push(r);
        say(
          `  round ${round + 1} ${which}: p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms ` +
            `(${r.probes} probes, ${r.unanswered} unanswered, ${r.errors} failed sends)`,
        );
      }
    }
    loopDelay.disable();
    // Each role's own event loop delay since it started (what a pause inside a role adds to the p99).
    const lags: string[] = [];
    for (const [role, port] of [
      ['ingest', ingestPort],
      ['processor', processorPort],
      ['gateway', gatewayPort],
    ] as const) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const metric = (name: string) =>
        Number(
          new RegExp(`^glasshouse_nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(
            text,
          )?.[1],
        ) * 1000;
      lags.push(`${role} p99 ${metric('p99').toFixed(0)} ms, max ${metric('max').toFixed(0)} ms`);
    }
    say(`roles' event loop delay since start: ${lags.join('; ')}`);
    const of = (which: 'glasshouse' | 'floor', k: 'p50' | 'p99') => results[which].map((r) => r[k]);
    const line = (which: 'glasshouse' | 'floor') =>
      `p50 ${spread(of(which, 'p50'))} ms, p99 ${spread(of(which, 'p99'))} ms, ` +
      `${results[which].reduce((n, r) => n + r.unanswered, 0)} unanswered, ${results[which].reduce((n, r) => n + r.errors, 0)} failed sends`;
    say(`glasshouse (202 → update frame on the gateway's WebSocket): ${line('glasshouse')}`);
    say(`floor (publish ack → bare consume → bare ws frame): ${line('floor')}`);
    say(
      `bench event loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms ` +
        '(the subscribers and the load run here)',
    );
    const p99 = median(of('glasshouse', 'p99'));
    const floorP99 = median(of('floor', 'p99'));
    say(
      `e2e: p99 ${Math.round(p99)} ms from 202 to WebSocket frame at ${rate} events/s (target < 150 ms; ` +
        `${(p99 / floorP99).toFixed(1)}× the floor's ${Math.round(floorP99)} ms), p50 ${Math.round(median(of('glasshouse', 'p50')))} ms ` +
        `(floor ${Math.round(median(of('floor', 'p50')))} ms) (medians of ${rounds} rounds; p99 ${spread(of('glasshouse', 'p99'))} ` +
        `against ${spread(of('floor', 'p99'))})`,
    );
    agent.destroy();
    glasshouseSocket.terminate();
    floorSocket.terminate();
  } finally {
    relayProcess?.disconnect();
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    await Promise.all(
      roles.map(async (p) => {
        p.child.kill('SIGTERM');
        await p.exited();
      }),
    );
    await killLeftovers();
    if (!localClickHouse) {
      // A running ClickHouse keeps nothing of the run; a local one goes with its temp dir.
      const client = createClient({ url: clickhouseUrl, request_timeout: 120_000 });
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
      await client.close();
    }
    await localKafka?.stop();
    await localClickHouse?.stop();
  }
}

interface Event {
  eventId: string;
  moduleId: string;
  metric: string;
  value: number;
  observedAt: number;
}

/** Probes waiting for their frame, by `moduleId:value` (unique per probe), and frames that came first. */
class Probes {
  private sent = new Map<string, number>();
  private early = new Map<string, number>();
  private histogram = Probes.fresh();

  static fresh() {
    return hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 120_000,
      numberOfSignificantValueDigits: 3,
    });
  }

  /** The probe's request was acknowledged now. */
  acknowledged(key: string): void {
    const now = performance.now();
    const came = this.early.get(key);
    if (came === undefined) this.sent.set(key, now);
    else {
      // The frame beat the acknowledgement to this process: a latency of at most the 1 ms floor.
      this.early.delete(key);
      this.histogram.recordValue(1);
    }
  }

  arrived(key: string): void {
    const now = performance.now();
    const sent = this.sent.get(key);
    if (sent === undefined) {
      this.early.set(key, now);
      return;
    }
    this.sent.delete(key);
    this.histogram.recordValue(Math.max(1, Math.round(now - sent)));
  }

  /** Waits up to `ms` for the outstanding probes, then gives this round's figures and starts afresh. */
  async settle(ms: number, errors: number): Promise<RoundResult> {
    const deadline = Date.now() + ms;
    while (this.sent.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const h = this.histogram;
    const result = {
      p50: h.getValueAtPercentile(50),
      p99: h.getValueAtPercentile(99),
      max: h.maxValue,
      probes: h.totalCount,
      unanswered: this.sent.size,
      errors,
    };
    this.sent.clear();
    this.early.clear();
    this.histogram = Probes.fresh();
    return result;
  }
}

/** The offered load: `perTick` events every 25 ms, open loop, a probe in every other request. */
class Load {
  private seq = 0;
  private probe: number;

  constructor(
    private readonly probes: Probes,
    firstProbe: number,
  ) {
    this.probe = firstProbe;
  }

  async round(
    send: (events: Event[]) => Promise<void>,
    seconds: number,
    settleQuickly = false,
  ): Promise<RoundResult> {
    const pending: Promise<void>[] = [];
    let errors = 0;
    const start = performance.now();
    const ticks = Math.round((seconds * 1000) / tickMs);
    for (let tick = 0; tick < ticks; tick++) {
      const delay = start + tick * tickMs - performance.now();
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const now = Date.now();
      const events: Event[] = [];
      const withProbe = tick % 2 === 0;
      for (let j = withProbe ? 1 : 0; j < perTick; j++, this.seq++) {
        events.push({
          eventId: `l${this.seq}`,
          moduleId: `load-${this.seq % loadModules}`,
          metric: 'wait_minutes',
          value: 10 + (this.seq % 17),
          observedAt: now,
        });
      }
      let probeKey: string | undefined;
      if (withProbe) {
        const p = this.probe++;
        const moduleId = `probe-${p % probeModules}`;
        // Off track (100 and up) and on track (10 to 11) in turn per module; unique per probe.
        const value = Math.floor(p / probeModules) % 2 === 0 ? 100 + p / 1e4 : 10 + (p % 100_000) / 1e5;
        probeKey = `${moduleId}:${value}`;
        events.push({ eventId: `p${p}`, moduleId, metric: 'wait_minutes', value, observedAt: now });
      }
      pending.push(
        send(events).then(
          () => {
            if (probeKey) this.probes.acknowledged(probeKey);
          },
          () => {
            errors++;
          },
        ),
      );
    }
    await Promise.all(pending);
    return this.probes.settle(settleQuickly ? 3_000 : 10_000, errors);
  }
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function call(url: string, method: string, body: unknown, token: string): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** One owner, one agency, 100 load modules (a mean goal) and 20 probe modules (a `last` goal). */
async function seed(api: string, adminToken: string): Promise<string> {
  await call(
    `${api}/v1/sociotechnicians/bench-owner`,
    'PUT',
    { name: 'Bench owner', title: 'Lead' },
    adminToken,
  );
  const created = (await call(
    `${api}/v1/agencies`,
    'POST',
    { id: agency, name: 'Bench agency' },
    adminToken,
  )) as {
    key: string;
  };
  const module = (id: string, aggregation: 'mean' | 'last') => ({
    id,
    owner: 'bench-owner',
    agencies: [agency],
    domain: aggregation === 'last' ? 'probes' : 'bench',
    title: `Module ${id}`,
    summary: 'A module of the end-to-end bench.',
    constraints: [],
    rationale: 'bench setup',
    goals: [
      {
        id: 'wait',
        metric: 'wait_minutes',
        unit: 'min',
        direction: 'decrease',
        target: 30,
        tolerance: 0.1,
        window: '1m',
        aggregation,
        minSamples: 1,
        hold: '0s',
      },
    ],
  });
  const ids = [
    ...Array.from({ length: loadModules }, (_, i) => [`load-${i}`, 'mean'] as const),
    ...Array.from({ length: probeModules }, (_, i) => [`probe-${i}`, 'last'] as const),
  ];
  for (const [id, aggregation] of ids)
    await call(`${api}/v1/modules/${id}`, 'PUT', module(id, aggregation), adminToken);
  return created.key;
}

if (process.env.BENCH_E2E_RELAY) await relay(process.env.BENCH_E2E_RELAY);
else await run();
