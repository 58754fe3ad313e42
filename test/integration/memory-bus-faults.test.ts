import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { DamageFix } from '../../services/adapters/memory/partition-file.js';
import { IngestMetrics } from '../../services/ingest/metrics.js';
import { RecentEventIds } from '../../services/ingest/recent-event-ids.js';
import { submitEvents } from '../../services/ingest/submit.js';
import type { BusError } from '../../services/ports/bus-errors.js';
import { systemClock } from '../../services/ports/clock.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { testCommandKey } from '../support/command-key.js';
import { meanGoalModule, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

/**
 * The standalone bus log under damage: between restarts of the real bus, ingest's submit and the
 * processor (on DuckDB), a seeded random fault hits the log: a flipped byte or a cut in a segment of
 * any topic, a flipped byte or a cut in offsets.json, or a torn last write. Every start must either
 * refuse with `bus_log_damaged` naming the damaged file, or process every event it answers 202 for;
 * an event acknowledged before the damage may only be missing if a truncation of its partition was
 * logged. After a refusal the test either restores the pre-damage copy or applies the fix the error
 * names (accepting the loss), and starts again. Reproduce a run with GLASSHOUSE_FAULT_SEED=<seed>.
 */
const restarts = 50;
const seed = Number(process.env.GLASSHOUSE_FAULT_SEED ?? Date.now() % 2 ** 31);
const modules = ['fault-a', 'fault-b', 'fault-c', 'fault-d'];
const agency = 'clinic-agency';

/** mulberry32: a small seeded generator, so a failing run can be replayed from its seed. */
function random(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const rand = random(seed);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Rig {
  bus: MemoryBus;
  store: DuckDbStore;
  processor: Processor;
  submit(events: unknown[]): ReturnType<typeof submitEvents>;
  /** Warnings the bus logged while opening. */
  logged: string[];
}

const registry = new FixtureRegistry({ modules: modules.map((m) => meanGoalModule(m, { window: '1h' })) });

async function startRig(dir: string): Promise<Rig> {
  const logged: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
  const bus = new MemoryBus({ dataDir: join(dir, 'bus'), retryBaseMs: 5, segmentBytes: 2_048, logger });
  try {
    await bus.start();
    await bus.ensureTopics(topicSpecs);
  } catch (err) {
    await bus.stop();
    throw err;
  }
  const store = new DuckDbStore({ path: join(dir, 'store.duckdb'), logger: pino({ level: 'silent' }) });
  await store.start();
  await store.migrate();
  if ((await store.select('module_versions')).length === 0) {
    await store.insert(
      'module_versions',
      registry.modules().map((m) => ({
        module_id: m.id,
        version: m.version,
        updated_ms: Date.parse(m.updatedAt),
        body: m,
      })),
    );
  }
  const processor = new Processor({
    bus,
    store,
    registry,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    metrics: new ProcessorMetrics(new Registry()),
    commandKey: testCommandKey,
    tickMs: 100,
    backoff: { baseMs: 20, capMs: 200 },
  });
  await processor.start();
  const deps = {
    bus,
    registry,
    clock: systemClock,
    recent: new RecentEventIds(),
    metrics: new IngestMetrics(new Registry()),
    publishTimeoutMs: 20_000,
  };
  return { bus, store, processor, submit: (events) => submitEvents(deps, agency, events), logged };
}

async function stopRig(rig: Rig): Promise<void> {
  await rig.processor.stop();
  await rig.bus.stop();
  await rig.store.stop();
}

/** Events answered 202 by ingest (the whole batch, or the test fails). */
async function post(rig: Rig, prefix: string, count: number): Promise<string[]> {
  const events = Array.from({ length: count }, (_, i) => ({
    eventId: `${prefix}-${i}`,
    moduleId: modules[i % modules.length]!,
    metric: 'wait_minutes',
    value: i % 50,
    observedAt: Date.now(),
  }));
  const answer = await rig.submit(events);
  expect(answer).toEqual({ accepted: count, duplicates: 0, rejected: [] });
  return events.map((e) => e.eventId);
}

async function storedIds(store: DuckDbStore, ids: string[]): Promise<Set<string>> {
  const rows = await store.select('metric_events', {
    where: [{ column: 'event_id', op: 'in', value: ids }],
    limit: ids.length + 1,
  });
  return new Set(rows.map((r) => r.event_id));
}

/** Every file a fault may hit: non-empty segments of every topic, and offsets.json. */
async function targets(busDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const topic of await readdir(busDir, { withFileTypes: true })) {
    if (!topic.isDirectory()) continue;
    for (const p of await readdir(join(busDir, topic.name))) {
      for (const name of await readdir(join(busDir, topic.name, p))) {
        const path = join(busDir, topic.name, p, name);
        if (name.endsWith('.log') && (await stat(path)).size > 0) out.push(path);
      }
    }
  }
  return out;
}

type Fault = 'flip' | 'cut' | 'torn';

/** Damages one file; returns what was done, for the failure message. */
async function damage(busDir: string): Promise<{ path: string; what: string }> {
  const offsets = join(busDir, 'offsets.json');
  const segments = await targets(busDir);
  // metrics.raw is where acknowledged events live: it takes half the faults.
  const raw = segments.filter((s) => relative(busDir, s).startsWith('metrics.raw'));
  const roll = rand();
  const path = roll < 0.2 ? offsets : roll < 0.6 && raw.length > 0 ? pick(raw) : pick([...segments, offsets]);
  const fault: Fault = path === offsets ? pick<Fault>(['flip', 'cut']) : pick<Fault>(['flip', 'cut', 'torn']);
  const bytes = await readFile(path);
  if (fault === 'flip' || bytes.length === 0) {
    const at = Math.floor(rand() * bytes.length);
    const mask = 1 << Math.floor(rand() * 8);
    bytes[at] = bytes[at]! ^ mask;
    await writeFile(path, bytes);
    return { path, what: `flipped bit ${mask} of byte ${at} of ${bytes.length}` };
  }
  if (fault === 'cut') {
    const to = Math.floor(rand() * bytes.length);
    await truncate(path, to);
    return { path, what: `cut from ${bytes.length} to ${to} bytes` };
  }
  // A torn write: the start of a frame (its length says more follows than the file holds).
  const frame = Buffer.alloc(40, 0xab);
  frame.writeUInt32LE(500, 0);
  const partial = frame.subarray(0, 1 + Math.floor(rand() * frame.length));
  await writeFile(path, Buffer.concat([bytes, partial]));
  return { path, what: `appended a torn frame of ${partial.length} bytes` };
}

/** Accepts the loss the refusal describes, by the change it names. */
async function applyFix(fix: DamageFix): Promise<void> {
  if (fix.kind === 'offset_past_end') {
    const doc = JSON.parse(await readFile(fix.offsetsFile, 'utf8')) as {
      entries: Array<{ topic: string; group: string; partitions: Record<string, number> }>;
      crc32?: number;
    };
    const entry = doc.entries.find((e) => e.topic === fix.topic && e.group === fix.group)!;
    entry.partitions[String(fix.partition)] = fix.logEnd;
    delete doc.crc32;
    await writeFile(fix.offsetsFile, JSON.stringify(doc));
    return;
  }
  if ('truncateTo' in fix && fix.truncateTo !== undefined) await truncate(fix.path, fix.truncateTo);
  for (const path of fix.remove) await unlink(path);
}

describe('the standalone bus log under random damage', () => {
  it(`refuses with the damage named, or processes every event it acknowledges, over ${restarts} restarts`, async () => {
    // Printed so a failing run can be replayed.
    console.log(`bus log fault test: seed ${seed} (GLASSHOUSE_FAULT_SEED=${seed} replays it)`);
    const dir = await mkdtemp(join(tmpdir(), 'gh-bus-faults-'));
    dirs.push(dir);
    const busDir = join(dir, 'bus');
    const backup = join(dir, 'bus-backup');
    const figures = { starts: 0, refusals: 0, clean: 0, truncations: 0, checked: 0, lostLogged: 0 };
    /** Events acknowledged but deliberately left unprocessed at the last stop, per partition. */
    let pending = new Map<string, number>();
    let damaged: { path: string; what: string } | undefined;
    let round = 0;
    while (figures.starts < restarts) {
      figures.starts++;
      const context = () =>
        `seed ${seed}, start ${figures.starts}, damage ${damaged ? `${relative(busDir, damaged.path)}: ${damaged.what}` : 'none'}`;
      let rig: Rig;
      try {
        rig = await startRig(dir);
      } catch (err) {
        const e = err as BusError;
        expect(e.code, `${context()}: ${e.stack}`).toBe('bus_log_damaged');
        expect(damaged, `${context()}: refused without damage: ${e.message}`).toBeDefined();
        // The message names the damaged file, or the partition whose log it cut short.
        const named = damaged!.path.endsWith('offsets.json') ? damaged!.path : dirname(damaged!.path);
        expect(e.message, context()).toContain(named);
        figures.refusals++;
        if (rand() < 0.5) {
          await rm(busDir, { recursive: true, force: true });
          await cp(backup, busDir, { recursive: true });
          damaged = undefined;
        } else {
          // The loss is accepted: events acknowledged before it may be gone, nothing after it.
          await applyFix(e.details as DamageFix);
          pending = new Map();
        }
        continue;
      }
      figures.clean++;
      const truncated = rig.logged.filter((l) => l.includes('torn record'));
      figures.truncations += truncated.length;
      if (truncated.length > 0) expect(rig.bus.health(), context()).toMatchObject({ state: 'degraded' });
      const fresh = await post(rig, `s${round}`, 40);
      await waitUntil(
        `${context()}: every acknowledged event of this start processed`,
        async () => (await storedIds(rig.store, fresh)).size === fresh.length,
        20_000,
      );
      figures.checked += fresh.length;
      // Acknowledged before the damage: processed, or its partition's truncation was logged.
      if (pending.size > 0) {
        const ids = [...pending.keys()];
        const stored = await storedIds(rig.store, ids);
        for (const id of ids.filter((i) => !stored.has(i))) {
          const partition = pending.get(id)!;
          expect(
            truncated.some(
              (l) => l.includes(`metrics.raw/${partition} `) || l.includes(`"partition":${partition},`),
            ),
            `${context()}: ${id} (partition ${partition}) vanished without a logged truncation`,
          ).toBe(true);
          figures.lostLogged++;
        }
      }
      // Leave some acknowledged events unprocessed now and then, so tail damage can hit them.
      pending = new Map();
      if (rand() < 0.5) {
        await rig.processor.stop();
        const extra = await post(rig, `u${round}`, 12);
        for (const [i, id] of extra.entries())
          pending.set(id, await rig.bus.partitionFor(Topics.metricsRaw, modules[i % modules.length]!));
      }
      await stopRig(rig);
      await rm(backup, { recursive: true, force: true });
      await cp(busDir, backup, { recursive: true });
      damaged = await damage(busDir);
      round++;
    }
    console.log(
      `bus log fault test: seed ${seed}: ${figures.starts} starts, ${figures.refusals} refused, ${figures.clean} clean (${figures.truncations} torn tails cut), ${figures.checked} acknowledged events checked processed, ${figures.lostLogged} earlier events lost with a logged truncation`,
    );
    expect(figures.refusals).toBeGreaterThan(0);
    expect(figures.clean).toBeGreaterThan(0);
  }, 240_000);
});
