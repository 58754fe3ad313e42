import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { validateMetricRecord } from '../../services/core/validation/index.js';
import { Topics } from '../../services/ports/topics.js';
import {
  event,
  type IngestServer,
  ingestRegistry,
  postMetrics,
  readTopicUntil,
  startIngestServer,
  transitKey,
} from '../support/ingest-harness.js';

interface Answer {
  status: number;
  body: string;
}

/** Sends raw bytes (optionally in two parts with a stall between) over a keep-alive agent. */
function send(
  url: URL,
  agent: Agent,
  body: Buffer,
  contentType: string,
  stallAfter?: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': contentType,
          authorization: `Bearer ${transitKey}`,
          'content-length': body.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (stallAfter === undefined) req.end(body);
    else req.write(body.subarray(0, stallAfter)); // and never the rest
  });
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const text = (s: string) => Buffer.from(s);
const nest = (depth: number, open: string, close: string, inner = '1') =>
  open.repeat(depth) + inner + close.repeat(depth);

/** Whole-request malformations: each must be answered 4xx. */
const malformedRequest: fc.Arbitrary<{ body: Buffer; type: string }> = fc.oneof(
  fc
    .uint8Array({ minLength: 0, maxLength: 2048 })
    .map((b) => ({ body: Buffer.from(b), type: 'application/json' })),
  fc
    .uint8Array({ minLength: 1, maxLength: 2048 })
    .map((b) => ({ body: Buffer.concat([Buffer.from(b), text('{')]), type: 'application/x-ndjson' })),
  fc
    .integer({ min: 1, max: 200_000 })
    .map((d) => ({ body: text(`{"events":${nest(d, '[', ']')}`).subarray(0, -1), type: 'application/json' })),
  fc
    .integer({ min: 1, max: 100_000 })
    .map((d) => ({ body: text(`{"events":[${nest(d, '{"a":', '}')}`), type: 'application/json' })),
  fc
    .constantFrom(
      '1e400',
      '"NaN"',
      'NaN',
      '-Infinity',
      'null',
      'true',
      '[]',
      '{}',
      '""',
      '{"events":1e400}',
      '{"events":NaN}',
    )
    .map((s) => ({
      body: text(s),
      type: 'application/json',
    })),
  fc
    .constantFrom(
      '{"__proto__":{"events":[1]},"events":[1]}',
      '{"constructor":{"prototype":{"x":1}},"events":[1]}',
      '{"events":[1],"__proto__":null}',
      '{"events":"x"}',
      '{"events":null}',
      '{"events":{"0":1}}',
      '{"events":[]}',
      '{"Events":[1]}',
    )
    .map((s) => ({ body: text(s), type: 'application/json' })),
  fc.string({ maxLength: 500 }).map((s) => ({ body: text(`{"events":[${s}`), type: 'application/json' })),
  fc
    .integer({ min: 1001, max: 3000 })
    .map((n) => ({ body: text(`{"events":[${Array(n).fill('1').join(',')}]}`), type: 'application/json' })),
  fc
    .constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonx')
    .map((type) => ({
      body: json({ events: [event('x')] }),
      type,
    })),
  fc.integer({ min: 1024 * 1024 + 1, max: 1024 * 1024 + 4096 }).map((n) => ({
    body: Buffer.concat([text('{"events":["'), Buffer.alloc(n, 0x61), text('"]}')]),
    type: 'application/json',
  })),
);

// Deep values are spliced into the body text: JSON.stringify itself would overflow the stack.
const deepPlaceholder = '__deep__';
const deepValue = nest(100_000, '[', ']');

/** Events that are each malformed inside a well-formed envelope: 202 with every one rejected, none accepted. */
const badEvent: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, 1, 'x', true, [], [event('in-array')]),
  fc.constant(
    JSON.parse(
      `{"__proto__":{"polluted":true},"eventId":"p1","moduleId":"bus-punctuality","metric":"on_time_rate","value":1,"observedAt":1}`,
    ),
  ),
  fc.constant({ ...event('c1'), constructor: { prototype: { polluted: true } } }),
  fc.constant(event('d1', { dimensions: JSON.parse('{"__proto__":"x"}') })),
  fc.constant(event('n1', { value: 'NaN' })),
  fc.constant(event('n2', { value: null })),
  fc.constant(event('h1', { eventId: 'x'.repeat(100_000) })),
  fc.constant(event('h2', { dimensions: { d: 'y'.repeat(50_000) } })),
  fc.constant(event('deep', { value: deepPlaceholder })),
  fc
    .record({
      eventId: fc.anything(),
      moduleId: fc.anything(),
      metric: fc.anything(),
      value: fc.anything(),
      observedAt: fc.anything(),
    })
    .filter((e) => typeof e.value !== 'number'),
);

describe('ingest under malformed input', () => {
  let bus: MemoryBus;
  let server: IngestServer;
  let url: URL;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });

  beforeAll(async () => {
    bus = new MemoryBus({ topicPrefix: `ingest-fuzz-${randomBytes(3).toString('hex')}` });
    await bus.start();
    await bus.ensureTopics([{ name: Topics.metricsRaw, partitions: 3 }]);
    server = await startIngestServer(bus, {
      body: { limitBytes: 1024 * 1024, timeoutMs: 300, discardLimitBytes: 8 * 1024 * 1024 },
    });
    url = new URL(`${server.url}/v1/metrics`);
  });
  afterAll(async () => {
    agent.destroy();
    await server?.stop();
    await bus?.stop();
  });

  it('answers ≥10,000 malformed requests with 4xx, stays up within bounded memory, and publishes nothing malformed', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;

    const requests = fc.sample(malformedRequest, { numRuns: 10_000, seed: 4242 });
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const { body, type } = requests[next++]!;
        const answer = await send(url, agent, body, type);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status < 400 || answer.status >= 500)
          throw new Error(`${answer.status} for ${body.subarray(0, 120).toString()}`);
        expect(JSON.parse(answer.body)).toMatchObject({
          error: { code: expect.any(String), message: expect.any(String) },
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    // Slow bodies: half a body, then nothing. Each is cut off with 408 and its connection closed.
    const slow = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send(
          url,
          new Agent({ keepAlive: false }),
          json({ events: [event(`slow-${i}`)] }),
          'application/json',
          20,
        ),
      ),
    );
    expect(slow.map((a) => a.status)).toEqual(Array(20).fill(408));

    // Malformed events in well-formed envelopes: every event rejected, none accepted.
    const batches = fc.sample(fc.array(badEvent, { minLength: 1, maxLength: 20 }), { numRuns: 500, seed: 7 });
    for (const events of batches) {
      const answer = await postMetrics(
        server.url,
        JSON.stringify({ events }).replaceAll(`"${deepPlaceholder}"`, deepValue),
      );
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ accepted: 0, duplicates: 0 });
      expect((answer.body.rejected as unknown[]).length).toBe(events.length);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Still up and serving: a valid batch goes through, and it is all the topic holds.
    const control = await postMetrics(server.url, { events: [event('control-1'), event('control-2')] });
    expect(control.body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const records = await readTopicUntil(bus, Topics.metricsRaw, (r) => r.length >= 2);
    expect(records.map((r) => JSON.parse(r.value.toString()).eventId).sort()).toEqual([
      'control-1',
      'control-2',
    ]);
    const registry = ingestRegistry();
    for (const r of records)
      expect(validateMetricRecord(r.value, r.headers, registry, Date.now()).ok).toBe(true);

    gc();
    const grownMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    expect(grownMb).toBeLessThan(64);
    expect([...statuses.keys()].every((s) => s >= 400 && s < 500)).toBe(true);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(10_000);
  }, 240_000);
});
