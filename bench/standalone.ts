/**
 * Standalone throughput: sustained events per second through the whole single process — HTTP ingest,
 * the durable in-process bus (fsync), the processor, DuckDB, and the live update a WebSocket
 * subscriber receives — batches of 50 from 16 concurrent keep-alive clients in a child process.
 * An event counts once the live window's count includes it, so the figure is the rate the pipeline
 * sustains, not the rate ingest can queue. Baseline, same run, same clients: a bare node:http server
 * that only reads and JSON-parses the same bodies and answers 202.
 *
 * For reference it also measures the least any server that means "durable" by 202 must do: the bare
 * server that in addition appends each body to a file and fdatasyncs before answering (group commit:
 * requests arriving during a sync share the next one). It shows how much of the gap to the bare
 * server is durability alone.
 *
 * The three paths alternate within each of `BENCH_ROUNDS` rounds (3); figures are medians with the
 * min–max beside them.
 *
 *   node --import tsx bench/standalone.ts
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startGlasshouse } from '../services/main.js';
import { loadConfig } from '../services/runtime/config.js';
import { createLogger } from '../services/runtime/logger.js';
import { median, spread } from './rounds.js';

const clients = 16;
const batchSize = 50;
const warmupMs = 3_000;
const measureMs = 10_000;
/** Rounds per path; the paths alternate within each round (bare, durable reference, Glasshouse). */
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const modules = Array.from({ length: 6 }, (_, i) => `bench-module-${i}`);

interface LoadResult {
  events: number;
  seconds: number;
  errors: number;
}

const loadTarget = process.env.BENCH_STANDALONE_URL;
if (loadTarget) {
  process.send!(
    await load(
      loadTarget,
      process.env.BENCH_STANDALONE_KEY ?? '',
      Number(process.env.BENCH_STANDALONE_MS),
      process.env.BENCH_STANDALONE_TAG ?? 'x',
    ),
  );
  process.disconnect();
} else {
  await main();
}

/** Events/s a bare server sustains (with `syncDir`, the durable reference). */
async function bareRate(tag: string, syncDir?: string): Promise<number> {
  const server = await bareServer(syncDir);
  try {
    await runLoad(server.url, '', warmupMs, `${tag}-warm`);
    const measured = await runLoad(server.url, '', measureMs, tag);
    return measured.events / measured.seconds;
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const base: number[] = [];
  const synced: number[] = [];
  const ours: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    base.push(await bareRate('bare'));
    synced.push(await bareRate('fsync', await mkdtemp(join(tmpdir(), 'gh-bench-fsync-'))));
    ours.push(await standaloneRate());
    console.log(
      `round ${round}: bare http ${Math.round(base.at(-1)!)}, bare http + fdatasync'd append ` +
        `${Math.round(synced.at(-1)!)}, standalone ${Math.round(ours.at(-1)!)} events/s`,
    );
  }
  const ratio = ours.map((o, i) => o / synced[i]!);
  console.log(`bare http (parse only): ${spread(base)} events/s`);
  console.log(`reference, bare http + fdatasync'd append: ${spread(synced)} events/s`);
  console.log(
    `standalone: ${Math.round(median(ours))} events/s (${median(ratio).toFixed(3)} of the durable reference ` +
      `(${Math.min(...ratio).toFixed(3)}–${Math.max(...ratio).toFixed(3)}), bare http + fdatasync'd append ` +
      `${Math.round(median(synced))} events/s; target ≥ 0.15; ${(median(ours) / median(base)).toFixed(3)} of bare http; ` +
      `medians of ${rounds} alternating rounds)`,
  );
}

/** Runs Glasshouse standalone in this process and measures events reaching the live window. */
async function standaloneRate(): Promise<number> {
  const adminToken = `bench-admin-${randomBytes(12).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-bench-'));
  const config = loadConfig(
    {
      GLASSHOUSE_ADMIN_TOKEN: adminToken,
      GLASSHOUSE_INGEST_RATE: '10000000',
      GLASSHOUSE_INGEST_BURST: '10000000',
    },
    { port: 0, dataDir },
  );
  const running = await startGlasshouse(config, createLogger('warn'));
  const url = `http://127.0.0.1:${running.port}/`;
  try {
    const key = await seed(url, adminToken);
    const live = await liveCounts(url);
    try {
      const warm = await runLoad(url, key, warmupMs, 'gh-warm');
      await live.reach(warm.events, 120_000);
      const began = Date.now();
      const measured = await runLoad(url, key, measureMs, 'gh');
      await live.reach(warm.events + measured.events, 300_000);
      const seconds = (Date.now() - began) / 1000;
      console.log(
        `standalone ingest answered ${Math.round(measured.events / measured.seconds)} events/s; ` +
          `all ${measured.events} live after ${seconds.toFixed(1)} s (errors ${measured.errors})`,
      );
      return measured.events / seconds;
    } finally {
      live.close();
    }
  } finally {
    await running.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function seed(url: string, adminToken: string): Promise<string> {
  const json = async (method: string, path: string, body: unknown) => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  await json('PUT', '/v1/sociotechnicians/bench-owner', { name: 'Bench owner' });
  const { key } = await json('POST', '/v1/agencies', { id: 'bench-agency', name: 'Bench agency' });
  for (const id of modules) {
    await json('PUT', `/v1/modules/${id}`, {
      id,
      domain: 'bench',
      title: `Bench ${id}`,
      summary: 'Benchmark module.',
      owner: 'bench-owner',
      agencies: ['bench-agency'],
      allowedLateness: '1h',
      constraints: [],
      goals: [
        {
          id: 'volume',
          metric: 'jobs',
          unit: 'jobs',
          direction: 'increase',
          target: 1,
          tolerance: 0.1,
          window: '24h',
          aggregation: 'count',
          minSamples: 1,
          hold: '0s',
        },
      ],
      rationale: 'benchmark',
    });
  }
  return key as string;
}

/** A live subscriber on every bench module; `reach(n)` waits until their window counts sum to n. */
async function liveCounts(url: string) {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}v1/live`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const counts = new Map<string, number>();
  let wake: (() => void) | undefined;
  socket.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { type: string; data?: { moduleId: string; count: number } };
    if (m.type !== 'update' || !m.data) return;
    counts.set(m.data.moduleId, Math.max(counts.get(m.data.moduleId) ?? 0, m.data.count));
    wake?.();
  });
  for (const id of modules) socket.send(JSON.stringify({ op: 'subscribe', channel: `module:${id}` }));
  const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    async reach(target: number, timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (total() < target) {
        if (Date.now() > deadline) throw new Error(`live count ${total()} never reached ${target}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
    },
    close: () => socket.terminate(),
  };
}

/**
 * The baseline: reads and parses each body, answers 202 with the count. With `syncDir`, it also
 * appends the body to a file there and answers once it is fdatasynced (group commit).
 */
async function bareServer(syncDir?: string): Promise<{ url: string; close(): Promise<void> }> {
  const log = syncDir ? await open(join(syncDir, 'log'), 'a') : undefined;
  let waiting: Array<{ bytes: Buffer; answer: () => void }> = [];
  let syncing = false;
  const sync = async () => {
    syncing = true;
    while (waiting.length > 0) {
      const group = waiting;
      waiting = [];
      await log!.write(Buffer.concat(group.map((w) => w.bytes)));
      await log!.datasync();
      for (const w of group) w.answer();
    }
    syncing = false;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const body = JSON.parse(bytes.toString('utf8')) as { events: unknown[] };
      const answer = () => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted: body.events.length, duplicates: 0, rejected: [] }));
      };
      if (!log) return answer();
      waiting.push({ bytes, answer });
      if (!syncing) void sync();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await log?.close();
      if (syncDir) await rm(syncDir, { recursive: true, force: true });
    },
  };
}

/** Runs the clients in a child process (so they do not share this process's event loop). */
function runLoad(url: string, key: string, ms: number, tag: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        BENCH_STANDALONE_URL: url,
        BENCH_STANDALONE_KEY: key,
        BENCH_STANDALONE_MS: String(ms),
        BENCH_STANDALONE_TAG: tag,
      },
    });
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load process exited with ${code}`));
    });
  });
}

/** `clients` loops posting batches of 50 for `ms`; counts events in 202 answers. */
async function load(url: string, key: string, ms: number, tag: string): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL('/v1/metrics', url);
  const began = Date.now();
  const end = began + ms;
  let events = 0;
  let errors = 0;
  let sequence = 0;
  const post = (body: string) =>
    new Promise<number>((resolve) => {
      const req = request(
        target,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(key ? { authorization: `Bearer ${key}` } : {}),
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
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (Date.now() < end) {
        const now = Date.now();
        const events_ = Array.from({ length: batchSize }, (_, i) => ({
          eventId: `${tag}-${c}-${sequence++}`,
          moduleId: modules[(c + i) % modules.length]!,
          metric: 'jobs',
          value: 1,
          observedAt: now,
        }));
        const status = await post(JSON.stringify({ events: events_ }));
        if (status === 202) events += batchSize;
        else errors++;
      }
    }),
  );
  agent.destroy();
  return { events, seconds: (Date.now() - began) / 1000, errors };
}
