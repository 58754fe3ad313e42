import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { validateMetricRecord } from '../../services/core/validation/index.js';
import { IngestMetrics } from '../../services/ingest/metrics.js';
import { RecentEventIds } from '../../services/ingest/recent-event-ids.js';
import { submitEvents } from '../../services/ingest/submit.js';
import type { OutgoingRecord } from '../../services/ports/bus.js';
import { event, ingestRegistry } from '../support/ingest-harness.js';

// Ingest answers 202 for an event once it is on `metrics.raw`; the processor validates the record
// again and sends what it refuses to the DLQ. Both must agree, or an acknowledged event is dropped.
const now = Date.parse('2025-03-01T12:00:00Z');
const registry = ingestRegistry();
const agency = 'transit-agency';

/** Runs the real ingest submit over `events` and returns its answer and the records it published. */
async function ingest(events: unknown[]) {
  const published: OutgoingRecord[] = [];
  const answer = await submitEvents(
    {
      bus: { publish: async (_topic, records) => void published.push(...records) },
      registry,
      clock: { now: () => now },
      recent: new RecentEventIds(),
      metrics: new IngestMetrics(new Registry()),
      publishTimeoutMs: 1_000,
    },
    agency,
    events,
  );
  return { answer, published };
}

/** The processor's verdict on a published record (the same registry and clock). */
function process(record: OutgoingRecord) {
  const value = typeof record.value === 'string' ? record.value : Buffer.from(record.value);
  return validateMetricRecord(value, record.headers ?? {}, registry, now);
}

describe('ingest and the processor judge events alike', () => {
  it.each([
    ['0001-01-01T00:00:00Z', 'at or after 1970'],
    ['1969-12-31T23:59:59.999Z', 'at or after 1970'],
    ['1970-01-01T00:00:00+00:01', 'at or after 1970'],
    ['2200-01-01T00:00:00.001Z', 'at or before 2200'],
  ])('refuses observedAt %s at ingest, with the reason, and publishes nothing', async (observedAt, why) => {
    const { answer, published } = await ingest([event('old-1', { observedAt })]);
    expect(answer.accepted).toBe(0);
    expect(answer.rejected).toEqual([
      { index: 0, eventId: 'old-1', errors: [{ path: 'observedAt', message: expect.stringContaining(why) }] },
    ]);
    expect(published).toEqual([]);
  });

  it('accepts the edges of the range, and the processor accepts them too', async () => {
    const { answer, published } = await ingest([
      event('edge-1', { observedAt: '1970-01-01T00:00:00Z' }),
      event('edge-2', { observedAt: '1969-12-31T23:00:00-01:00' }),
      event('edge-3', { observedAt: 0 }),
    ]);
    expect(answer).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(published.map((r) => process(r).ok)).toEqual([true, true, true]);
  });

  // For any event: ingest accepts it exactly when the processor accepts the record ingest publishes,
  // and exactly when the processor accepts the same event produced to the topic directly.
  it('ingest accepts exactly what the processor accepts (property)', async () => {
    const time = fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: now + 2 * 60_000 }), weight: 3 },
      {
        arbitrary: fc
          .date({ min: new Date(0), max: new Date(now + 2 * 60_000), noInvalidDate: true })
          .map((d) => d.toISOString()),
        weight: 3,
      },
      fc.integer({ min: -62_135_596_800_000, max: 7_300_000_000_000 }),
      fc.constantFrom(
        -1,
        0,
        7_258_118_400_000,
        7_258_118_400_001,
        now,
        // The default maxFuture (60 s) and just past it.
        now + 60_000,
        now + 60_000 + 1,
      ),
      fc.double(),
      fc
        .date({ min: new Date(-62_135_596_800_000), max: new Date(8_000_000_000_000), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc
        .tuple(
          fc.integer({ min: 0, max: 9999 }),
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 1, max: 31 }),
          fc.constantFrom('Z', '+00:01', '-00:01', '+14:00', '-23:59', '+05:30'),
          fc.constantFrom('', '.5', '.999999'),
        )
        .map(
          ([y, m, d, zone, frac]) =>
            `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T00:00:00${frac}${zone}`,
        ),
      fc.constantFrom(
        '0001-01-01T00:00:00Z',
        '1970-01-01T00:00:00Z',
        '1969-12-31T23:59:59.999Z',
        '2200-01-01T00:00:00Z',
        '2200-01-01T00:00:00.001Z',
        '2025-03-01T12:05:00Z',
        '2025-03-01T12:05:00.001Z',
        '2025-03-01 12:00:00Z',
        '',
      ),
    );
    const candidate = fc.record(
      {
        eventId: fc.oneof(
          { arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,129}$/), weight: 8 },
          // A first character the eventId rule refuses (a letter or digit must come first).
          fc.stringMatching(/^[._:-][A-Za-z0-9._:-]{0,20}$/),
          fc.constantFrom('', 'a b', 7),
        ),
        moduleId: fc.oneof(
          { arbitrary: fc.constant('bus-punctuality'), weight: 6 },
          fc.constantFrom('tram-punctuality', 'permit-speed', 'old-scheme', 'nope'),
        ),
        metric: fc.oneof(
          { arbitrary: fc.constant('on_time_rate'), weight: 6 },
          fc.constantFrom('cost_per_trip', 'decision_days', 'Bus'),
        ),
        value: fc.oneof({ arbitrary: fc.double(), weight: 6 }, fc.integer(), fc.constantFrom('1', null)),
        observedAt: time,
        dimensions: fc.oneof(
          // Declared ones (the fixture module's line, depot and driverId, this last dropped as never).
          {
            arbitrary: fc.record(
              {
                line: fc.string({ maxLength: 258 }),
                depot: fc.constantFrom('north', 'south', 'east'),
                driverId: fc.constantFrom('drv-1', 'drv-123456', 'drv-x', 'DRV-1'),
              },
              { requiredKeys: [] },
            ),
            weight: 4,
          },
          fc.dictionary(fc.stringMatching(/^[A-Za-z0-9._:-]{1,66}$/), fc.string({ maxLength: 258 }), {
            maxKeys: 17,
          }),
          fc.constant({ constructor: 'x' }),
        ),
      },
      { requiredKeys: ['eventId', 'moduleId', 'metric', 'value', 'observedAt'] },
    );
    const withExtra = fc.oneof(
      { arbitrary: candidate, weight: 9 },
      candidate.map((c) => ({ ...c, extra: 1 })),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(withExtra, async (generated) => {
        // What ingest sees is parsed JSON, as an agency producing straight to the topic would send it.
        const raw = JSON.parse(JSON.stringify(generated)) as unknown;
        const { answer, published } = await ingest([raw]);
        const direct = validateMetricRecord(
          JSON.stringify(raw),
          { 'glasshouse-agency': agency },
          registry,
          now,
        );
        expect(published).toHaveLength(answer.accepted);
        if (answer.accepted === 1) {
          accepted++;
          const verdict = process(published[0]!);
          expect(verdict, JSON.stringify(raw)).toMatchObject({ ok: true });
          expect(direct, JSON.stringify(raw)).toMatchObject({ ok: true });
          if (verdict.ok && direct.ok) expect(verdict.event).toEqual(direct.event);
        } else {
          expect(direct.ok, JSON.stringify(raw)).toBe(false);
        }
      }),
      { numRuns: 5_000 },
    );
    // The generator reaches both sides.
    expect(accepted).toBeGreaterThan(500);
    // A budget against a hang: the runs take about 3 s, more on a loaded machine.
  }, 60_000);
});
