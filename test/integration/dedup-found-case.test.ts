import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Topics } from '../../services/ports/topics.js';
import { call, eventually, seedModule } from '../support/http-client.js';
import { kafkaClickHouseRig } from '../support/kafka-clickhouse-rig.js';
import { type GlasshouseProcess, runGlasshouse } from '../support/process.js';
import { meanGoalModule, metricRecord, waitUntil } from '../support/processor-harness.js';

// The case that showed dedup lasted only as long as memory: 500 late events (observed 3 h ago), then
// 150,000 current ones for the same module, the processor SIGKILLed and restarted, and the agency
// resending the late events (and some current ones). Each must count once, in the stored history and
// in the live window, on both setups.
const late = 500;
const current = 150_000;
const resentCurrent = 1_000;
const hourMs = 3_600_000;

const processes: GlasshouseProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
const stoppables: Array<{ stop(): Promise<void> }> = [];
afterAll(async () => {
  for (const p of processes)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const p of processes) await p.exited();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  for (const part of stoppables.reverse()) await part.stop().catch(() => {});
});

function track(p: GlasshouseProcess): GlasshouseProcess {
  processes.push(p);
  return p;
}

async function kill(p: GlasshouseProcess): Promise<void> {
  p.child.kill('SIGKILL');
  expect(await p.exited()).toBe('SIGKILL');
}

/** A counter of the process's /metrics, summed over the label sets that match `labels`. */
async function processorCounter(baseUrl: string, name: string, labels = ''): Promise<number> {
  const text = (await (await fetch(new URL('/metrics', baseUrl))).text()).split('\n');
  let total = 0;
  for (const line of text) {
    if (line.startsWith(`${name}{${labels}`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Records of metrics.raw that the standalone processor's group has committed, as its bus keeps them
 * on disk (`<data dir>/bus/offsets.json`: per partition, the next offset to read).
 */
async function committedRecords(dataDir: string): Promise<number> {
  const text = await readFile(join(dataDir, 'bus', 'offsets.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return 0;
  const { entries } = JSON.parse(text) as {
    entries: Array<{ topic: string; group: string; partitions: Record<string, number> }>;
  };
  let records = 0;
  for (const entry of entries)
    if (entry.group === 'processor' && entry.topic.endsWith(Topics.metricsRaw))
      for (const offset of Object.values(entry.partitions)) records += offset;
  return records;
}

const lateAt = () => Math.floor((Date.now() - 3 * hourMs) / hourMs) * hourMs + 60_000;

describe('the found case: late events, 150,000 newer ones, SIGKILL, resend', () => {
  it('standalone: the resent events count once in the stored history and the live window', async () => {
    const adminToken = `found-admin-${randomBytes(12).toString('hex')}`;
    const dataDir = await mkdtemp(join(tmpdir(), 'gh-found-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const start = async () => {
      const p = track(
        runGlasshouse(['start', '--port', '0', '--data-dir', dataDir], {
          GLASSHOUSE_ADMIN_TOKEN: adminToken,
          GLASSHOUSE_INGEST_RATE: '1000000',
          GLASSHOUSE_INGEST_BURST: '1000000',
        }),
      );
      return { p, url: `http://127.0.0.1:${await p.ready(60_000)}/` };
    };
    let { p, url } = await start();
    const moduleId = 'found-permits';
    const key = await seedModule(url, adminToken, {
      id: moduleId,
      owner: 'found-owner',
      agency: 'found-agency',
      goals: [
        {
          id: 'volume',
          metric: 'permits',
          unit: 'permits',
          direction: 'increase',
          target: 1e9,
          tolerance: 0.1,
          window: '1h',
          aggregation: 'count',
          minSamples: 1,
          hold: '1m',
        },
      ],
    });
    const t3h = lateAt();
    const event = (id: string, observedAt: number) => ({
      eventId: id,
      moduleId,
      metric: 'permits',
      value: 1,
      observedAt,
    });
    const lateEvents = Array.from({ length: late }, (_, i) => event(`late-${i}`, t3h + i));
    const post = async (events: ReturnType<typeof event>[]) => {
      const answer = await call(url, 'POST', '/v1/metrics', {
        token: key,
        body: { events },
        timeoutMs: 30_000,
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(202);
      expect(answer.body.rejected).toEqual([]);
      return answer.body as { accepted: number; duplicates: number };
    };
    await post(lateEvents);
    const now = Date.now();
    const currentEvent = (i: number) => event(`now-${i}`, now - 60_000 + Math.floor((i * 60_000) / current));
    // Five requests of 1,000 at a time (150,000 is a multiple of 5,000).
    for (let i = 0; i < current; i += 5_000) {
      await Promise.all(
        [0, 1, 2, 3, 4].map((k) =>
          post(Array.from({ length: 1_000 }, (_, j) => currentEvent(i + k * 1_000 + j))),
        ),
      );
    }

    const history = async () => {
      const { body } = await call(
        url,
        'GET',
        `/v1/modules/${moduleId}/history?goal=volume&from=${t3h - 60_000}&to=${t3h - 60_000 + hourMs}&step=1h`,
      );
      return (body?.points ?? []).reduce((n: number, point: { count: number }) => n + point.count, 0);
    };
    const liveCount = async () => {
      const { body } = await call(url, 'GET', `/v1/modules/${moduleId}`);
      return body?.goals?.[0]?.current?.count as number | undefined;
    };
    let seenLive: number | undefined;
    await eventually(
      async () => {
        seenLive = await liveCount();
        return seenLive === current ? true : undefined;
      },
      120_000,
      () =>
        `live count ${seenLive} never reached every current event (${current})\n${p.output().slice(-2000)}`,
    );
    await eventually(
      async () => ((await history()) === late ? true : undefined),
      30_000,
      () => 'history of the late hour never reached the late events',
    );
    // Every record committed, on disk: a batch processed but not yet committed at the kill would be
    // delivered again after the restart and counted a duplicate as well, beside the resends.
    let committed = 0;
    await eventually(
      async () => {
        committed = await committedRecords(dataDir);
        return committed === late + current ? true : undefined;
      },
      30_000,
      () => `the processor committed ${committed} of ${late + current} records`,
    );

    await kill(p);
    ({ p, url } = await start());
    const resent = await post(lateEvents);
    expect(resent.accepted + resent.duplicates).toBe(late);
    await post(Array.from({ length: resentCurrent }, (_, i) => currentEvent(current - resentCurrent + i)));
    await waitUntil(
      'the processor answered every resend as a duplicate',
      async () =>
        (await processorCounter(url, 'glasshouse_processor_records_total', 'outcome="duplicate"')) ===
        late + resentCurrent,
      60_000,
      200,
    );
    // The late resends were answered by the store; the current ones by the restored memory.
    expect(await processorCounter(url, 'glasshouse_processor_dedup_lookups_total')).toBe(late);
    expect(await history()).toBe(late);
    let lastLive: number | undefined;
    await eventually(
      async () => {
        lastLive = await liveCount();
        return lastLive === current ? true : undefined;
      },
      10_000,
      () => `live count ${lastLive} after the resends, expected ${current}`,
    );
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
  }, 300_000);

  it('distributed: the processor process on Kafka and ClickHouse counts the resent events once', async () => {
    const moduleId = 'found-wait';
    const { bus, store, env } = await kafkaClickHouseRig(
      'found',
      [meanGoalModule(moduleId, { window: '1h' })],
      stoppables,
    );
    const start = async () => {
      const p = track(runGlasshouse(['start', '--role', 'processor'], env));
      return { p, url: `http://127.0.0.1:${await p.ready(60_000)}/` };
    };
    let { p, url } = await start();

    const t3h = lateAt();
    const lateRecords = Array.from({ length: late }, (_, i) =>
      metricRecord(moduleId, `late-${i}`, 20, t3h + i),
    );
    await bus.publish(Topics.metricsRaw, lateRecords);
    const now = Date.now();
    const currentRecord = (i: number) =>
      metricRecord(moduleId, `now-${i}`, 20, now - 60_000 + Math.floor((i * 60_000) / current));
    for (let i = 0; i < current; i += 5_000)
      await bus.publish(
        Topics.metricsRaw,
        Array.from({ length: 5_000 }, (_, j) => currentRecord(i + j)),
      );

    const storedLateHour = async () => {
      const rows = await store.select('rollups', {
        where: [
          { column: 'module_id', op: '=', value: moduleId },
          { column: 'bucket_ms', op: '>=', value: t3h - 60_000 },
          { column: 'bucket_ms', op: '<', value: t3h - 60_000 + hourMs },
        ],
      });
      return rows.reduce((n, r) => n + r.count, 0);
    };
    const liveCount = async () => {
      const [latest] = await store.select('performance_updates', {
        where: [{ column: 'module_id', op: '=', value: moduleId }],
        orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
        limit: 1,
      });
      return (latest?.body as { count?: number } | undefined)?.count;
    };
    await waitUntil(
      'every current event in the live window',
      async () => (await liveCount()) === current,
      120_000,
      250,
    );
    await waitUntil('the late hour stored', async () => (await storedLateHour()) === late, 30_000, 250);
    // As on the standalone setup: every record's offset committed before the kill, so no batch is
    // delivered again beside the resends.
    const admin = new Kafka({
      brokers: inject('kafkaBrokers').split(','),
      clientId: 'found-offsets',
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    stoppables.push({ stop: () => admin.disconnect() });
    const committed = async () => {
      const [topic] = await admin.fetchOffsets({
        groupId: bus.topic('group.processor'),
        topics: [bus.topic(Topics.metricsRaw)],
      });
      return (topic?.partitions ?? []).reduce((n, part) => n + Math.max(0, Number(part.offset)), 0);
    };
    await waitUntil(
      'every record committed',
      async () => (await committed()) === late + current,
      30_000,
      250,
    );

    await kill(p);
    ({ p, url } = await start());
    await bus.publish(Topics.metricsRaw, [
      ...lateRecords,
      ...Array.from({ length: resentCurrent }, (_, i) => currentRecord(current - resentCurrent + i)),
    ]);
    await waitUntil(
      'the processor answered every resend as a duplicate',
      async () =>
        (await processorCounter(url, 'glasshouse_processor_records_total', 'outcome="duplicate"')) ===
        late + resentCurrent,
      60_000,
      250,
    );
    expect(await storedLateHour()).toBe(late);
    expect(await liveCount()).toBe(current);
    p.child.kill('SIGTERM');
    expect(await p.exited()).toBe(0);
  }, 300_000);
});
