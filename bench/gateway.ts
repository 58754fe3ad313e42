/**
 * Live gateway fan-out: messages delivered per second and delivery latency to N WebSocket
 * subscribers of one channel. Three processes: this orchestrator, the server, and the subscribers.
 * Baseline, same run, same clients: a bare `ws` server (no compression) that serializes each message
 * once and sends it to every socket, with no protocol, limits, history or bus.
 *
 * Phases per server: paced throughput (`--rate` messages/s for `--seconds`, delivered count over the
 * time from first publish to last receipt); saturated throughput (`--saturate` messages/s, default ten
 * times `--rate`, an offered load above what bare ws delivers on this machine, so the figure is what
 * each server can deliver, not what was offered); latency (10 messages/s for 5 s; p99 of publish →
 * receipt) is measured between the two, before the saturated round's backlog. Rounds (`--rounds`, default 3) alternate the two servers (bare first, then gateway
 * first, ...); each figure is the median over the rounds with the min–max beside it, and each ratio
 * the median of the per-round ratios (never the best round).
 * `--stalled 0.1` makes that share of subscribers never read (the gateway must conflate and close them
 * without growing memory; their messages are not counted). The server's RSS is reported.
 *
 *   node --import tsx bench/gateway.ts [--subscribers 1000] [--rate 100] [--saturate 1000] [--seconds 5] [--stalled 0] [--rounds 3]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import WebSocket, { WebSocketServer } from 'ws';
import { type PerformanceUpdateMs, publicUpdate } from '../schemas/performance.js';
import { ModuleVersion } from '../schemas/registry.js';
import { MemoryBus } from '../services/adapters/memory/index.js';
import { wireGateway } from '../services/gateway/role.js';
import { systemClock } from '../services/ports/clock.js';
import type { RegistryView } from '../services/ports/registry.js';
import type { Store } from '../services/ports/store.js';
import { Topics, topicSpecs } from '../services/ports/topics.js';
import { loadConfig } from '../services/runtime/config.js';
import { HttpServer } from '../services/runtime/http.js';
import { Lifecycle } from '../services/runtime/lifecycle.js';
import { median, spread } from './rounds.js';

type Kind = 'gateway' | 'bare';
type Command =
  | { cmd: 'start'; kind: Kind }
  | { cmd: 'publish'; rate: number; count: number }
  | { cmd: 'connect'; url: string; n: number; subscribe: boolean; stalled: number }
  | { cmd: 'reset' }
  | { cmd: 'wait'; expected: number; timeoutMs: number }
  | { cmd: 'close' };

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    subscribers: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
    saturate: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    stalled: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '3' },
  },
});

if (args.child === 'server') serverChild();
else if (args.child === 'clients') clientsChild();
else await main();

// ---------------------------------------------------------------- orchestrator

async function main(): Promise<void> {
  const subscribers = Number(args.subscribers);
  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  const stalled = Number(args.stalled);
  const saturate = Number(args.saturate ?? rate * 10);
  const results: Record<
    Kind,
    { paced: number[]; saturated: number[]; p50: number[]; p99: number[]; rssMb: number[] }
  > = {
    bare: { paced: [], saturated: [], p50: [], p99: [], rssMb: [] },
    gateway: { paced: [], saturated: [], p50: [], p99: [], rssMb: [] },
  };
  const rounds = Number(args.rounds);
  const order = Array.from({ length: rounds }, (_, round) =>
    round % 2 === 0 ? (['bare', 'gateway'] as Kind[]) : (['gateway', 'bare'] as Kind[]),
  ).flat();
  for (const kind of order) {
    const server = child('server');
    const clients = child('clients');
    try {
      const { port } = await ask<{ port: number }>(server, { cmd: 'start', kind });
      const url = kind === 'gateway' ? `ws://127.0.0.1:${port}/v1/live` : `ws://127.0.0.1:${port}/`;
      const { readers } = await ask<{ readers: number }>(
        clients,
        { cmd: 'connect', url, n: subscribers, subscribe: kind === 'gateway', stalled },
        120_000,
      );

      // Warm-up, then throughput at the paced rate and saturated.
      await ask(server, { cmd: 'publish', rate: 50, count: 50 });
      await ask(clients, { cmd: 'wait', expected: 50, timeoutMs: 30_000 });
      const delivered = async (offered: number, waitMs: number) => {
        await ask(clients, { cmd: 'reset' });
        const count = offered * seconds;
        const began = Date.now();
        const publishing = ask(server, { cmd: 'publish', rate: offered, count }, seconds * 1000 + 60_000);
        const done = await ask<{ received: number; lastAt: number }>(
          clients,
          { cmd: 'wait', expected: count, timeoutMs: seconds * 1000 + waitMs },
          seconds * 1000 + waitMs + 30_000,
        );
        await publishing;
        return { rate: done.received / ((done.lastAt - began) / 1000), received: done.received, count };
      };
      const paced = await delivered(rate, 60_000);

      // Latency at a calm rate, before the saturated round (whose backlog would still be draining).
      await ask(clients, { cmd: 'reset' });
      await ask(server, { cmd: 'publish', rate: 10, count: 50 });
      const calm = await ask<{ p50: number; p99: number }>(clients, {
        cmd: 'wait',
        expected: 50,
        timeoutMs: 30_000,
      });
      // A server that conflates for slow readers delivers fewer than were sent: the wait ends at its deadline.
      const saturated = await delivered(saturate, 15_000);
      const { rssMb } = await ask<{ rssMb: number }>(server, { cmd: 'close' });
      const r = results[kind];
      r.paced.push(paced.rate);
      r.saturated.push(saturated.rate);
      r.p50.push(calm.p50);
      r.p99.push(calm.p99);
      r.rssMb.push(rssMb);
      console.log(
        `${kind === 'bare' ? 'bare ws' : 'gateway'}: paced ${Math.round(paced.rate)} msgs/s delivered (${paced.received}/${paced.count * readers}), ` +
          `saturated ${Math.round(saturated.rate)} msgs/s (${saturated.received}/${saturated.count * readers} at ${saturate}/s offered), ` +
          `latency p50 ${calm.p50} ms p99 ${calm.p99} ms, server rss ${rssMb} MB, ${readers} reading subscribers`,
      );
    } finally {
      server.kill();
      clients.kill();
    }
  }
  const g = results.gateway;
  const b = results.bare;
  const ratio = (of: 'paced' | 'saturated') => median(g[of].map((v, i) => v / b[of][i]!));
  console.log(
    `bare ws: paced ${spread(b.paced)} msgs/s, saturated ${spread(b.saturated)} msgs/s, p99 ${spread(b.p99)} ms`,
  );
  console.log(
    `gateway: paced ${spread(g.paced)} msgs/s, saturated ${spread(g.saturated)} msgs/s, p99 ${spread(g.p99)} ms`,
  );
  console.log(
    `gateway: ${Math.round(median(g.saturated))} msgs/s saturated (${ratio('saturated').toFixed(2)} of bare ws), ` +
      `${Math.round(median(g.paced))} msgs/s paced (${ratio('paced').toFixed(2)}), p99 ${median(g.p99)} ms at ${subscribers} subscribers ` +
      `(medians of ${rounds} rounds)`,
  );
}

function child(role: 'server' | 'clients'): ChildProcess {
  return fork(new URL(import.meta.url).pathname, ['--child', role], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function ask<T = unknown>(proc: ChildProcess, command: Command, timeoutMs = 30_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${command.cmd} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    proc.once('message', (reply: { error?: string } & T) => {
      clearTimeout(timer);
      if (reply.error) reject(new Error(reply.error));
      else resolve(reply);
    });
    proc.send(command);
  });
}

function serve(handle: (command: Command) => Promise<unknown>): void {
  process.on('message', (command: Command) => {
    handle(command).then(
      (reply) => process.send?.(reply ?? {}),
      (err: Error) => process.send?.({ error: err.stack ?? String(err) }),
    );
  });
}

// ---------------------------------------------------------------- server process

function serverChild(): void {
  let publish: (n: number) => Promise<void>;
  let stop: () => Promise<void> = async () => {};
  let seq = 0;
  let lastMs = 0;
  // The same update for both servers, as the processor publishes it (asOf in epoch ms); the frame's
  // asOf text carries the publish time for latency. The bare server formats it, as the gateway does.
  const update = (): PerformanceUpdateMs => {
    // Strictly increasing times keep every update fresh for the gateway's latest-per-goal state.
    lastMs = Math.max(Date.now(), lastMs + 1);
    seq += 1;
    return {
      moduleId: 'bench',
      moduleVersion: 1,
      goalId: `goal-${seq % 20}`,
      ruleKind: 'goal',
      metric: 'on_time_rate',
      aggregation: 'mean',
      window: '1h',
      asOfMs: lastMs,
      value: 90 + (seq % 10),
      count: 1200,
      target: 90,
      shortfall: 0,
      status: 'on_track',
      stagnating: false,
      trend: 0.25,
    };
  };

  serve(async (command) => {
    if (command.cmd === 'start') {
      if (command.kind === 'bare') {
        const wss = new WebSocketServer({
          host: '127.0.0.1',
          port: 0,
          perMessageDeflate: false,
          clientTracking: true,
        });
        await new Promise((resolve) => wss.once('listening', resolve));
        publish = async () => {
          const bytes = Buffer.from(
            JSON.stringify({
              type: 'update',
              channel: 'module:bench',
              epoch: 'bare',
              seq,
              data: publicUpdate(update()),
            }),
          );
          for (const ws of wss.clients) ws.send(bytes, { binary: false });
        };
        stop = async () => {
          for (const ws of wss.clients) ws.terminate();
          wss.close();
        };
        return { port: (wss.address() as AddressInfo).port };
      }
      const logger = pino({ level: 'warn' });
      const bus = new MemoryBus({ topicPrefix: `bench-${randomBytes(3).toString('hex')}` });
      await bus.start();
      await bus.ensureTopics(topicSpecs);
      const lifecycle = new Lifecycle(logger, 5_000);
      const metrics = new Registry();
      const http = new HttpServer({
        host: '127.0.0.1',
        port: 0,
        logger,
        metrics,
        lifecycle,
        version: 'bench',
      });
      await wireGateway(
        {
          config: { ...loadConfig({}), port: 0 },
          logger,
          metrics,
          clock: systemClock,
          bus,
          store: unusedStore,
          registry: benchRegistry,
          audit: { append: async () => Promise.reject(new Error('no audit in the benchmark')) },
          commandKey: randomBytes(32),
          http,
          lifecycle,
        },
        // Every subscriber connects from 127.0.0.1 here; every other limit stays at its default.
        { limits: { maxConnectionsPerIp: 1_000_000 } },
      );
      lifecycle.add(http);
      await lifecycle.start();
      publish = (n) =>
        bus.publish(
          Topics.performanceUpdates,
          Array.from({ length: n }, () => ({ key: 'bench', value: JSON.stringify(update()) })),
        );
      stop = async () => {
        await lifecycle.stop();
        await bus.stop();
      };
      return { port: http.port() };
    }
    if (command.cmd === 'publish') {
      // Paced in 10 ms ticks, catching up if a tick ran late.
      const began = Date.now();
      let sent = 0;
      while (sent < command.count) {
        const due = Math.min(command.count, Math.floor(((Date.now() - began) / 1000) * command.rate) + 1);
        if (due > sent) {
          for (let i = sent; i < due; i += 1) await publish(1);
          sent = due;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return {};
    }
    if (command.cmd === 'close') {
      const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
      await stop();
      return { rssMb };
    }
    throw new Error(`server: unknown command ${command.cmd}`);
  });
}

const benchRegistry: RegistryView = (() => {
  const module = ModuleVersion.parse({
    id: 'bench',
    domain: 'bench',
    title: 'Benchmark module',
    owner: 'bench',
    goals: [
      {
        id: 'goal-0',
        metric: 'on_time_rate',
        unit: '%',
        direction: 'increase',
        target: 90,
        tolerance: 0.05,
        window: '1h',
        aggregation: 'mean',
      },
    ],
    version: 1,
    updatedAt: new Date().toISOString(),
    updatedBy: 'bench',
    rationale: 'bench',
  });
  return {
    module: (id) => (id === 'bench' ? module : undefined),
    modules: () => [module],
    sociotechnician: () => undefined,
    sociotechnicians: () => [],
    authenticate: async () => undefined,
    onChange: () => () => {},
    proposal: () => undefined,
    proposals: () => [],
    openProposal: () => undefined,
  };
})();

const unusedStore: Store = {
  name: 'store',
  start: async () => {},
  stop: async () => {},
  health: () => ({ state: 'ok' }),
  migrate: async () => ({ applied: [], current: [] }),
  insert: async () => {},
  select: async () => [],
  maxPerGroup: async () => new Map(),
  daily: async () => [],
  countPerGroup: async () => new Map(),
  expire: async (table, beforeMs) => ({ table, beforeMs, rows: 0, partitions: [] }),
};

// ---------------------------------------------------------------- subscriber process

function clientsChild(): void {
  const sockets: WebSocket[] = [];
  let counts: number[] = [];
  let lastAt = 0;
  let histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000,
    numberOfSignificantValueDigits: 3,
  });
  const marker = '"asOf":"';

  serve(async (command) => {
    if (command.cmd === 'connect') {
      const stalledEvery = command.stalled > 0 ? Math.round(1 / command.stalled) : 0;
      const reading: number[] = [];
      for (let i = 0; i < command.n; i += 1) {
        const index = i;
        const ws = new WebSocket(command.url, { perMessageDeflate: false });
        ws.on('error', () => {});
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        const stalled = stalledEvery > 0 && i % stalledEvery === stalledEvery - 1;
        if (command.subscribe) {
          const subscribed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
          ws.send(JSON.stringify({ op: 'subscribe', channel: 'module:bench' }));
          await subscribed;
        }
        sockets.push(ws);
        if (stalled) {
          ws.pause();
          continue;
        }
        reading.push(index);
        ws.on('message', (data: Buffer) => {
          const text = data.toString('latin1');
          const at = text.indexOf(marker);
          if (at < 0) return;
          const now = Date.now();
          const sent = Date.parse(text.slice(at + marker.length, at + marker.length + 24));
          histogram.recordValue(Math.max(1, now - sent));
          counts[index] = (counts[index] ?? 0) + 1;
          lastAt = now;
        });
      }
      counts = new Array(command.n).fill(0);
      for (let i = 0; i < command.n; i += 1) if (!reading.includes(i)) counts[i] = Number.NaN;
      return { readers: reading.length };
    }
    if (command.cmd === 'reset') {
      counts = counts.map((c) => (Number.isNaN(c) ? c : 0));
      histogram = hdr.build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: 600_000,
        numberOfSignificantValueDigits: 3,
      });
      lastAt = 0;
      return {};
    }
    if (command.cmd === 'wait') {
      const deadline = Date.now() + command.timeoutMs;
      const complete = () => counts.every((c) => Number.isNaN(c) || c >= command.expected);
      while (!complete() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      const received = counts.reduce((sum, c) => sum + (Number.isNaN(c) ? 0 : c), 0);
      return {
        received,
        lastAt,
        p50: histogram.getValueAtPercentile(50),
        p99: histogram.getValueAtPercentile(99),
      };
    }
    throw new Error(`clients: unknown command ${command.cmd}`);
  });
}
