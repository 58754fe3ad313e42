import { describe, expect, it } from 'vitest';
import {
  correctionWindowMs,
  defaultCorrectionWindowMs,
  heldCorrectionId,
  needsApproval,
} from '../../services/core/performance/index.js';
import { correctionRates } from '../../services/core/stats/index.js';

const day = 86_400_000;
const now = 1_800_000_000_000;

describe('the correction window', () => {
  it('is 30 days unless the module sets one', () => {
    expect(correctionWindowMs({})).toBe(30 * day);
    expect(defaultCorrectionWindowMs).toBe(30 * day);
    expect(correctionWindowMs({ correctionWindow: '1h' })).toBe(3_600_000);
  });

  it('holds a correction whose replaced version, or its own observation, is older than the window', () => {
    const module = { correctionWindow: '2d' };
    expect(needsApproval(module, now - day, now - day, now)).toBe(false);
    expect(needsApproval(module, now - 2 * day, now, now)).toBe(false);
    expect(needsApproval(module, now - 2 * day - 1, now, now)).toBe(true);
    // Moving a recent value into an old month restates old data too.
    expect(needsApproval(module, now - day, now - 3 * day, now)).toBe(true);
    expect(needsApproval({}, now - 29 * day, now, now)).toBe(false);
    expect(needsApproval({}, now - 31 * day, now, now)).toBe(true);
  });

  it('names a held correction by module, agency and eventId', () => {
    const id = heldCorrectionId('m', 'a', 'e');
    expect(id).toMatch(/^[a-f0-9]{32}$/);
    expect(heldCorrectionId('m', 'a', 'e')).toBe(id);
    expect(heldCorrectionId('m', 'a e', '')).not.toBe(heldCorrectionId('m', 'a', 'e'));
  });
});

describe('correction rates', () => {
  it('divides corrections by events per agency and overall, null without events', () => {
    const rates = correctionRates(
      new Map([
        ['water', 8],
        ['transit', 2],
      ]),
      new Map([['transit', 1]]),
    );
    expect(rates.agencies).toEqual([
      { agency: 'transit', events: 2, corrections: 1, rate: 0.5 },
      { agency: 'water', events: 8, corrections: 0, rate: 0 },
    ]);
    expect(rates.total).toEqual({ events: 10, corrections: 1, rate: 0.1 });
    expect(correctionRates(new Map(), new Map()).total.rate).toBeNull();
  });
});
