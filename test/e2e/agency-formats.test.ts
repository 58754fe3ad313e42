import { randomBytes } from 'node:crypto';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, eventually, seedModule } from '../support/http-client.js';
import { type Deployment, distributed, standalone } from './setups.js';

/**
 * Agencies reporting in the formats they already have: a CSV file from a spreadsheet, and metrics
 * from the OpenTelemetry JS SDK's own OTLP exporters (protobuf and JSON), on both deployments.
 */
const setups: Array<[string, () => Promise<Deployment>]> = [
  ['standalone (one process, in-process bus, DuckDB)', standalone],
  [
    'distributed (one server per role, Kafka, ClickHouse)',
    () => distributed(inject('kafkaBrokers'), inject('clickhouseUrl')),
  ],
];

/** A reader that collects only when asked, so the test decides what each export holds. */
class ManualReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

type Exporter = JsonExporter | ProtoExporter;
/**
 * The protobuf exporter is configured as an agency's operator would, through the standard
 * environment variables (read when the exporter is made); the JSON one through its options.
 */
const exporters: Record<'proto' | 'json', (url: string, key: string) => Exporter> = {
  proto: (url, key) => {
    const env = {
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: url,
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: `Authorization=Bearer%20${key}`,
      OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'gzip',
    };
    Object.assign(process.env, env);
    try {
      return new ProtoExporter();
    } finally {
      for (const name of Object.keys(env)) delete process.env[name];
    }
  },
  json: (url, key) => new JsonExporter({ url, headers: { authorization: `Bearer ${key}` } }),
};

function exportOnce(exporter: Exporter, metrics: ResourceMetrics): Promise<{ code: number; error?: Error }> {
  return new Promise((resolve) => exporter.export(metrics, resolve));
}

/** One exporter process: a meter provider with a counter and a gauge, collected on demand. */
function otelProcess() {
  const reader = new ManualReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('permits-backend', '1.2.0');
  return {
    counter: meter.createCounter('permits.handled'),
    gauge: meter.createGauge('permits.queue.length'),
    collect: async () => (await reader.collect()).resourceMetrics,
    stop: () => provider.shutdown(),
  };
}

describe.each(setups)('agency formats end to end: %s', (_name, setup) => {
  let d: Deployment;
  const run = randomBytes(3).toString('hex');

  beforeAll(async () => {
    d = await setup();
  });
  afterAll(async () => {
    await d?.stop();
  });

  const goals = [
    {
      id: 'handled',
      metric: 'permits_handled',
      unit: 'permits',
      direction: 'increase',
      target: 10,
      tolerance: 0.1,
      window: '1h',
      aggregation: 'sum',
    },
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
  ];

  // The dimension both formats report; declared, as every dimension must be.
  const dimensions = [{ name: 'office', description: 'The permit office', publish: 'open' }];

  async function moduleReady(id: string) {
    await eventually(
      async () => ((await call(d.apiUrl, 'GET', `/v1/modules/${id}`)).status === 200 ? true : undefined),
      10_000,
      () => `module ${id} not readable`,
    );
  }

  async function current(id: string): Promise<Record<string, number | undefined>> {
    const answer = await call(d.apiUrl, 'GET', `/v1/modules/${id}`);
    const values: Record<string, number | undefined> = {};
    for (const goal of (answer.body.goals ?? []) as Array<{ id: string; current?: { value: number } }>)
      values[goal.id] = goal.current?.value;
    return values;
  }

  async function storedValues(id: string, metric: string): Promise<number[]> {
    const answer = await fetch(
      new URL(
        `/v1/modules/${id}/events?from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}&metric=${metric}`,
        d.apiUrl,
      ),
    );
    const text = await answer.text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { value: number; observedAt: string })
      .sort((a, b) => a.observedAt.localeCompare(b.observedAt))
      .map((e) => e.value);
  }

  it('takes a CSV file: good rows counted, bad rows named by line, formula-looking cells kept as text; offers the template', async () => {
    const moduleId = `csv-${run}`;
    const key = await seedModule(d.apiUrl, d.adminToken, {
      id: moduleId,
      owner: 'csv-owner',
      agency: `csv-agency-${run}`,
      goals,
      dimensions,
    });
    await moduleReady(moduleId);
    const template = await fetch(new URL(`/v1/modules/${moduleId}/csv-template`, d.apiUrl));
    expect(template.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(await template.text()).toBe(
      `eventId,moduleId,metric,value,observedAt\r\n${moduleId}-permits_handled-0001,${moduleId},permits_handled,,\r\n${moduleId}-queue_length-0001,${moduleId},queue_length,,\r\n`,
    );
    const t = Date.now() - 5_000;
    const file =
      'eventId,moduleId,metric,value,observedAt,dim.office\r\n' +
      `c1,${moduleId},permits_handled,4,${t},"=HYPERLINK(""http://x"")"\r\n` +
      `c2,${moduleId},permits_handled,four,${t},north\r\n` +
      `c3,${moduleId},permits_handled,3,${new Date(t + 1).toISOString()},south\r\n`;
    const answer = await eventually(
      async () => {
        const response = await fetch(new URL('/v1/metrics', d.ingestUrl), {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' },
          body: file,
        });
        const body = (await response.json()) as { accepted: number; duplicates: number; rejected: unknown[] };
        return response.status === 202 && body.accepted + body.duplicates === 2 ? body : undefined;
      },
      15_000,
      () => 'ingest never took the CSV file',
    );
    expect(answer.rejected).toEqual([
      { index: 1, line: 3, eventId: 'c2', errors: [{ path: 'value', message: expect.any(String) }] },
    ]);
    await eventually(
      async () => ((await current(moduleId)).handled === 7 ? true : undefined),
      15_000,
      () => 'the sum never reached 7',
    );
    // The live sum is written beside the events, not after them: wait for the stored row too.
    let csv = '';
    await eventually(
      async () => {
        csv = await (
          await fetch(
            new URL(`/v1/modules/${moduleId}/events?from=${t - 1000}&to=${t + 1000}&format=csv`, d.apiUrl),
          )
        ).text();
        return csv.includes('HYPERLINK') ? true : undefined;
      },
      15_000,
      () => `the CSV export never held the stored row:\n${csv}`,
    );
    // Stored as the text sent; the open-data CSV quotes it so no spreadsheet runs it.
    expect(csv).toContain(`"{""office"":""=HYPERLINK(\\""http://x\\"")""}"`);
  });

  it.each(['proto', 'json'] as const)(
    'takes the OpenTelemetry SDK exporter (%s): values follow, a retry counts once, a counter reset never goes negative, a wrong key is 401',
    async (kind) => {
      const moduleId = `otel-${kind}-${run}`;
      const key = await seedModule(d.apiUrl, d.adminToken, {
        id: moduleId,
        owner: 'otel-owner',
        agency: `otel-${kind}-agency-${run}`,
        goals,
        dimensions,
        otlp: [
          { otelMetric: 'permits.handled', metric: 'permits_handled' },
          { otelMetric: 'permits.queue.length', metric: 'queue_length', dimensions: ['office'] },
        ],
      });
      await moduleReady(moduleId);
      const url = new URL('/v1/otlp/v1/metrics', d.ingestUrl).toString();
      const exporter = exporters[kind](url, key);

      const first = otelProcess();
      first.counter.add(5);
      first.gauge.record(30, { office: 'north' });
      const batch = await first.collect();
      // The first export may meet an ingest that has not read the new agency yet (distributed).
      await eventually(
        async () => ((await exportOnce(exporter, batch)).code === 0 ? true : undefined),
        15_000,
        () => 'the exporter never got through',
      );
      // The exporter's retry of the same batch: same data points, so duplicates.
      expect((await exportOnce(exporter, batch)).code).toBe(0);
      first.counter.add(7);
      first.gauge.record(12, { office: 'north' });
      expect((await exportOnce(exporter, await first.collect())).code).toBe(0);
      await first.stop();

      // The exporting process restarts: its counter starts again from zero.
      const second = otelProcess();
      second.counter.add(2);
      expect((await exportOnce(exporter, await second.collect())).code).toBe(0);
      await second.stop();

      await eventually(
        async () => {
          const values = await current(moduleId);
          return values.handled === 14 && values.queue === 12 ? values : undefined;
        },
        15_000,
        () => `live values never reached handled 14, queue 12`,
      );
      // The live values are written beside the events, not after them: wait for the events too.
      let stored: number[][] = [];
      await eventually(
        async () => {
          stored = [
            await storedValues(moduleId, 'permits_handled'),
            await storedValues(moduleId, 'queue_length'),
          ];
          return stored[0]!.length >= 3 && stored[1]!.length >= 2 ? true : undefined;
        },
        15_000,
        () => `stored values never held every value: ${JSON.stringify(stored)}`,
      );
      expect(stored).toEqual([
        [5, 7, 2],
        [30, 12],
      ]);

      const wrong = exporters[kind](url, 'not-a-key-of-anyone-0123456789');
      const refused = await exportOnce(wrong, batch);
      expect(refused.code).not.toBe(0);
      expect((refused.error as { code?: number }).code).toBe(401);
      await exporter.shutdown();
      await wrong.shutdown();
    },
  );
});
