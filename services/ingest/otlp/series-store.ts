import type { SeriesState } from '../../core/otlp/series.js';
import type { Store } from '../../ports/store.js';

/**
 * Where the last cumulative point of each OTLP series is kept: the store's `otlp_series` table, not
 * this process's memory, so the next export of a series gets the right delta on any ingest replica
 * and after a restart (README, "OpenTelemetry").
 */
export class SeriesStates {
  constructor(private readonly store: Pick<Store, 'select' | 'insert'>) {}

  /** The stored state of each of these series of one agency (absent: never seen). */
  async load(agencyId: string, seriesIds: readonly string[]): Promise<Map<string, SeriesState>> {
    const states = new Map<string, SeriesState>();
    if (seriesIds.length === 0) return states;
    const rows = await this.store.select('otlp_series', {
      where: [
        { column: 'agency_id', op: '=', value: agencyId },
        { column: 'series_id', op: 'in', value: [...seriesIds] },
      ],
      limit: seriesIds.length,
    });
    for (const row of rows) {
      states.set(row.series_id, {
        startNs: row.start_ns,
        timeNs: row.time_ns,
        value: row.value,
        base: row.base,
      });
    }
    return states;
  }

  /** Stores the new state of these series (the newest point of a series wins on read). */
  async save(agencyId: string, states: ReadonlyMap<string, SeriesState>): Promise<void> {
    if (states.size === 0) return;
    await this.store.insert(
      'otlp_series',
      [...states].map(([seriesId, s]) => ({
        agency_id: agencyId,
        series_id: seriesId,
        start_ns: s.startNs,
        time_ns: s.timeNs,
        time_ms: Number(BigInt(s.timeNs) / 1_000_000n),
        value: s.value,
        base: s.base,
      })),
    );
  }
}
