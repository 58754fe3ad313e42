/**
 * Statistical disclosure control for one published breakdown: the reports of one closed day, counted
 * per value of one dimension, with the day's total.
 *
 * The rules, as national statistics offices apply them to frequency tables:
 * 1. **Primary suppression.** A count above zero and below `minCell` is not shown: too few reports to
 *    publish without singling someone out. Zero is shown (it says no report had that value).
 * 2. **Secondary suppression.** The day's total is published, so a suppressed count could be worked
 *    out from the total and the shown counts: exactly when it is the only one, and within narrow
 *    bounds when the suppressed counts add up to little (two suppressed counts adding up to 2 are
 *    both 1). So shown counts are suppressed too, smallest first, until the published figures leave
 *    every small count as uncertain as the rule alone does (anything from 1 to `minCell - 1`). A day
 *    where that cannot be done (every count above zero suppressed and still too little uncertainty,
 *    such as a day of two reports with different values) is withheld whole: no cells, no total.
 *    Withholding only the total would not do: that it was withheld tells that the small counts add
 *    up to little, and with two of them adding up to 2, both are 1.
 * 3. **Rounding.** Every shown count, and the total, is rounded to the nearest multiple of `base`
 *    (halves up), so it moves by at most half the base.
 * 4. **Statistics of small groups.** A cell's statistic (a mean, a percentile, a sum, a rate) is shown
 *    only when its count is shown; statistics that are one report's value (min, max, last) are never
 *    shown per cell.
 *
 * Which cells were suppressed first and which to protect them is not published: a reader knows only
 * that a suppressed count is at least 1 and at most the smallest shown count above zero (secondary
 * cells are taken smallest first, and a small count is below every shown one; taken as one less, as
 * ties are broken by order). Rule 2 is checked against that knowledge (`leavesUncertain`), and the tests check it against a reader who
 * knows this code and tries every table.
 *
 * Why a day and not any range: two overlapping ranges could be subtracted to recover one day's small
 * counts. Each closed day is protected on its own (a deterministic function of that day's counts), so
 * the same day gives the same cells in every answer, and a range is a list of protected days.
 */

export interface DisclosureRules {
  /** Counts above zero and below this are suppressed. */
  minCell: number;
  /** Shown counts are rounded to a multiple of this (1: not rounded). */
  base: number;
}

export const defaultDisclosureRules: DisclosureRules = { minCell: 10, base: 5 };

/** One value's cell of a protected day: `count` null when suppressed. */
export interface ProtectedCell {
  value: string;
  count: number | null;
}

/** A protected day: its cells and rounded total, or nothing at all (rule 2). */
export type ProtectedDay = { withheld: false; cells: ProtectedCell[]; total: number } | { withheld: true };

/** Rounds to the nearest multiple of `base`, halves up. */
export function roundToBase(n: number, base: number): number {
  return base <= 1 ? n : Math.floor(n / base + 0.5) * base;
}

/**
 * Protects one day's counts per value (rules 1–3). Cells keep the order given; among equal counts
 * the first in that order is suppressed first, so the result depends on the counts and the order
 * alone.
 */
export function protectDay(
  counts: ReadonlyArray<{ value: string; count: number }>,
  rules: DisclosureRules = defaultDisclosureRules,
): ProtectedDay {
  const suppressed = counts.map((c) => c.count > 0 && c.count < rules.minCell);
  const candidates = counts
    .map((c, i) => ({ count: c.count, i }))
    .filter((c) => c.count >= rules.minCell)
    .sort((a, b) => a.count - b.count || a.i - b.i);
  for (let next = 0; suppressed.some(Boolean); next++) {
    const hidden = counts.filter((_, i) => suppressed[i]).map((c) => c.count);
    // A hidden count is below the smallest shown count above zero, or equal to it and earlier in
    // the order: a reader may take it as at most one less (the stricter bound protects in both cases).
    const ceiling = (candidates[next]?.count ?? Number.POSITIVE_INFINITY) - 1;
    if (leavesUncertain(hidden, ceiling, rules.minCell)) break;
    const add = candidates[next];
    if (!add) return { withheld: true };
    suppressed[add.i] = true;
  }
  const total = counts.reduce((sum, c) => sum + c.count, 0);
  return {
    withheld: false,
    cells: counts.map((c, i) => ({
      value: c.value,
      count: suppressed[i] ? null : roundToBase(c.count, rules.base),
    })),
    total: roundToBase(total, rules.base),
  };
}

/**
 * Whether a reader who knows the total of the `hidden` counts, and that each is between 1 and
 * `ceiling`, still finds every value from 1 to `minCell - 1`
 * possible for each of them. With k hidden counts adding up to H, one of them can be as small as
 * max(1, H - (k-1)·ceiling) and as large as H - (k-1).
 */
export function leavesUncertain(hidden: readonly number[], ceiling: number, minCell: number): boolean {
  const k = hidden.length;
  const sum = hidden.reduce((a, b) => a + b, 0);
  return k >= 2 && sum - (k - 1) * ceiling <= 1 && sum - (k - 1) >= minCell - 1;
}

/** Statistics that are one report's own value: never shown per cell (rule 4). */
export const individualStatistics: ReadonlySet<string> = new Set(['min', 'max', 'last']);

/** The rules in words, for an answer's `method`. */
export function describeRules(rules: DisclosureRules): string {
  const rounding =
    rules.base > 1
      ? ` Shown counts and totals are rounded to the nearest multiple of ${rules.base}, so each is within ${rules.base / 2} of the true count.`
      : '';
  return (
    `Each closed day (UTC) is protected on its own. Counts from 1 to ${rules.minCell - 1} are suppressed. ` +
    "Further counts of the day are suppressed, smallest first, until no suppressed count can be worked out from the day's total, " +
    'or narrowed below what suppression alone says (between 1 and ' +
    `${rules.minCell - 1}); a day where that is impossible is withheld whole.` +
    `${rounding} A statistic of a cell (mean, sum, percentile, rate) is shown only with its count; ` +
    'minimum, maximum and last value are single reports and are not shown per cell. ' +
    'A range of days is the list of its protected days, so overlapping ranges reveal nothing more.'
  );
}
