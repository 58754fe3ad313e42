import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DisclosureRules,
  leavesUncertain,
  type ProtectedDay,
  protectDay,
  roundToBase,
} from '../../services/core/disclosure/protect.js';

const day = (...counts: number[]) => counts.map((count, i) => ({ value: `v${i}`, count }));
const exact = (minCell: number): DisclosureRules => ({ minCell, base: 1 });
const shownCounts = (p: ProtectedDay) => (p.withheld ? 'withheld' : p.cells.map((c) => c.count));

/** Rank of a matrix by Gaussian elimination (small, exact enough for 0/1 coefficients). */
function rank(rows: number[][]): number {
  const m = rows.map((r) => [...r]);
  let r = 0;
  for (let col = 0; col < (m[0]?.length ?? 0) && r < m.length; col++) {
    const pivot = m.findIndex((row, i) => i >= r && Math.abs(row[col]!) > 1e-9);
    if (pivot < 0) continue;
    [m[r], m[pivot]] = [m[pivot]!, m[r]!];
    for (let i = 0; i < m.length; i++) {
      if (i === r) continue;
      const f = m[i]![col]! / m[r]![col]!;
      for (let j = col; j < m[i]!.length; j++) m[i]![j]! -= f * m[r]![j]!;
    }
    r++;
  }
  return r;
}

/**
 * The published equations over the suppressed cells (the total, when shown, minus the shown cells):
 * a suppressed cell is recoverable when its unit vector lies in their row space.
 */
function recoverable(published: ProtectedDay): number[] {
  if (published.withheld) return [];
  const hidden = published.cells.flatMap((c, i) => (c.count === null ? [i] : []));
  const equations = [hidden.map(() => 1)];
  return hidden.filter((_, j) => {
    const unit = hidden.map((_, x) => (x === j ? 1 : 0));
    return rank([...equations, unit]) === rank(equations);
  });
}

/** Days of counts per value: zeros, small counts and larger ones, mixed. */
const tables = (largest: number, values: number) =>
  fc.array(
    fc.oneof(
      { weight: 2, arbitrary: fc.constant(0) },
      { weight: 5, arbitrary: fc.integer({ min: 1, max: 12 }) },
      { weight: 3, arbitrary: fc.integer({ min: 10, max: largest }) },
    ),
    { minLength: 1, maxLength: values },
  );
const counts = tables(40, 6);
/** Small enough for a reader to try every table. */
const smallTables = tables(24, 5);

/**
 * Depth-first search for a table equal to `values` except in the hidden cells, with cell `i` = v,
 * every hidden cell at least 1 and the hidden cells adding up to the same sum (the total is shown), for which `publishesSame` holds. Values near the true ones first.
 */
function findTable(
  values: number[],
  i: number,
  v: number,
  hidden: number[],
  publishesSame: (alt: number[]) => boolean,
): boolean {
  const others = hidden.filter((j) => j !== i);
  const sum = hidden.reduce((a, j) => a + values[j]!, 0);
  const alt = [...values];
  alt[i] = v;
  const search = (n: number, left: number): boolean => {
    if (n === others.length) return left === 0 && publishesSame(alt);
    const j = others[n]!;
    const last = n === others.length - 1;
    const max = left - (others.length - 1 - n);
    if (last) {
      if (left < 1) return false;
      alt[j] = left;
      return search(n + 1, 0);
    }
    const order = Array.from({ length: Math.max(0, max) }, (_, x) => x + 1).sort(
      (a, b) => Math.abs(a - values[j]!) - Math.abs(b - values[j]!),
    );
    for (const x of order) {
      alt[j] = x;
      if (search(n + 1, left - x)) return true;
    }
    return false;
  };
  return search(0, sum - v);
}

describe('protectDay', () => {
  it('suppresses small counts and, with one of them, the smallest shown count too', () => {
    const p = protectDay(day(3, 0, 25, 12, 40), exact(10));
    expect(shownCounts(p)).toEqual([null, 0, 25, null, 40]);
    expect(p).toMatchObject({ total: 80 });
  });

  it('adds cells until two small counts are no longer pinned by their small sum', () => {
    // 1 + 1 = 2 would give both away; with the 11 beside them the three add up to 13.
    expect(shownCounts(protectDay(day(1, 1, 11, 30), exact(10)))).toEqual([null, null, null, 30]);
    // 5 + 9 = 14 and both at most 30 (the smallest shown count): each could be anything from 1 to 9.
    expect(shownCounts(protectDay(day(5, 9, 30), exact(10)))).toEqual([null, null, 30]);
    // Beside an 11 instead, neither could be below 3 (14 - 11): the 11 is suppressed as well.
    expect(shownCounts(protectDay(day(5, 9, 11, 30), exact(10)))).toEqual([null, null, null, 30]);
  });

  it('withholds a day whole when its small counts cannot be protected', () => {
    expect(protectDay(day(4), exact(10))).toEqual({ withheld: true });
    expect(protectDay(day(4, 0), exact(10))).toEqual({ withheld: true });
    expect(protectDay(day(1, 1), exact(3))).toEqual({ withheld: true });
    expect(protectDay(day(4, 0, 12), exact(10))).toMatchObject({ withheld: false, total: 16 });
    expect(protectDay(day(0, 12), exact(10))).toEqual({
      withheld: false,
      cells: [
        { value: 'v0', count: 0 },
        { value: 'v1', count: 12 },
      ],
      total: 12,
    });
  });

  it('rounds shown counts and the total to the base, halves up', () => {
    const p = protectDay(day(12, 23, 37), { minCell: 10, base: 5 });
    expect(shownCounts(p)).toEqual([10, 25, 35]);
    expect(p).toMatchObject({ total: 70 });
    expect(roundToBase(7, 1)).toBe(7);
  });

  it('property: no suppressed cell is recoverable from the published equations', () => {
    fc.assert(
      fc.property(counts, fc.integer({ min: 2, max: 12 }), (values, minCell) => {
        const published = protectDay(day(...values), exact(minCell));
        expect(recoverable(published)).toEqual([]);
        values.forEach((v, i) => {
          if (v > 0 && v < minCell && !published.withheld) expect(published.cells[i]!.count).toBeNull();
        });
      }),
      { numRuns: 2_000 },
    );
  });

  it('property: a reader who knows this code and tries every table cannot pin down a suppressed small count', () => {
    // The reader knows the shown cells and the total exactly (no rounding: the strongest case) and
    // searches for tables that publish exactly the same with the small count set to v: each is one
    // the reader cannot rule out. At least two values must remain (most cells keep many more; the
    // greedy order of rule 2 can tell a reader that a count is not 1, say, but never which it is).
    // [8, 8, 10, 2] with minCell 3: the 2 could also be an 8, with an 8 beside it being the small one.
    fc.assert(
      fc.property(smallTables, fc.integer({ min: 3, max: 12 }), (values, minCell) => {
        const rules = exact(minCell);
        const published = protectDay(day(...values), rules);
        const key = JSON.stringify(published);
        const same = (alt: number[]) => JSON.stringify(protectDay(day(...alt), rules)) === key;
        if (published.withheld) {
          // Nothing of the day is shown: any cell could hold any small count (the rest zero, say).
          values.forEach((_, i) => {
            for (let v = 1; v < minCell; v++)
              expect(same(values.map((_, j) => (j === i ? v : 0)))).toBe(true);
          });
          return;
        }
        const hidden = published.cells.flatMap((c, i) => (c.count === null ? [i] : []));
        for (const i of hidden.filter((i) => values[i]! < minCell)) {
          // Any value up to the hidden cells' sum: the reader does not know which hidden cell is
          // the small one, so a larger value the same table allows counts as much as a small one.
          const sum = hidden.reduce((a, j) => a + values[j]!, 0);
          let other: number | undefined;
          for (let v = 1; v <= sum && other === undefined; v++)
            if (v !== values[i] && findTable(values, i, v, hidden, same)) other = v;
          expect(other, `cell ${i} of ${JSON.stringify(values)}, minCell ${minCell}`).toBeDefined();
        }
      }),
      { numRuns: 600, examples: [[[8, 8, 10, 2], 3]] },
    );
  });

  it('property: rounding never moves a count or the total by more than half the base', () => {
    fc.assert(
      fc.property(counts, fc.integer({ min: 1, max: 10 }), (values, base) => {
        const published = protectDay(day(...values), { minCell: 3, base });
        if (published.withheld) return;
        published.cells.forEach((c, i) => {
          if (c.count !== null) expect(Math.abs(c.count - values[i]!)).toBeLessThanOrEqual(base / 2);
        });
        const total = values.reduce((a, b) => a + b, 0);
        expect(Math.abs(published.total - total)).toBeLessThanOrEqual(base / 2);
      }),
    );
  });

  it('leavesUncertain needs two hidden counts, a large enough sum and room under the ceiling', () => {
    expect(leavesUncertain([5], 30, 10)).toBe(false);
    expect(leavesUncertain([1, 1], 30, 10)).toBe(false);
    expect(leavesUncertain([5, 9], 30, 10)).toBe(true);
    expect(leavesUncertain([9, 12], 12, 10)).toBe(false); // 21 - 12 = 9: the small one is at least 9
  });
});
