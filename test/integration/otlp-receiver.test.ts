import { gzipSync } from 'node:zlib';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Deployment, standalone } from '../e2e/setups.js';
import { seedModule } from '../support/http-client.js';

/**
 * The OTLP receiver's answers at its edges (the standalone process: real HTTP, bus and DuckDB):
 * partialSuccess in the request's encoding, gzip, and the 400/401/413/415 refusals.
 */
class ManualReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

describe('POST /v1/otlp/v1/metrics', () => {
  let d: Deployment;
  let key: string;
  let url: string;

  beforeAll(async () => {
    d = await standalone();
    key = await seedModule(d.apiUrl, d.adminToken, {
      id: 'otlp-edges',
      owner: 'otlp-owner',
      agency: 'otlp-agency',
      goals: [
        {
          id: 'queue',
          metric: 'queue_length',
          unit: 'files',
          direction: 'decrease',
          target: 20,
          tolerance: 0.1,
          window: '1h',
          aggregation: 'last',
        },
      ],
      otlp: [{ otelMetric: 'queue', metric: 'queue_length', attributes: { office: 'north' } }],
    });
    url = new URL('/v1/otlp/v1/metrics', d.ingestUrl).toString();
  });
  afterAll(async () => {
    await d?.stop();
  });

  const nowNs = () => `${BigInt(Date.now()) * 1_000_000n}`;
  const gauge = (office: string, value: number, timeNs = nowNs()) => ({
    name: 'queue',
    gauge: {
      dataPoints: [
        {
          attributes: [{ key: 'office', value: { stringValue: office } }],
          timeUnixNano: timeNs,
          asDouble: value,
        },
      ],
    },
  });
  const exportJson = (metrics: unknown[]) => ({
    resourceMetrics: [{ resource: { attributes: [] }, scopeMetrics: [{ scope: { name: 't' }, metrics }] }],
  });

  function post(body: Buffer | string, headers: Record<string, string>, bearer: string | null = key) {
    return fetch(url, {
      method: 'POST',
      headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
  }

  it('answers partialSuccess naming what no module takes (JSON, gzip) and takes the rest', async () => {
    const body = JSON.stringify(
      exportJson([
        gauge('north', 7),
        gauge('south', 3),
        { name: 'cpu', gauge: { dataPoints: [{ timeUnixNano: nowNs(), asDouble: 1 }] } },
      ]),
    );
    const first = await post(gzipSync(body), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await first.json()).toEqual({
      partialSuccess: {
        rejectedDataPoints: '2',
        errorMessage: `1 × no mapping of "queue" matches the point's attributes; 1 × no module maps the metric "cpu"`,
      },
    });
    const events = await fetch(new URL('/v1/modules/otlp-edges/events?from=0&to=9999999999999', d.apiUrl));
    expect((await events.text()).trim().split('\n')).toHaveLength(1);
  });

  it('answers in protobuf to a protobuf export, which the SDK serializer reads', async () => {
    const reader = new ManualReader();
    const provider = new MeterProvider({ readers: [reader] });
    const queue = provider.getMeter('edges').createGauge('queue');
    queue.record(4, { office: 'north' });
    queue.record(5, { office: 'east' });
    const { resourceMetrics } = await reader.collect();
    await provider.shutdown();
    const request = ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!;
    const answer = await post(Buffer.from(request), { 'content-type': 'application/x-protobuf' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/x-protobuf');
    const decoded = ProtobufMetricsSerializer.deserializeResponse(new Uint8Array(await answer.arrayBuffer()));
    expect(decoded.partialSuccess?.errorMessage).toBe(
      `1 × no mapping of "queue" matches the point's attributes`,
    );
    expect(Number(decoded.partialSuccess?.rejectedDataPoints)).toBe(1);
    // An empty request is a valid ExportMetricsServiceRequest: full success, an empty response.
    const empty = await post(Buffer.alloc(0), { 'content-type': 'application/x-protobuf' });
    expect(empty.status).toBe(200);
    expect((await empty.arrayBuffer()).byteLength).toBe(0);
  });

  it('refuses a wrong key (401), another type (415), another encoding (415), garbage (400), a gzip bomb (413)', async () => {
    const json = JSON.stringify(exportJson([gauge('north', 1)]));
    expect(
      (await post(json, { 'content-type': 'application/json' }, 'wrong-key-0123456789abcdef')).status,
    ).toBe(401);
    expect((await post(json, { 'content-type': 'application/json' }, null)).status).toBe(401);
    expect((await post(json, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post(json, { 'content-type': 'application/json', 'content-encoding': 'br' })).status).toBe(
      415,
    );
    const garbage = await post(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), {
      'content-type': 'application/x-protobuf',
    });
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { error: { code: string } }).error.code).toBe('malformed_body');
    const wrongShape = await post('{"resourceMetrics":{}}', { 'content-type': 'application/json' });
    expect(wrongShape.status).toBe(400);
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(
      (await post(bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status,
    ).toBe(413);
  });
});
