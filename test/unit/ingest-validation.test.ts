import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MetricEvent } from '../../schemas/metric-event.js';
import { validateMetricEvent, validateMetricRecord } from '../../services/core/validation/index.js';
import { event, ingestRegistry } from '../support/ingest-harness.js';

const now = Date.parse('2025-03-01T12:00:00Z');
const registry = ingestRegistry();
const rules = { agencyId: 'transit-agency', registry, now };
const judge = (raw: unknown) => validateMetricEvent(raw, rules);

describe('validateMetricEvent', () => {
  it('accepts a well-formed event and parses observedAt to epoch ms', () => {
    const verdict = judge(
      event('e-1', { observedAt: '2025-03-01T11:59:00+01:00', dimensions: { line: '42' } }),
    );
    expect(verdict).toMatchObject({
      ok: true,
      event: { eventId: 'e-1', observedAt: Date.parse('2025-03-01T10:59:00Z'), dimensions: { line: '42' } },
    });
  });

  it.each([
    ['unknown_module', { moduleId: 'nope' }, 'moduleId'],
    ['module_retired', { moduleId: 'old-scheme' }, 'moduleId'],
    ['agency_not_allowed', { moduleId: 'permit-speed', metric: 'decision_days' }, 'moduleId'],
    ['unknown_metric', { metric: 'ridership' }, 'metric'],
    ['observed_in_future', { observedAt: now + 60_000 + 1 }, 'observedAt'],
    ['reserved_dimension', { dimensions: JSON.parse('{"__proto__":"x"}') }, 'dimensions.__proto__'],
    ['reserved_dimension', { dimensions: { constructor: 'x' } }, 'dimensions.constructor'],
    ['invalid_event', { value: Number.POSITIVE_INFINITY }, 'value'],
    ['invalid_event', { value: '1' }, 'value'],
    ['invalid_event', { observedAt: 'yesterday' }, 'observedAt'],
    ['invalid_event', { observedAt: 1.5 }, 'observedAt'],
    ['invalid_event', { eventId: 'a b' }, 'eventId'],
    ['invalid_event', { extra: 1 }, '(root)'],
    [
      'invalid_event',
      { dimensions: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`d${i}`, 'v'])) },
      'dimensions',
    ],
    ['invalid_event', { dimensions: { d: 'x'.repeat(257) } }, 'dimensions.d'],
    [
      'undeclared_dimension',
      { observedAt: now, dimensions: { line: '4', colour: 'red' } },
      'dimensions.colour',
    ],
    [
      'undeclared_dimension',
      { observedAt: now, moduleId: 'tram-punctuality', dimensions: { line: '4' } },
      'dimensions.line',
    ],
    ['dimension_value_not_allowed', { observedAt: now, dimensions: { depot: 'east' } }, 'dimensions.depot'],
    [
      'dimension_value_not_allowed',
      { observedAt: now, dimensions: { driverId: 'drv-12x' } },
      'dimensions.driverId',
    ],
    [
      'dimension_value_not_allowed',
      { observedAt: now, dimensions: { driverId: 'x-drv-12' } },
      'dimensions.driverId',
    ],
  ])('rejects %s (%j) at %s', (reason, overrides, path) => {
    const verdict = judge(event('e-2', overrides));
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toBe(reason);
    expect(verdict.eventId).toBe((overrides as { eventId?: string }).eventId ?? 'e-2');
    expect(verdict.errors.map((e) => e.path)).toContain(path);
  });

  it('says which dimensions the module declares, and which values a list allows', () => {
    const undeclared = judge(event('e-5', { observedAt: now, dimensions: { colour: 'red' } }));
    expect(undeclared.ok ? [] : undeclared.errors).toEqual([
      {
        path: 'dimensions.colour',
        message:
          'module "bus-punctuality" declares no dimension "colour" (it declares "line", "d", "depot", "driverId")',
      },
    ]);
    const none = judge(
      event('e-6', { observedAt: now, moduleId: 'tram-punctuality', dimensions: { line: '4' } }),
    );
    expect(none.ok ? [] : none.errors[0]?.message).toBe('module "tram-punctuality" declares no dimensions');
    const value = judge(event('e-7', { observedAt: now, dimensions: { depot: 'east' } }));
    expect(value.ok ? [] : value.errors[0]?.message).toContain('"north", "south"');
  });

  it('keeps open and aggregate dimensions and drops those declared never', () => {
    const verdict = judge(
      event('e-8', { observedAt: now, dimensions: { line: '4', depot: 'north', driverId: 'drv-1234' } }),
    );
    expect(verdict).toMatchObject({ ok: true });
    if (verdict.ok) expect(verdict.event.dimensions).toEqual({ line: '4', depot: 'north' });
    const only = judge(event('e-9', { observedAt: now, dimensions: { driverId: 'drv-1' } }));
    expect(only.ok && !('dimensions' in only.event)).toBe(true);
  });

  it("accepts observedAt exactly the module's maxFuture (default 60s) ahead", () => {
    expect(judge(event('e-3', { observedAt: now + 60_000 })).ok).toBe(true);
  });

  it('explains what observedAt may be', () => {
    const verdict = judge(event('e-4', { observedAt: '2025-03-01 12:00' }));
    expect(verdict.ok ? [] : verdict.errors).toEqual([
      { path: 'observedAt', message: expect.stringContaining('RFC 3339') },
    ]);
  });

  it('rejects non-objects without an eventId', () => {
    for (const raw of [null, 1, 'x', [], [event('e')]]) {
      const verdict = judge(raw);
      expect(verdict).toMatchObject({ ok: false, reason: 'invalid_event', eventId: undefined });
    }
  });

  // The hand-written fast path must never accept what the schema refuses, nor parse it differently.
  it('accepts exactly what the schema and the rules accept (property)', () => {
    const slug = fc.constantFrom(
      'bus-punctuality',
      'tram-punctuality',
      'on_time_rate',
      'cost_per_trip',
      'Bus',
      '',
      'a'.repeat(65),
      'x y',
    );
    const field = fc.oneof(
      slug,
      fc.string(),
      fc.double(),
      fc.integer({ min: -1, max: 8e12 }),
      fc.constantFrom(
        now,
        '2025-03-01T11:00:00Z',
        '2025-02-30T11:00:00Z',
        '2025-03-01T11:00:00',
        '2025-03-01T11:00:00.123456+05:30',
      ),
      fc.constant(null),
      fc.dictionary(fc.string({ maxLength: 70 }), fc.oneof(fc.string({ maxLength: 300 }), fc.integer()), {
        maxKeys: 18,
      }),
    );
    const candidate = fc.record(
      {
        eventId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,130}$/), field),
        moduleId: fc.oneof(slug, field),
        metric: fc.oneof(slug, field),
        value: fc.oneof(fc.double(), field),
        observedAt: field,
        dimensions: field,
        other: field,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(candidate, (raw) => {
        const verdict = judge(raw);
        const schema = MetricEvent.safeParse(raw);
        if (verdict.ok) {
          expect(schema.success).toBe(true);
          expect(JSON.parse(JSON.stringify(verdict.event))).toEqual(JSON.parse(JSON.stringify(schema.data)));
        } else if (verdict.reason === 'invalid_event') {
          expect(schema.success && !Number.isNaN(schema.data.observedAt)).toBe(false);
        }
      }),
      { numRuns: 20_000 },
    );
    // 20,000 runs take 3–10 s on a busy 2-core machine: a time budget, not a looser check.
  }, 60_000);
});

describe('validateMetricRecord', () => {
  const record = (value: unknown) => Buffer.from(JSON.stringify(value));
  it('accepts a record with the agency header', () => {
    const verdict = validateMetricRecord(
      record(event('r-1', { observedAt: now })),
      { 'glasshouse-agency': 'transit-agency' },
      registry,
      now,
    );
    expect(verdict).toMatchObject({ ok: true, agencyId: 'transit-agency', event: { eventId: 'r-1' } });
  });
  it('applies the dimension declarations to records produced straight to the topic', () => {
    const headers = { 'glasshouse-agency': 'transit-agency' };
    expect(
      validateMetricRecord(
        record(event('r-4', { observedAt: now, dimensions: { colour: 'red' } })),
        headers,
        registry,
        now,
      ),
    ).toMatchObject({ ok: false, reason: 'undeclared_dimension', errors: [{ path: 'dimensions.colour' }] });
    const kept = validateMetricRecord(
      record(event('r-5', { observedAt: now, dimensions: { line: '9', driverId: 'drv-7' } })),
      headers,
      registry,
      now,
    );
    expect(kept).toMatchObject({ ok: true });
    if (kept.ok) expect(kept.event.dimensions).toEqual({ line: '9' });
  });
  it('refuses a record without a usable agency header', () => {
    const cases: Array<Record<string, string>> = [
      {},
      { 'glasshouse-agency': '' },
      { 'glasshouse-agency': 'Not A Slug' },
    ];
    for (const headers of cases) {
      expect(validateMetricRecord(record(event('r-2')), headers, registry, now)).toMatchObject({
        ok: false,
        reason: 'missing_agency',
      });
    }
  });
  it('refuses bytes that are not JSON, naming the position', () => {
    const verdict = validateMetricRecord(
      Buffer.from('{"eventId":'),
      { 'glasshouse-agency': 'transit-agency' },
      registry,
      now,
    );
    expect(verdict).toMatchObject({
      ok: false,
      reason: 'malformed_json',
      errors: [{ message: expect.stringContaining('position 11') }],
    });
  });
  it('applies the agency authorisation of the header, not of the body', () => {
    const raw = record(
      event('r-3', { moduleId: 'permit-speed', metric: 'decision_days', agency: 'permits-office' }),
    );
    expect(validateMetricRecord(raw, { 'glasshouse-agency': 'transit-agency' }, registry, now)).toMatchObject(
      { ok: false },
    );
    const clean = record(event('r-3', { moduleId: 'permit-speed', metric: 'decision_days' }));
    expect(
      validateMetricRecord(clean, { 'glasshouse-agency': 'transit-agency' }, registry, now),
    ).toMatchObject({
      ok: false,
      reason: 'agency_not_allowed',
    });
  });
});
