import { vi } from 'vitest';
import { agencyHeader } from '../../schemas/metric-event.js';
import type { PolicyModuleInput } from '../../schemas/registry.js';
import type { Bus, IncomingRecord, OutgoingRecord } from '../../services/ports/bus.js';

/**
 * Waits until `check` returns a truthy value (a check that throws is tried again); fails with `what`
 * and the last value, or the last error, after `timeoutMs`. Only inside tests (vi.waitFor).
 */
export function waitUntil<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  return vi.waitFor(
    async () => {
      const last = await check();
      if (!last)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`,
        );
      return last as NonNullable<T>;
    },
    { timeout: timeoutMs, interval: intervalMs },
  );
}

/** A module with one mean goal (target `target`, hold 0s) on metric `wait_minutes`, reported by `agency`. */
export function meanGoalModule(
  id: string,
  opts: { agency?: string; window?: string; target?: number } = {},
): PolicyModuleInput {
  return {
    id,
    domain: 'health',
    title: `Module ${id}`,
    owner: 'ada',
    agencies: [opts.agency ?? 'clinic-agency'],
    goals: [
      {
        id: 'wait',
        metric: 'wait_minutes',
        unit: 'min',
        direction: 'decrease',
        target: opts.target ?? 30,
        tolerance: 0.1,
        window: opts.window ?? '1m',
        aggregation: 'mean',
        minSamples: 1,
        hold: '0s',
      },
    ],
  };
}

/** A `metrics.raw` record as ingest writes it. */
export function metricRecord(
  moduleId: string,
  eventId: string,
  value: number,
  observedAt: number,
  agency = 'clinic-agency',
  metric = 'wait_minutes',
): OutgoingRecord {
  return {
    key: moduleId,
    value: JSON.stringify({ eventId, moduleId, metric, value, observedAt }),
    headers: { [agencyHeader]: agency },
  };
}

/** Collects every record of a topic from now on (a broadcast reader). */
export async function collect(
  bus: Bus,
  topic: string,
): Promise<{ records: IncomingRecord[]; stop(): Promise<void> }> {
  const records: IncomingRecord[] = [];
  const consumption = await bus.consume({
    topic,
    group: null,
    fromBeginning: true,
    onBatch: async (batch) => {
      records.push(...batch.records);
    },
  });
  return { records, stop: () => consumption.stop() };
}

/** Parsed JSON values of collected records. */
export function values<T>(records: IncomingRecord[]): T[] {
  return records.map((r) => JSON.parse(r.value.toString('utf8')) as T);
}
