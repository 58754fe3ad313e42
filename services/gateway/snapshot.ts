import type { AlertEventMs } from '../../schemas/alert.js';
import { PerformanceUpdate, type PerformanceUpdateMs, storedUpdate } from '../../schemas/performance.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import { latestOpenAlerts } from '../ports/alert-queries.js';
import { maxSelectRows, type Store } from '../ports/store.js';

/** What a starting gateway knows before it follows the bus: the latest update per rule and the open alerts. */
export interface LiveSnapshot {
  /** Each with its stored body, the public shape the frames carry. */
  updates: Array<{ update: PerformanceUpdateMs; shown: PerformanceUpdate }>;
  alerts: AlertEventMs[];
}

const chunkSize = 50;
/** Most rules emit within this span (trend points, coalesced value changes); older ones are read one by one. */
const recentMs = 6 * 3_600_000;

/**
 * Reads the latest PerformanceUpdate of every rule of these modules and every open alert from the
 * store. Per chunk of modules, one read of the recent updates finds most rules; a rule with none
 * in that span (a quiet one) gets its own `limit 1` read.
 */
export async function loadLiveSnapshot(
  store: Store,
  modules: ModuleVersion[],
  now: number,
): Promise<LiveSnapshot> {
  const updates: LiveSnapshot['updates'] = [];
  const alerts: AlertEventMs[] = [];
  for (let i = 0; i < modules.length; i += chunkSize) {
    const chunk = modules.slice(i, i + chunkSize);
    const ids = chunk.map((m) => m.id);
    const rows = await store.select('performance_updates', {
      where: [
        { column: 'module_id', op: 'in', value: ids },
        { column: 'as_of_ms', op: '>=', value: now - recentMs },
      ],
      orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
      limit: maxSelectRows,
    });
    const latest = new Map<string, LiveSnapshot['updates'][number]>();
    for (const row of rows) {
      const key = `${row.module_id}\u0000${row.goal_id}`;
      if (latest.has(key)) continue;
      const parsed = PerformanceUpdate.safeParse(row.body);
      if (parsed.success)
        latest.set(key, { update: storedUpdate(parsed.data, row.as_of_ms), shown: parsed.data });
    }
    for (const module of chunk) {
      for (const rule of [...module.goals, ...module.constraints]) {
        const key = `${module.id}\u0000${rule.id}`;
        if (latest.has(key)) continue;
        const [row] = await store.select('performance_updates', {
          where: [
            { column: 'module_id', op: '=', value: module.id },
            { column: 'goal_id', op: '=', value: rule.id },
          ],
          orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
          limit: 1,
        });
        const parsed = row ? PerformanceUpdate.safeParse(row.body) : undefined;
        if (parsed?.success)
          latest.set(key, { update: storedUpdate(parsed.data, row!.as_of_ms), shown: parsed.data });
      }
    }
    updates.push(...latest.values());
    alerts.push(...(await latestOpenAlerts(store, ids)));
  }
  return { updates, alerts };
}
