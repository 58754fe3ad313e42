import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { TopicSpec } from '../../services/ports/bus.js';

// Every publish waits for a real fdatasync; on a loaded machine one can take seconds.
const ioWaitMs = 20_000;
vi.setConfig({ testTimeout: 60_000 });

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const one: TopicSpec = { name: 'one', partitions: 1 };

/** A durable bus on a fresh (or given) directory, with its warnings collected. */
async function openBus(dir?: string, segmentBytes?: number) {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'gh-bus-damage-')));
  if (!dir) dirs.push(dataDir);
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const bus = new MemoryBus({ dataDir, retryBaseMs: 5, logger, ...(segmentBytes ? { segmentBytes } : {}) });
  await bus.start();
  await bus.ensureTopics([one]);
  return { bus, dir: dataDir, warnings };
}

/** Opening `dir` again fails; returns the error. */
async function refusal(dir: string, segmentBytes?: number) {
  const bus = new MemoryBus({ dataDir: dir, ...(segmentBytes ? { segmentBytes } : {}) });
  const err = await (async () => {
    await bus.start();
    await bus.ensureTopics([one]);
  })().then(
    () => undefined,
    (e: unknown) => e as Error & { code: string },
  );
  await bus.stop();
  expect(err, 'the bus opened a damaged log').toBeDefined();
  expect(err!.code).toBe('bus_log_damaged');
  return err!;
}

async function publishValues(bus: MemoryBus, values: string[]): Promise<void> {
  for (const value of values) await bus.publish('one', [{ key: 'k', value }]);
}

const segment = (dir: string) => join(dir, 'one', '0', '00000000000000000000.log');

describe('the durable bus log when its files are damaged', () => {
  it('cuts a torn last write, logs offset and bytes, and reports degraded health', async () => {
    const first = await openBus();
    await publishValues(first.bus, ['a', 'b', 'c']);
    await first.bus.stop();
    const whole = (await stat(segment(first.dir))).size;
    await appendFile(segment(first.dir), Buffer.from([200, 0, 0, 0, 9, 9, 9]));
    const again = await openBus(first.dir);
    expect((await stat(segment(first.dir))).size).toBe(whole);
    expect(again.warnings.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ topic: 'one', partition: 0, offset: 3, bytes: 7, atByte: whole }),
    ]);
    expect(again.bus.health()).toEqual({
      state: 'degraded',
      detail: expect.stringContaining('one/0 cut at offset 3 (7 bytes'),
    });
    await again.bus.publish('one', [{ key: 'k', value: 'd' }]);
    const read: string[] = [];
    await again.bus.consume({
      topic: 'one',
      group: null,
      fromBeginning: true,
      onBatch: async (b) => void read.push(...b.records.map((r) => `${r.offset}:${r.value}`)),
    });
    await expect.poll(() => read.length, { timeout: ioWaitMs }).toBe(4);
    expect(read).toEqual(['0:a', '1:b', '2:c', '3:d']);
    await again.bus.stop();
  });

  it('refuses a bad record followed by intact ones, naming the file and the place, and changes nothing', async () => {
    const first = await openBus();
    await publishValues(first.bus, ['a', 'b', 'c']);
    await first.bus.stop();
    const bytes = await readFile(segment(first.dir));
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0x10;
    await writeFile(segment(first.dir), bytes);
    const err = await refusal(first.dir);
    expect(err.message).toContain(segment(first.dir));
    expect(err.message).toMatch(
      /corrupt record at byte \d+ \(offset \d\) and an intact record \(offset \d\) follows/,
    );
    expect(err.message).toContain('not a write torn by a crash');
    expect(await readFile(segment(first.dir))).toEqual(bytes);
  });

  it('refuses a bad record in a closed segment, even with nothing after it in that segment', async () => {
    const first = await openBus(undefined, 64);
    // A group that has read nothing yet: its records are kept on disk (a topic no group reads keeps
    // only its open segment).
    await first.bus.consume({
      topic: 'one',
      group: 'g',
      onBatch: async () => {
        throw new Error('not yet');
      },
    });
    await publishValues(first.bus, ['a'.repeat(50), 'b'.repeat(50), 'c'.repeat(50)]);
    await first.bus.stop();
    const names = (await readdir(join(first.dir, 'one', '0'))).sort();
    expect(names.length).toBeGreaterThan(1);
    const closed = join(first.dir, 'one', '0', names[0]!);
    await truncate(closed, (await stat(closed)).size - 3);
    const err = await refusal(first.dir, 64);
    expect(err.message).toContain(closed);
    expect(err.message).toContain('later segments follow it');
  });

  it('refuses when the log ends below a committed offset, naming the group, the gap and the fix', async () => {
    const first = await openBus();
    let read = 0;
    await first.bus.consume({
      topic: 'one',
      group: 'g',
      fromBeginning: true,
      onBatch: async (b) => {
        read += b.records.length;
      },
    });
    await publishValues(first.bus, ['a', 'b', 'c', 'd']);
    await expect.poll(() => read, { timeout: ioWaitMs }).toBe(4);
    await first.bus.stop();
    // The last record torn off: the log itself looks like a crash, but group g had read it.
    const cut = (await stat(segment(first.dir))).size - 5;
    await truncate(segment(first.dir), cut);
    const err = await refusal(first.dir);
    // Refused before anything is cut: restoring the directory from a backup is still possible.
    expect((await stat(segment(first.dir))).size).toBe(cut);
    expect(err.message).toContain('one/0 ends at offset 3, but group "g" has read up to offset 4');
    expect(err.message).toContain(join(first.dir, 'offsets.json'));
    expect(err.message).toContain(`set partition "0" of group "g" on topic "one"`);
  });

  it('refuses an offsets file whose committed offset was altered, or that does not parse', async () => {
    const first = await openBus();
    await first.bus.consume({ topic: 'one', group: 'g', fromBeginning: true, onBatch: async () => {} });
    await publishValues(
      first.bus,
      Array.from({ length: 12 }, (_, i) => `v${i}`),
    );
    await first.bus.stop();
    const path = join(first.dir, 'offsets.json');
    const text = await readFile(path, 'utf8');
    expect(text).toContain('"0":12');
    // Still valid JSON: without the checksum it would be taken as it is, and an offset moved up within
    // the log would skip records silently.
    await writeFile(path, text.replace('"0":12', '"0":10'));
    expect((await refusal(first.dir)).message).toMatch(
      /offsets\.json cannot be read \(its crc32 says \d+ but its entries give \d+/,
    );
    await writeFile(path, text.slice(0, 20));
    expect((await refusal(first.dir)).message).toContain(`${path} cannot be read`);
    // The fix it names: remove the file; every group then reads the log again.
    await rm(path);
    const again = await openBus(first.dir);
    expect(again.bus.health().state).toBe('ok');
    await again.bus.stop();
  });
});
