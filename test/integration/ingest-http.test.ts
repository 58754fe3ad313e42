import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { RateLimiter } from '../../services/ingest/rate-limit.js';
import type { Bus } from '../../services/ports/bus.js';
import { Topics } from '../../services/ports/topics.js';
import {
  event,
  type IngestServer,
  overseerKey,
  postMetrics,
  readTopicUntil,
  startIngestServer,
  transitKey,
} from '../support/ingest-harness.js';

const buses: Array<[string, (prefix: string) => Bus]> = [
  ['in-process bus', (prefix) => new MemoryBus({ topicPrefix: prefix })],
  [
    'Kafka',
    (prefix) =>
      new KafkaBus({
        brokers: inject('kafkaBrokers').split(','),
        clientId: 'ingest-test',
        topicPrefix: prefix,
        logger: pino({ level: 'silent' }),
      }),
  ],
];

describe.each(buses)('POST /v1/metrics on the %s', (_name, makeBus) => {
  const prefix = `ingest-http-${randomBytes(4).toString('hex')}`;
  let bus: Bus;
  let server: IngestServer;
  const run = randomBytes(3).toString('hex');
  const id = (n: string) => `${run}-${n}`;

  beforeAll(async () => {
    bus = makeBus(prefix);
    await bus.start();
    await bus.ensureTopics([{ name: Topics.metricsRaw, partitions: 3 }]);
    server = await startIngestServer(bus);
  });
  afterAll(async () => {
    await server?.stop();
    await bus?.stop();
  });

  it('answers a mixed batch with exactly the right entries, and puts the accepted events on the topic once, keyed by module', async () => {
    const observedAt = '2025-03-01T12:00:00.250Z';
    const events = [
      event(id('ok-1'), { observedAt, dimensions: { line: '42' } }),
      event(id('bad-module'), { moduleId: 'no-such-module' }),
      event(id('ok-2'), { moduleId: 'tram-punctuality' }),
      event(id('foreign'), { moduleId: 'permit-speed', metric: 'decision_days' }),
      event(id('bad-metric'), { metric: 'ridership' }),
      event(id('future'), { observedAt: Date.now() + 10 * 60_000 }),
      event(id('bad-value'), { value: 'high' }),
      event(id('retired'), { moduleId: 'old-scheme' }),
      event(id('ok-3'), { metric: 'cost_per_trip', value: 11.2 }),
      event(id('ok-1')),
    ];
    const answer = await postMetrics(server.url, { events });
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({
      accepted: 3,
      duplicates: 1,
      rejected: [
        {
          index: 1,
          eventId: id('bad-module'),
          errors: [{ path: 'moduleId', message: 'unknown module "no-such-module"' }],
        },
        {
          index: 3,
          eventId: id('foreign'),
          errors: [
            { path: 'moduleId', message: 'agency "transit-agency" may not report for module "permit-speed"' },
          ],
        },
        {
          index: 4,
          eventId: id('bad-metric'),
          errors: [
            {
              path: 'metric',
              message: 'module "bus-punctuality" has no goal or constraint on metric "ridership"',
            },
          ],
        },
        {
          index: 5,
          eventId: id('future'),
          errors: [
            { path: 'observedAt', message: "must be at most 60s in the future (the module's maxFuture)" },
          ],
        },
        {
          index: 6,
          eventId: id('bad-value'),
          errors: [{ path: 'value', message: expect.stringContaining('expected number') }],
        },
        {
          index: 7,
          eventId: id('retired'),
          errors: [{ path: 'moduleId', message: 'module "old-scheme" is retired' }],
        },
      ],
    });

    const records = await readTopicUntil(
      bus,
      Topics.metricsRaw,
      (r) => r.filter((x) => x.value.toString().includes(run)).length >= 3,
    );
    const ours = records.filter((r) => r.value.toString().includes(run));
    expect(ours.map((r) => [r.key, JSON.parse(r.value.toString()).eventId]).sort()).toEqual([
      ['bus-punctuality', id('ok-1')],
      ['bus-punctuality', id('ok-3')],
      ['tram-punctuality', id('ok-2')],
    ]);
    const first = ours.find((r) => r.value.toString().includes(id('ok-1')))!;
    expect(first.headers['glasshouse-agency']).toBe('transit-agency');
    expect(JSON.parse(first.value.toString())).toEqual({
      eventId: id('ok-1'),
      moduleId: 'bus-punctuality',
      metric: 'on_time_rate',
      value: 91.5,
      observedAt: Date.parse(observedAt),
      dimensions: { line: '42' },
    });
  });

  it('counts a retried batch as duplicates and publishes it once', async () => {
    const batch = { events: [event(id('retry-1')), event(id('retry-2'), { moduleId: 'tram-punctuality' })] };
    expect((await postMetrics(server.url, batch)).body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect((await postMetrics(server.url, batch)).body).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    // The same eventId from another agency is that agency's own event.
    const permits = await postMetrics(
      server.url,
      { events: [event(id('retry-1'), { moduleId: 'permit-speed', metric: 'decision_days' })] },
      { key: 'permits-office-key-0123456789' },
    );
    expect(permits.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const records = await readTopicUntil(
      bus,
      Topics.metricsRaw,
      (r) => r.filter((x) => x.value.toString().includes(`${run}-retry`)).length >= 3,
    );
    const retried = records.filter((r) => r.value.toString().includes(`${run}-retry`));
    expect(
      retried
        .map((r) => `${r.headers['glasshouse-agency']}/${JSON.parse(r.value.toString()).eventId}`)
        .sort(),
    ).toEqual([
      `permits-office/${id('retry-1')}`,
      `transit-agency/${id('retry-1')}`,
      `transit-agency/${id('retry-2')}`,
    ]);
  });

  it('rejects, per event, modules the agency may not report for', async () => {
    const answer = await postMetrics(
      server.url,
      {
        events: [
          event(id('mine'), { moduleId: 'permit-speed', metric: 'decision_days' }),
          event(id('theirs')),
        ],
      },
      { key: 'permits-office-key-0123456789' },
    );
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({
      accepted: 1,
      duplicates: 0,
      rejected: [{ index: 1, eventId: id('theirs') }],
    });
  });

  it('rejects, per event, an eventId that does not start with a letter or digit and a lone surrogate in a dimension', async () => {
    const body = JSON.stringify({
      events: [
        event(`-${id('formula')}`),
        event(id('surrogate'), { dimensions: { line: 'x\ud800' } }),
        event(id('paired'), { dimensions: { line: 'bus 😀' } }),
      ],
    });
    // JSON.stringify writes the lone surrogate as the escape \ud800, as a client's JSON would.
    expect(body).toContain('\\ud800');
    const answer = await postMetrics(server.url, body);
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({
      accepted: 1,
      rejected: [
        {
          index: 0,
          errors: [{ path: 'eventId', message: expect.stringContaining('starting with a letter or digit') }],
        },
        { index: 1, errors: [{ path: 'dimensions.line', message: expect.stringContaining('surrogate') }] },
      ],
    });
  });

  it('accepts NDJSON and names the line that is not JSON', async () => {
    const lines = [event(id('nd-1')), event(id('nd-2'))].map((e) => JSON.stringify(e)).join('\n');
    expect(
      (await postMetrics(server.url, `${lines}\n`, { contentType: 'application/x-ndjson' })).body,
    ).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [],
    });
    const bad = await postMetrics(server.url, `${lines}\n{"eventId":\n`, {
      contentType: 'application/x-ndjson',
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'malformed_body', details: { line: 3 } } });
  });

  it('answers whole-request problems with the right status and code', async () => {
    const ok = { events: [event(id('never'))] };
    expect(await postMetrics(server.url, ok, { key: null })).toMatchObject({
      status: 401,
      body: { error: { code: 'unauthorized' } },
    });
    expect(await postMetrics(server.url, ok, { key: 'wrong-key' })).toMatchObject({ status: 401 });
    expect(await postMetrics(server.url, ok, { key: overseerKey })).toMatchObject({
      status: 403,
      body: { error: { code: 'forbidden' } },
    });
    expect(await postMetrics(server.url, 'x', { contentType: 'text/plain' })).toMatchObject({ status: 415 });
    expect(await postMetrics(server.url, '{"events":[', {})).toMatchObject({
      status: 400,
      body: { error: { code: 'malformed_body', details: { position: 11 } } },
    });
    expect(await postMetrics(server.url, { events: [] })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_request' } },
    });
    const huge = JSON.stringify({
      events: [event(id('big'), { dimensions: { d: 'x'.repeat(1024 * 1024) } })],
    });
    expect(await postMetrics(server.url, huge)).toMatchObject({
      status: 413,
      body: { error: { code: 'body_too_large' } },
    });
    const many = { events: Array.from({ length: 1001 }, (_, i) => event(id(`many-${i}`))) };
    expect(await postMetrics(server.url, many)).toMatchObject({ status: 400 });
  });

  it('exposes per-agency counters', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/glasshouse_ingest_events_accepted_total\{agency="transit-agency"\} \d+/);
    expect(text).toMatch(
      /glasshouse_ingest_events_rejected_total\{agency="transit-agency",reason="agency_not_allowed"\} \d+/,
    );
    expect(text).toMatch(
      /glasshouse_ingest_publish_seconds_bucket\{le="0.1",agency="transit-agency",outcome="ok"\} \d+/,
    );
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After once an agency exceeds its events per second', async () => {
    const bus = new MemoryBus({ topicPrefix: 'ingest-rate' });
    await bus.start();
    await bus.ensureTopics([{ name: Topics.metricsRaw, partitions: 1 }]);
    const server = await startIngestServer(bus, { limiter: new RateLimiter(10, 20) });
    try {
      const batch = (n: number) => ({ events: Array.from({ length: 15 }, (_, i) => event(`rl-${n}-${i}`)) });
      expect((await postMetrics(server.url, batch(1))).status).toBe(202);
      const limited = await postMetrics(server.url, batch(2));
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ error: { code: 'rate_limited' } });
      expect(Number(limited.headers.get('retry-after'))).toBe(1);
      // Another agency has its own bucket.
      const other = await postMetrics(
        server.url,
        { events: [event('rl-other', { moduleId: 'permit-speed', metric: 'decision_days' })] },
        { key: 'permits-office-key-0123456789' },
      );
      expect(other.status).toBe(202);
    } finally {
      await server.stop();
      await bus.stop();
    }
  });
});

/**
 * Node's fetch in a process of its own (as an agency's client runs) posting `count` bodies of
 * `bytes` bytes, declared or chunked: the statuses and bodies it saw, or the error it got instead.
 */
function fetchFromAnotherProcess(
  url: string,
  bytes: number,
  count: number,
  chunked: boolean,
): Promise<Array<{ status: number; body: unknown } | { error: string }>> {
  const script = `
    const [url, bytes, count, chunked] = process.argv.slice(1);
    const text = JSON.stringify({ events: [{ eventId: 'too-large', moduleId: 'bus-punctuality',
      metric: 'on_time_rate', value: 1, observedAt: Date.now(), dimensions: { d: 'x'.repeat(Number(bytes)) } }] });
    const body = () => chunked === 'true'
      ? new ReadableStream({ start(c) { const b = new TextEncoder().encode(text);
          for (let i = 0; i < b.length; i += 65536) c.enqueue(b.subarray(i, i + 65536)); c.close(); } })
      : text;
    const results = [];
    for (let i = 0; i < Number(count); i++) {
      try {
        const r = await fetch(url + '/v1/metrics', { method: 'POST', body: body(), duplex: 'half',
          headers: { 'content-type': 'application/json', authorization: 'Bearer ${transitKey}' } });
        results.push({ status: r.status, body: await r.json() });
      } catch (err) { results.push({ error: String(err.cause?.code ?? err.message) }); }
    }
    process.stdout.write(JSON.stringify(results));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, url, String(bytes), String(count), String(chunked)],
      { timeout: 60_000, maxBuffer: 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    );
  });
}

describe('a body over the limit', () => {
  it("answers 413 with the error body to Node's fetch, which writes the whole 2 MiB before it reads", async () => {
    const bus = new MemoryBus({ topicPrefix: 'ingest-too-large' });
    await bus.start();
    await bus.ensureTopics([{ name: Topics.metricsRaw, partitions: 1 }]);
    const server = await startIngestServer(bus);
    try {
      const tooLarge = {
        status: 413,
        body: { error: { code: 'body_too_large', message: 'the body exceeds 1048576 bytes' } },
      };
      // Ten in a row: a server that closes before the body is in answers some and resets others.
      for (const chunked of [false, true]) {
        const results = await fetchFromAnotherProcess(server.url, 2 * 1024 * 1024, 10, chunked);
        expect(results).toEqual(Array.from({ length: 10 }, () => tooLarge));
      }
    } finally {
      await server.stop();
      await bus.stop();
    }
  });
});
