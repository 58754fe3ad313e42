import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { RetentionScheduler } from '../../services/api/retention.js';
import { sampleRows } from '../contract/store-fixtures.js';

const day = 86_400_000;

describe('retention on a DuckDB file, driven by an injected clock', () => {
  let dir: string;
  let store: DuckDbStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glasshouse-retention-'));
    store = new DuckDbStore({ path: join(dir, 'store.duckdb') });
    await store.start();
    await store.migrate();
  });
  afterAll(async () => {
    await store?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps raw events 400 days by event time and rollups forever, as the defaults say', async () => {
    const t0 = Date.UTC(2030, 0, 1);
    const rows = sampleRows('mod');
    await store.insert(
      'metric_events',
      [t0, t0 + 10 * day].map((t, i) => ({ ...rows.metric_events[0]!, event_id: `e${i}`, observed_ms: t })),
    );
    await store.insert('rollups', [{ ...rows.rollups[0]!, bucket_ms: t0 }]);
    let now = t0 + 399 * day;
    const scheduler = new RetentionScheduler({
      store,
      clock: { now: () => now },
      logger: pino({ level: 'silent' }),
      retentionMs: { metric_events: 400 * day, rollups: undefined },
    });

    await scheduler.runOnce();
    expect(await store.select('metric_events')).toHaveLength(2);

    now = t0 + 405 * day; // the first event is now 405 days old, the second 395
    const [expiry] = await scheduler.runOnce();
    expect(expiry).toMatchObject({ table: 'metric_events', beforeMs: t0 + 5 * day, rows: 1 });
    expect((await store.select('metric_events')).map((r) => r.event_id)).toEqual(['e1']);
    expect(await store.select('rollups')).toHaveLength(1);
    expect(scheduler.health()).toEqual({ state: 'ok' });
  });
});
