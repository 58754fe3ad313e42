import { expect, it } from 'vitest';
import type { Store } from '../../services/ports/store.js';
import { sampleRows, uniqueId } from './store-fixtures.js';

const day = 86_400_000;
// Far before every other test's rows (2023), so the shared database loses nothing of theirs.
const cutoff = Date.UTC(1972, 1, 15);
const old = Date.UTC(1972, 0, 10); // its whole month (in any server time zone) ends before the cutoff
const recent = Date.UTC(1972, 2, 10);

/** The retention part of the Store contract: `expire` removes old rows of one table, nothing else. */
export function retentionContract(store: () => Store): void {
  it('expires rows older than the cutoff, keeps newer ones and every other table', async () => {
    const s = store();
    const p = uniqueId('expire');
    const rows = sampleRows(p);
    const byModule = [{ column: 'module_id', op: '=', value: p }] as const;
    const events = [old, old + 1, recent].map((t, i) => ({
      ...rows.metric_events[0]!,
      event_id: `e${i}`,
      observed_ms: t,
      received_ms: t + 1,
    }));
    const updates = [old, recent].map((t) => ({ ...rows.performance_updates[0]!, as_of_ms: t }));
    const rollups = [old, recent].map((t) => ({ ...rows.rollups[0]!, bucket_ms: t, last_ms: t }));
    const alert = (id: string, version: number, state: string, t: number) => ({
      ...rows.alerts[0]!,
      alert_id: `${p}_${id}`,
      module_id: p,
      version,
      state,
      updated_ms: t,
    });
    const alerts = [
      alert('closed', 1, 'firing', old - day),
      alert('closed', 2, 'resolved', old), // closed before the cutoff: both versions go
      alert('open', 1, 'firing', old), // still firing: an open alert never expires
      alert('late', 1, 'firing', old),
      alert('late', 2, 'resolved', recent), // closed after the cutoff: stays
    ];
    await s.insert('metric_events', events);
    await s.insert('performance_updates', updates);
    await s.insert('rollups', rollups);
    await s.insert('alerts', alerts);
    const alertIds = (await s.select('alerts', { where: [...byModule], allRows: true })).map(
      (r) => `${r.alert_id.slice(p.length + 1)}/${r.version}`,
    );
    expect(alertIds.sort()).toEqual(['closed/1', 'closed/2', 'late/1', 'late/2', 'open/1']);

    const expiredEvents = await s.expire('metric_events', cutoff);
    const expiredUpdates = await s.expire('performance_updates', cutoff);

    expect(expiredEvents).toMatchObject({ table: 'metric_events', beforeMs: cutoff, rows: 2 });
    expect(expiredUpdates).toMatchObject({ table: 'performance_updates', beforeMs: cutoff, rows: 1 });
    const keptEvents = await s.select('metric_events', { where: [...byModule], allRows: true });
    expect(keptEvents.map((r) => r.observed_ms)).toEqual([recent]);
    const keptUpdates = await s.select('performance_updates', { where: [...byModule], allRows: true });
    expect(keptUpdates.map((r) => r.as_of_ms)).toEqual([recent]);
    // Rollups and alerts have their own retention: untouched by the others' expiry.
    expect(await s.select('rollups', { where: [...byModule], allRows: true })).toHaveLength(2);
    expect(await s.select('alerts', { where: [...byModule], allRows: true })).toHaveLength(5);
    // A second run finds nothing more.
    expect((await s.expire('metric_events', cutoff)).rows).toBe(0);

    expect((await s.expire('rollups', cutoff)).rows).toBe(1);
    const keptRollups = await s.select('rollups', { where: [...byModule], allRows: true });
    expect(keptRollups.map((r) => r.bucket_ms)).toEqual([recent]);
    expect((await s.expire('alerts', cutoff)).rows).toBe(2);
    const keptAlerts = await s.select('alerts', { where: [...byModule], allRows: true });
    expect(keptAlerts.map((r) => `${r.alert_id.slice(p.length + 1)}/${r.version}`).sort()).toEqual([
      'late/1',
      'late/2',
      'open/1',
    ]);
    // Other tests' rows (2023) are all still there.
    expect(await s.select('metric_events', { limit: 1 })).toHaveLength(1);
  });

  it('refuses a table without retention and a cutoff that is not whole milliseconds', async () => {
    const s = store();
    await expect(s.expire('audit_log' as 'alerts', 0)).rejects.toMatchObject({ code: 'store_invalid_query' });
    await expect(s.expire('metric_events', 1.5)).rejects.toMatchObject({ code: 'store_invalid_query' });
    await expect(s.expire('metric_events', Number.NaN)).rejects.toMatchObject({
      code: 'store_invalid_query',
    });
  });
}
