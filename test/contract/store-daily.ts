import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type DailyAggregate, dayMs } from '../../services/ports/daily.js';
import type { Store } from '../../services/ports/store.js';
import type { Row } from '../../services/ports/tables.js';
import { hostileStrings, uniqueId } from './store-fixtures.js';

const day0 = Date.UTC(2024, 4, 1);

/** The expected rows, counted plainly in JavaScript from the distinct events (the test's own oracle). */
function expected(
  events: Array<Row<'metric_events'>>,
  from: number,
  to: number,
  dimension: string | undefined,
  quantile: number | undefined,
): DailyAggregate[] {
  const groups = new Map<string, Array<Row<'metric_events'>>>();
  for (const e of events) {
    if (e.observed_ms < from || e.observed_ms >= to) continue;
    const day = Math.floor(e.observed_ms / dayMs) * dayMs;
    const value = dimension === undefined ? '' : ((e.dimensions as Record<string, string>)[dimension] ?? '');
    const key = JSON.stringify([day, value]);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return [...groups.entries()]
    .map(([key, rows]) => {
      const [day, value] = JSON.parse(key) as [number, string];
      const values = rows.map((r) => r.value).sort((a, b) => a - b);
      const last = [...rows].sort((a, b) =>
        a.observed_ms !== b.observed_ms ? b.observed_ms - a.observed_ms : b.event_id < a.event_id ? -1 : 1,
      )[0]!;
      return {
        dayMs: day,
        value,
        count: rows.length,
        sum: values.reduce((s, v) => s + v, 0),
        min: values[0]!,
        max: values.at(-1)!,
        lastValue: last.value,
        quantile: quantile === undefined ? null : values[Math.floor(quantile * (values.length - 1))]!,
      };
    })
    .sort((a, b) => a.dayMs - b.dayMs || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/** `daily`: aggregates per UTC day and dimension value, in the store's SQL, against a plain count. */
export function dailyContract(store: () => Store): void {
  it('aggregates raw events per day and dimension value, one per key, hostile values intact', async () => {
    const s = store();
    const p = uniqueId('daily');
    // A value that spells another dimension's field inside it must not be taken for that field.
    const values = [
      'north',
      'south',
      '',
      '"region":"north"',
      '\\"region\\":\\"x\\"',
      ...hostileStrings.slice(1, 20),
    ];
    const arbitrary = fc.array(
      fc.record({
        day: fc.integer({ min: -1, max: 3 }),
        ms: fc.integer({ min: 0, max: dayMs - 1 }),
        value: fc.integer({ min: -50, max: 50 }).map((v) => v / 4),
        region: fc.option(fc.constantFrom(...values), { nil: undefined }),
        other: fc.constantFrom(...values),
      }),
      { minLength: 1, maxLength: 120 },
    );
    const generated = fc.sample(arbitrary, { numRuns: 1, seed: 17 })[0]!;
    const events: Array<Row<'metric_events'>> = generated.map((g, i) => ({
      module_id: p,
      agency_id: i % 3 === 0 ? 'agency-a' : 'agency-b',
      event_id: `e${i}`,
      metric: 'wait_minutes',
      value: g.value,
      observed_ms: day0 + g.day * dayMs + g.ms,
      received_ms: day0 + 5 * dayMs,
      dimensions: {
        'x.other': g.other,
        ...(g.region === undefined ? {} : { 'area.region': g.region }),
      },
      late: i % 5 === 0,
      module_version: 1,
      supersedes: '',
      retract: false,
      note: '',
    }));
    // Replays of a key, and another metric's events, must not count; nor a version a correction
    // replaced, nor a retraction and what it retracts (the corrected set).
    const fix = { ...events[1]!, event_id: 'fix-1', value: 123.25, supersedes: events[1]!.event_id };
    const retraction = {
      ...events[2]!,
      event_id: 'retract-2',
      retract: true,
      supersedes: events[2]!.event_id,
    };
    await s.insert('metric_events', [
      ...events,
      ...events.slice(0, 10),
      { ...events[0]!, event_id: 'other-metric', metric: 'other' },
      fix,
      retraction,
    ]);
    const corrected = [...events.filter((_, i) => i !== 1 && i !== 2), fix];
    const from = day0;
    const to = day0 + 3 * dayMs;
    for (const [dimension, quantile] of [
      ['area.region', 0.95],
      ['x.other', 0.5],
      [undefined, undefined],
      ['absent', 0],
    ] as const) {
      const rows = await s.daily({
        moduleId: p,
        metric: 'wait_minutes',
        fromMs: from,
        toMs: to,
        ...(dimension === undefined ? {} : { dimension }),
        ...(quantile === undefined ? {} : { quantile }),
      });
      const want = expected(corrected, from, to, dimension, quantile);
      expect(rows.length, String(dimension)).toBe(want.length);
      rows.forEach((row, i) => {
        const w = want[i]!;
        expect({ ...row, sum: 0 }, `${dimension} row ${i}`).toEqual({ ...w, sum: 0 });
        expect(row.sum).toBeCloseTo(w.sum, 9);
      });
    }
  });

  it('refuses what it cannot express safely', async () => {
    const s = store();
    const base = { moduleId: 'm', metric: 'x', fromMs: day0, toMs: day0 + dayMs };
    await expect(s.daily({ ...base, dimension: "a'b" })).rejects.toThrow(/dimension name/);
    await expect(s.daily({ ...base, fromMs: day0 + 1 })).rejects.toThrow(/start of a UTC day/);
    await expect(s.daily({ ...base, quantile: 1.5 })).rejects.toThrow(/quantile/);
  });
}
