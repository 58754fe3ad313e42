import { describe, expect, it } from 'vitest';
import type { Store } from '../../services/ports/store.js';
import type { Row } from '../../services/ports/tables.js';
import { InsertCoalescer } from '../../services/processor/insert-coalescer.js';

type EventRow = Row<'metric_events'>;

function row(eventId: string): EventRow {
  return {
    module_id: 'm',
    agency_id: 'a',
    event_id: eventId,
    metric: 'wait_minutes',
    value: 1,
    observed_ms: 0,
    received_ms: 0,
    dimensions: {},
    late: false,
    module_version: 1,
    supersedes: '',
    retract: false,
    note: '',
  };
}

/** Records each insert's event ids; rejects any insert holding an id starting with `bad`. */
function recordingStore() {
  const calls: string[][] = [];
  let release: (() => void) | undefined;
  let hold: Promise<void> | undefined;
  const store = {
    async insert(_table: string, rows: EventRow[]) {
      const ids = rows.map((r) => r.event_id);
      calls.push(ids);
      if (hold) await hold;
      if (ids.some((id) => id.startsWith('bad'))) throw new Error('rejected row');
    },
  } as unknown as Store;
  return {
    store,
    calls,
    holdNext() {
      hold = new Promise<void>((r) => {
        release = r;
      });
    },
    release() {
      hold = undefined;
      release?.();
    },
  };
}

describe('InsertCoalescer', () => {
  it('sends the inserts of one turn as one, and those arriving meanwhile as the next one', async () => {
    const s = recordingStore();
    const c = new InsertCoalescer(s.store);
    s.holdNext();
    const first = [c.insert('metric_events', [row('a')]), c.insert('metric_events', [row('b')])];
    await new Promise((r) => setImmediate(r));
    expect(s.calls).toEqual([['a', 'b']]);
    const later = [c.insert('metric_events', [row('c')]), c.insert('metric_events', [row('d')])];
    let settled = false;
    void Promise.all(first).then(() => {
      settled = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    expect(s.calls).toHaveLength(1);
    s.release();
    await Promise.all([...first, ...later]);
    expect(s.calls).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  it("a caller's rejected rows fail that caller only", async () => {
    const s = recordingStore();
    const c = new InsertCoalescer(s.store);
    const good = c.insert('metric_events', [row('a')]);
    const bad = c.insert('metric_events', [row('bad-1')]);
    await expect(bad).rejects.toThrow('rejected row');
    await expect(good).resolves.toBeUndefined();
    expect(s.calls).toEqual([['a', 'bad-1'], ['a'], ['bad-1']]);
    // The lane is free again afterwards.
    await c.insert('metric_events', [row('e')]);
    expect(s.calls.at(-1)).toEqual(['e']);
  });
});
