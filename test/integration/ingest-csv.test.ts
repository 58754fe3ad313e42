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
      'eventId,moduleId,metric,value,observedAt,dim.line,dim.depot',
      `${run}-1,bus-punctuality,on_time_rate,91.5,${t},"=HYPERLINK(""http://x"",""y"")",north`,
      `${run}-2,bus-punctuality,on_time_rate,oops,${t},7,`,
      `${run}-3,no-such-module,on_time_rate,1,${t},,`,
      `${run}-4,bus-punctuality,on_time_rate,88,${new Date(t).toISOString()},"south, by the river",`,
      `${run}-5,bus-punctuality,on_time_rate,1`,
      `${run}-6,bus-punctuality,on_time_rate,1,${t},7,east`,
      '',
    ].join('\r\n');
    const first = await postMetrics(server.url, file, csv);
    expect(first.status).toBe(202);
    expect(first.body.accepted).toBe(2);
    expect(first.body.duplicates).toBe(0);
    const rejected = first.body.rejected as Array<{
      index: number;
      line: number;
      errors: Array<{ path: string }>;
    }>;
    expect(rejected.map((r) => [r.index, r.line, r.errors[0]?.path])).toEqual([
      [1, 3, 'value'],
      [2, 4, 'moduleId'],
      [4, 6, '(row)'],
      // Declared dimensions apply to CSV rows as to JSON events: "east" is not a depot.
      [5, 7, 'dimensions.depot'],
    ]);
    expect(rejected[2]).toEqual({
      index: 4,
      line: 6,
      errors: [{ path: '(row)', message: 'line 6 has 4 fields, the header has 7' }],
    });
    const records = await readTopicUntil(bus, Topics.metricsRaw, (rs) => rs.length >= 2);
    const stored = records.map((r) => JSON.parse(r.value.toString()) as Record<string, unknown>);
    const byId = new Map(stored.map((e) => [e.eventId, e]));
    expect(byId.get(`${run}-1`)).toMatchObject({
      value: 91.5,
      observedAt: t,
      dimensions: { line: '=HYPERLINK("http://x","y")', depot: 'north' },
    });
    expect(byId.get(`${run}-4`)).toMatchObject({ value: 88, dimensions: { line: 'south, by the river' } });

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
