import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call, eventually, seedModule } from '../support/http-client.js';
import { type GlasshouseProcess, killLeftovers, runGlasshouse } from '../support/process.js';

// Finding: one flipped byte in an already-processed region of a metrics.raw segment, then a restart:
// no log line, /readyz 200, and every event answered 202 afterwards was never processed.
const adminToken = `buslog-admin-${randomBytes(12).toString('hex')}`;
const moduleId = 'buslog-jobs';

let dataDir = '';
afterAll(async () => {
  await killLeftovers();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function launch(): GlasshouseProcess {
  return runGlasshouse(['start', '--port', '0', '--data-dir', dataDir], {
    GLASSHOUSE_ADMIN_TOKEN: adminToken,
    GLASSHOUSE_INGEST_RATE: '1000000',
    GLASSHOUSE_INGEST_BURST: '1000000',
  });
}

async function stop(proc: GlasshouseProcess): Promise<void> {
  proc.child.kill('SIGTERM');
  expect(await proc.exited()).toBe(0);
}

/** Posts `count` events in batches of 100; every batch must be answered 202 in full. */
async function post(baseUrl: string, key: string, prefix: string, count: number): Promise<void> {
  for (let at = 0; at < count; at += 100) {
    const events = Array.from({ length: Math.min(100, count - at) }, (_, i) => ({
      eventId: `${prefix}-${at + i}`,
      moduleId,
      metric: 'jobs',
      value: 1,
      observedAt: Date.now(),
    }));
    const answer = await call(baseUrl, 'POST', '/v1/metrics', { token: key, body: { events } });
    expect(answer.status).toBe(202);
    expect(answer.body.accepted).toBe(events.length);
  }
}

/** Waits until the live count over 24 h (every event processed) reaches `count`. */
async function processed(baseUrl: string, count: number): Promise<void> {
  let last: unknown;
  await eventually(
    async () => {
      const { body } = await call(baseUrl, 'GET', `/v1/modules/${moduleId}`);
      last = body?.goals?.[0]?.current?.count;
      return last === count ? true : undefined;
    },
    30_000,
    () => `live count ${String(last)}, expected ${count}: events answered 202 were not processed`,
  );
}

/** The metrics.raw segment holding the module's events (its key picks one partition). */
async function rawSegment(): Promise<string> {
  const topic = join(dataDir, 'bus', 'metrics.raw');
  let biggest = { path: '', size: -1 };
  for (const p of await readdir(topic)) {
    for (const name of await readdir(join(topic, p))) {
      const path = join(topic, p, name);
      const { size } = await stat(path);
      if (size > biggest.size) biggest = { path, size };
    }
  }
  return biggest.path;
}

describe('standalone process on a damaged bus log', () => {
  it('refuses to start on a corrupt processed record, and after a torn write reports the cut and processes new events', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gh-buslog-'));
    let proc = launch();
    let baseUrl = `http://127.0.0.1:${await proc.ready(60_000)}/`;
    const key = await seedModule(baseUrl, adminToken, {
      id: moduleId,
      owner: 'buslog-owner',
      agency: 'buslog-agency',
      allowedLateness: '1h',
      goals: [
        {
          id: 'volume',
          metric: 'jobs',
          unit: 'jobs',
          direction: 'increase',
          target: 1e9,
          tolerance: 0.1,
          window: '24h',
          aggregation: 'count',
          minSamples: 1,
          hold: '0s',
        },
      ],
    });
    await post(baseUrl, key, 'before', 300);
    await processed(baseUrl, 300);
    await stop(proc);

    // One flipped byte a third of the way into the segment: records the processor has committed.
    const segment = await rawSegment();
    const original = await readFile(segment);
    const flipped = Buffer.from(original);
    const at = Math.floor(flipped.length / 3);
    flipped[at] = flipped[at]! ^ 0x04;
    await writeFile(segment, flipped);
    proc = launch();
    await expect(proc.ready(60_000)).rejects.toThrow(/exited before ready/);
    expect(await proc.exited()).not.toBe(0);
    const refusal = proc.output();
    expect(refusal).toContain('bus log damaged');
    expect(refusal).toContain(segment);
    expect(refusal).toContain('not a write torn by a crash');
    expect(await readFile(segment)).toEqual(flipped);

    // The fix it names: the file from a backup. Then a write torn by a crash at the end of it.
    await writeFile(segment, original);
    await appendFile(segment, Buffer.from([0xff, 0x01, 0, 0, 7, 7, 7, 7, 7]));
    proc = launch();
    baseUrl = `http://127.0.0.1:${await proc.ready(60_000)}/`;
    expect(proc.output()).toMatch(
      /"msg":"bus log: cut a torn record off the end of [^"]*metrics\.raw\/\d+ at offset \d+ \(9 bytes/,
    );
    const ready = await call(baseUrl, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    // /readyz names the part and its state only (no internal detail); the log says what was cut.
    expect(ready.body.parts).toContainEqual({ name: 'bus', state: 'degraded' });
    await post(baseUrl, key, 'after', 300);
    await processed(baseUrl, 600);
    await stop(proc);
  }, 240_000);
});
