import { describe, expect, it } from 'vitest';
import { type ModuleVersion, PolicyModule } from '../../schemas/registry.js';
import { mapExport } from '../../services/core/otlp/map.js';
import type { OtlpExportRequest, OtlpMetric } from '../../services/core/otlp/request.js';
import { cumulativeDelta, type SeriesState } from '../../services/core/otlp/series.js';

const s = (n: number) => `${1_700_000_000n + BigInt(n)}000000000`;

describe('cumulative sums to deltas', () => {
  it('counts the first point whole, then differences, and a retry of a point again with the same delta', () => {
    const a = cumulativeDelta(undefined, { startNs: s(0), timeNs: s(10), value: 5 });
    expect(a).toMatchObject({ ok: true, delta: 5 });
    const state = (a as { next: SeriesState }).next;
    const b = cumulativeDelta(state, { startNs: s(0), timeNs: s(20), value: 12 });
    expect(b).toMatchObject({ ok: true, delta: 7, next: { value: 12, base: 5 } });
    const next = (b as { next: SeriesState }).next;
    expect(cumulativeDelta(next, { startNs: s(0), timeNs: s(20), value: 12 })).toMatchObject({
      ok: true,
      delta: 7,
    });
  });

  it('treats a new start time or a drop as a reset (never a negative delta), and refuses older points', () => {
    const state: SeriesState = { startNs: s(0), timeNs: s(20), value: 12, base: 5 };
    expect(cumulativeDelta(state, { startNs: s(30), timeNs: s(40), value: 2 })).toMatchObject({
      ok: true,
      delta: 2,
      next: { startNs: s(30), base: 0 },
    });
    expect(cumulativeDelta(state, { startNs: s(0), timeNs: s(30), value: 3 })).toMatchObject({
      ok: true,
      delta: 3,
    });
    expect(cumulativeDelta(state, { startNs: s(0), timeNs: s(15), value: 9 })).toEqual({
      ok: false,
      reason: 'stale_point',
    });
    expect(cumulativeDelta(state, { startNs: '1', timeNs: s(40), value: 20 })).toEqual({
      ok: false,
      reason: 'stale_point',
    });
    expect(cumulativeDelta(undefined, { startNs: s(0), timeNs: s(1), value: -1 })).toEqual({
      ok: false,
      reason: 'negative_cumulative',
    });
  });
});

const module = {
  id: 'permits',
  otlp: [
    {
      otelMetric: 'permits.handled',
      metric: 'permits_handled',
      attributes: { office: 'north' },
      dimensions: ['desk'],
    },
    { otelMetric: 'queue', metric: 'queue_length' },
  ],
} as unknown as ModuleVersion;

function request(metrics: OtlpMetric[], resource = 'svc'): OtlpExportRequest {
  return {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: resource } }] },
        scopeMetrics: [{ scope: { name: 'lib', version: '1' }, metrics }],
      },
    ],
  };
}

const point = (attrs: Record<string, string | number>, value: number, t = 10) => ({
  attributes: Object.entries(attrs).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? { stringValue: v } : { intValue: String(v) },
  })),
  startTimeUnixNano: s(0),
  timeUnixNano: s(t),
  asDouble: value,
});

describe('OTLP data points to module events', () => {
  it('maps matching points, keeps only declared attributes as dimensions, and refuses the rest with reasons', () => {
    const { points, refused } = mapExport(
      request([
        {
          name: 'permits.handled',
          sum: {
            aggregationTemporality: 2,
            isMonotonic: true,
            dataPoints: [point({ office: 'north', desk: 3, user: 'x' }, 4), point({ office: 'south' }, 1)],
          },
        },
        { name: 'queue', gauge: { dataPoints: [{ ...point({}, 0), asDouble: undefined, asInt: '9' }] } },
        { name: 'http.duration', histogram: { dataPoints: [{}, {}] } },
        { name: 'other', gauge: { dataPoints: [point({}, 1)] } },
      ]),
      [module],
    );
    expect(points).toHaveLength(2);
    expect(points[0]).toMatchObject({
      moduleId: 'permits',
      metric: 'permits_handled',
      kind: 'cumulative',
      value: 4,
      observedAt: 1_700_000_010_000,
      dimensions: { desk: '3' },
    });
    expect(points[1]).toMatchObject({ metric: 'queue_length', kind: 'value', value: 9 });
    expect(points[1]).not.toHaveProperty('dimensions');
    expect(Object.fromEntries(refused)).toEqual({
      'no mapping of "permits.handled" matches the point\'s attributes': 1,
      'histograms and summaries are not taken (only gauges and sums)': 2,
      'no module maps the metric "other"': 1,
    });
  });

  it('derives eventIds from the series and time only: a resend is the same id, another time or resource is not', () => {
    const sum = (t: number, resource = 'svc', value = 4) =>
      mapExport(
        request(
          [
            {
              name: 'permits.handled',
              sum: {
                aggregationTemporality: 2,
                isMonotonic: true,
                dataPoints: [point({ office: 'north' }, value, t)],
              },
            },
          ],
          resource,
        ),
        [module],
      ).points[0]!;
    expect(sum(10).eventId).toBe(sum(10, 'svc', 99).eventId);
    expect(sum(10).eventId).toMatch(/^otlp-[0-9a-f]{48}$/);
    expect(sum(11).eventId).not.toBe(sum(10).eventId);
    expect(sum(10, 'other').eventId).not.toBe(sum(10).eventId);
    expect(sum(11).seriesId).toBe(sum(10).seriesId);
    expect(sum(10, 'other').seriesId).not.toBe(sum(10).seriesId);
  });
});

describe('a module’s otlp mapping', () => {
  const base = {
    id: 'permits',
    domain: 'housing',
    title: 'Permits',
    owner: 'ada',
    goals: [
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
    ],
    dimensions: [{ name: 'office', description: 'Office', publish: 'open' }],
  };

  it('names a metric of the module and keeps only declared dimensions', () => {
    expect(
      PolicyModule.safeParse({
        ...base,
        otlp: [{ otelMetric: 'permits.handled', metric: 'permits_handled', dimensions: ['office'] }],
      }).success,
    ).toBe(true);
    const wrong = PolicyModule.safeParse({
      ...base,
      otlp: [{ otelMetric: 'permits.handled', metric: 'ridership', dimensions: ['office', 'user.id'] }],
    });
    expect(wrong.success).toBe(false);
    expect(wrong.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['otlp.0.metric', '"ridership" is not a metric of any goal or constraint of this module'],
      ['otlp.0.dimensions.1', '"user.id" is not a dimension this module declares'],
    ]);
  });
});
