import { appendFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { IncomingRecord, TopicSpec } from '../../services/ports/bus.js';
import { busContract } from '../contract/bus-contract.js';

// Every publish here waits for a real fdatasync; on a shared 2-core CI machine running Kafka and
// ClickHouse beside these tests, a sync can take seconds. The budgets bound a hang, not the speed.
const ioWaitMs = 20_000;
vi.setConfig({ testTimeout: 60_000 });

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gh-bus-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

busContract('memory, durable', {
  async createBus() {
    const bus = new MemoryBus({ topicPrefix: 'unit', retryBaseMs: 5, dataDir: await freshDir() });
    await bus.start();
    return bus;
  },
  waitMs: ioWaitMs,
});

const raw: TopicSpec = { name: 'raw', partitions: 3 };

/** A bus on `dir` with the topic ready; `segmentBytes` small to exercise rolling. */
async function openBus(dir: string, segmentBytes?: number, specs: TopicSpec[] = [raw]): Promise<MemoryBus> {
  const bus = new MemoryBus({ dataDir: dir, retryBaseMs: 5, ...(segmentBytes ? { segmentBytes } : {}) });
  await bus.start();
  await bus.ensureTopics(specs);
  return bus;
}

/** Reads a topic from the beginning with a broadcast reader until `count` records arrived. */
async function readAll(bus: MemoryBus, topic: string, count: number): Promise<IncomingRecord[]> {
  const seen: IncomingRecord[] = [];
  const c = await bus.consume({
    topic,
    group: null,
    fromBeginning: true,
    onBatch: async (b) => void seen.push(...b.records),
  });
  await expect.poll(() => seen.length, { timeout: ioWaitMs }).toBeGreaterThanOrEqual(count);
  await c.stop();
  return seen;
}

describe('MemoryBus with a data directory', () => {
  it('keeps every acknowledged record and each group offset across an abandoned process (no stop)', async () => {
    const dir = await freshDir();
    const first = await openBus(dir);
    const handled: string[] = [];
    // Once frozen, the first process handles nothing more, as if killed: its late batches never commit.
    let frozen = false;
    await first.consume({
      topic: 'raw',
      group: 'g',
      fromBeginning: true,
      onBatch: async (b) => {
        if (frozen) await new Promise(() => {});
        handled.push(...b.records.map((r) => r.value.toString()));
      },
    });
    // Concurrent publishes share fsyncs (group commit); each resolves only once durable.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => first.publish('raw', [{ key: `k${i % 7}`, value: `v${i}` }])),
    );
    await expect.poll(() => handled.length, { timeout: ioWaitMs }).toBe(50);
    // Committed offsets reach disk asynchronously; wait until the file says all 50 were read.
    // The committed offsets on disk add up to the 50 records handled.
    await expect
      .poll(
        async () => {
          const text = await readFile(join(dir, 'offsets.json'), 'utf8').catch(() => '{"entries":[]}');
          const { entries } = JSON.parse(text) as { entries: Array<{ partitions: Record<string, number> }> };
          return entries.flatMap((e) => Object.values(e.partitions)).reduce((a, b) => a + b, 0);
        },
        { timeout: ioWaitMs },
      )
      .toBe(50);
    frozen = true;
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => first.publish('raw', [{ key: `k${i}`, value: `late${i}` }])),
    );
    // `first` is never stopped: as after SIGKILL, its files are simply reopened.
    const second = await openBus(dir);
    expect((await readAll(second, 'raw', 60)).length).toBe(60);
    const redelivered: string[] = [];
    await second.consume({
      topic: 'raw',
      group: 'g',
      onBatch: async (b) => void redelivered.push(...b.records.map((r) => r.value.toString())),
    });
    await expect.poll(() => redelivered.length, { timeout: ioWaitMs }).toBeGreaterThanOrEqual(10);
    expect(redelivered.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `late${i}`).sort());
    await second.stop();
  });

  it('cuts off a torn tail at the next open and keeps appending after the last whole record', async () => {
    const dir = await freshDir();
    const first = await openBus(dir, undefined, [{ name: 'one', partitions: 1 }]);
    await first.publish('one', [
      { key: 'a', value: 'first' },
      { key: 'b', value: 'second' },
    ]);
    const segment = join(dir, 'one', '0', '00000000000000000000.log');
    const whole = (await stat(segment)).size;
    await appendFile(segment, Buffer.from([40, 0, 0, 0, 1, 2, 3]));
    const second = await openBus(dir, undefined, [{ name: 'one', partitions: 1 }]);
    expect((await stat(segment)).size).toBe(whole);
    await second.publish('one', [{ key: 'c', value: 'third' }]);
    const records = await readAll(second, 'one', 3);
    expect(records.map((r) => [r.offset, r.value.toString()])).toEqual([
      ['0', 'first'],
      ['1', 'second'],
      ['2', 'third'],
    ]);
    await second.stop();
  });

  it('deletes segments every group has committed past, and keeps the rest', async () => {
    const dir = await freshDir();
    const bus = await openBus(dir, 512, [{ name: 'one', partitions: 1 }]);
    let read = 0;
    const c = await bus.consume({
      topic: 'one',
      group: 'g',
      fromBeginning: true,
      onBatch: async (b) => {
        read += b.records.length;
      },
    });
    for (let i = 0; i < 100; i++)
      await bus.publish('one', [{ key: 'k', value: `value-${i}`.padEnd(40, '.') }]);
    await expect.poll(() => read, { timeout: ioWaitMs }).toBe(100);
    const partitionDir = join(dir, 'one', '0');
    await expect
      .poll(async () => (await readdir(partitionDir)).length, { timeout: ioWaitMs })
      .toBeLessThanOrEqual(2);
    await c.stop();
    // Offsets survive, the numbering continues, and nothing committed is delivered again.
    await bus.stop();
    const again = await openBus(dir, 512, [{ name: 'one', partitions: 1 }]);
    await again.publish('one', [{ key: 'k', value: 'after' }]);
    const after: IncomingRecord[] = [];
    await again.consume({
      topic: 'one',
      group: 'g',
      onBatch: async (b) => void after.push(...b.records),
    });
    await expect.poll(() => after.length, { timeout: ioWaitMs }).toBeGreaterThan(0);
    expect(after.map((r) => [r.offset, r.value.toString()])).toEqual([['100', 'after']]);
    await again.stop();
  });

  it('keeps only the open segment of a topic no group reads (its readers start at the end)', async () => {
    const dir = await freshDir();
    const bus = await openBus(dir, 512, [
      { name: 'one', partitions: 1 },
      { name: 'broadcast', partitions: 1 },
    ]);
    let read = 0;
    const c = await bus.consume({
      topic: 'one',
      group: 'g',
      fromBeginning: true,
      onBatch: async (b) => {
        read += b.records.length;
      },
    });
    for (let i = 0; i < 100; i++) {
      await bus.publish('broadcast', [{ key: 'k', value: `update-${i}`.padEnd(40, '.') }]);
      await bus.publish('one', [{ key: 'k', value: `value-${i}`.padEnd(40, '.') }]);
    }
    await expect.poll(() => read, { timeout: ioWaitMs }).toBe(100);
    // Ten segments were written; the offsets the group commits trigger the clean-up of both topics.
    await expect
      .poll(async () => (await readdir(join(dir, 'broadcast', '0'))).length, { timeout: ioWaitMs })
      .toBe(1);
    await c.stop();
    await bus.stop();
    // A restart loads only that segment, and the numbering goes on.
    const again = await openBus(dir, 512, [
      { name: 'one', partitions: 1 },
      { name: 'broadcast', partitions: 1 },
    ]);
    await again.publish('broadcast', [{ key: 'k', value: 'after' }]);
    const records = await readAll(again, 'broadcast', 1);
    expect(records.at(-1)?.offset).toBe('100');
    expect(records.length).toBeLessThan(20);
    await again.stop();
  });

  it('compacts a compacted topic on disk to the latest record per key', async () => {
    const dir = await freshDir();
    const spec: TopicSpec = { name: 'registry', partitions: 1, compacted: true };
    const bus = await openBus(dir, 256, [spec]);
    for (let round = 0; round < 30; round++) {
      await bus.publish('registry', [
        { key: 'alpha', value: `a${round}`.padEnd(30, '.') },
        { key: 'beta', value: `b${round}`.padEnd(30, '.') },
      ]);
    }
    await bus.stop();
    const files = await readdir(join(dir, 'registry', '0'));
    expect(files.length).toBeLessThanOrEqual(3);
    const again = await openBus(dir, 256, [spec]);
    const latest = new Map<string, string>();
    const records = await readAll(again, 'registry', 2);
    for (const r of records) latest.set(r.key ?? '', r.value.toString().replace(/\.+$/, ''));
    expect(Object.fromEntries(latest)).toEqual({ alpha: 'a29', beta: 'b29' });
    expect(records.length).toBeLessThan(20);
    await again.stop();
  });
});
