import { describe, expect, it } from 'vitest';
import { ExportGate } from '../../services/api/export-gate.js';

describe('the events export gate', () => {
  it('admits `concurrency` exports at once and gives a slot back once, when released', () => {
    const gate = new ExportGate({ concurrency: 2, perMinute: 100, now: () => 0 });
    const first = gate.admit('192.0.2.1');
    gate.admit('192.0.2.2');
    expect(() => gate.admit('192.0.2.3')).toThrow(
      expect.objectContaining({ code: 'export_busy', status: 429 }),
    );
    first();
    first();
    gate.admit('192.0.2.3');
    expect(() => gate.admit('192.0.2.4')).toThrow(expect.objectContaining({ code: 'export_busy' }));
  });

  it('lets one address start `perMinute` a minute, refilled steadily, and says when to retry', () => {
    let now = 0;
    const gate = new ExportGate({ concurrency: 100, perMinute: 6, now: () => now });
    for (let i = 0; i < 6; i += 1) gate.admit('192.0.2.1')();
    let refused: unknown;
    try {
      gate.admit('192.0.2.1');
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: 'rate_limited', status: 429, options: { retryAfterMs: 10_000 } });
    // Another address is not held back by the first.
    gate.admit('198.51.100.7')();
    now = 10_000;
    gate.admit('192.0.2.1')();
    expect(() => gate.admit('192.0.2.1')).toThrow(expect.objectContaining({ code: 'rate_limited' }));
  });
});
