import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { Topics } from '../../services/ports/topics.js';
import {
  type IngestServer,
  postMetrics,
  readTopicUntil,
  startIngestServer,
} from '../support/ingest-harness.js';

/** CSV uploads to `POST /v1/metrics` on the real HTTP server: same answers and limits as JSON. */
describe('POST /v1/metrics with text/csv', () => {
  const prefix = `ingest-csv-${randomBytes(4).toString('hex')}`;
  const run = randomBytes(3).toString('hex');
  let bus: MemoryBus;
  let server: IngestServer;

  beforeAll(async () => {
    bus = new MemoryBus({ topicPrefix: prefix });
    await bus.start();
    await bus.ensureTopics([{ name: Topics.metricsRaw, partitions: 3 }]);
    server = await startIngestServer(bus);
  });
  afterAll(async () => {
    await server?.stop();
    await bus?.stop();
  });

  const csv = { contentType: 'text/csv; charset=utf-8' };

  it('accepts good rows, reports bad ones by line, keeps formula-looking cells as text, counts a resend as duplicates', async () => {
    const t = Date.now() - 1000;
    const file = [
      'eventId,moduleId,metric,value,observedAt,dim.depot',
      `${run}-1,bus-punctuality,on_time_rate,91.5,${t},"=HYPERLINK(""http://x"",""y"")"`,
      `${run}-2,bus-punctuality,on_time_rate,oops,${t},north`,
      `${run}-3,no-such-module,on_time_rate,1,${t},`,
      `${run}-4,tram-punctuality,on_time_rate,88,${new Date(t).toISOString()},"south, by the river"`,
      `${run}-5,bus-punctuality,on_time_rate,1`,
      '',
    ].join('\r\n');
    const first = await postMetrics(server.url, file, csv);
    expect(first.status).toBe(202);
    expect(first.body.accepted).toBe(2);
    expect(first.body.duplicates).toBe(0);
    expect(first.body.rejected).toEqual([
      { index: 1, line: 3, eventId: `${run}-2`, errors: [{ path: 'value', message: expect.any(String) }] },
      {
        index: 2,
        line: 4,
        eventId: `${run}-3`,
        errors: [{ path: 'moduleId', message: 'unknown module "no-such-module"' }],
      },
      { index: 4, line: 6, errors: [{ path: '(row)', message: 'line 6 has 4 fields, the header has 6' }] },
    ]);
    const records = await readTopicUntil(bus, Topics.metricsRaw, (rs) => rs.length >= 2);
    const stored = records.map((r) => JSON.parse(r.value.toString()) as Record<string, unknown>);
    const byId = new Map(stored.map((e) => [e.eventId, e]));
    expect(byId.get(`${run}-1`)).toMatchObject({
      value: 91.5,
      observedAt: t,
      dimensions: { depot: '=HYPERLINK("http://x","y")' },
    });
    expect(byId.get(`${run}-4`)).toMatchObject({
      moduleId: 'tram-punctuality',
      value: 88,
      dimensions: { depot: 'south, by the river' },
    });

    const again = await postMetrics(server.url, file, csv);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 2 });
  });

  it('answers 400 for a bad header or broken quoting, 413 over the size limit, 401 without a key', async () => {
    const bad = await postMetrics(server.url, 'eventId,moduleId,metric,value\r\na,b,c,1\r\n', csv);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'malformed_body', details: { line: 1 } } });
    const broken = await postMetrics(
      server.url,
      'eventId,moduleId,metric,value,observedAt\r\na,bus-punctuality,"on_time_rate,1,1\r\n',
      csv,
    );
    expect(broken.status).toBe(400);
    expect((broken.body.error as { message: string }).message).toMatch(/not valid CSV/);
    const big = `eventId,moduleId,metric,value,observedAt\r\n${'x'.repeat(1024 * 1024)}\r\n`;
    expect((await postMetrics(server.url, big, csv)).status).toBe(413);
    expect((await postMetrics(server.url, 'eventId\r\n', { ...csv, key: null })).status).toBe(401);
    expect((await postMetrics(server.url, 'a,b\r\n', { contentType: 'text/plain' })).status).toBe(415);
  });
});
