import { PerformanceUpdate } from '../../schemas/performance.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import { alertProximityMs, type GoalFacts } from '../core/registry/flags.js';
import type { Store } from '../ports/store.js';

/** The latest stored PerformanceUpdate of one goal, or undefined. */
export async function latestPerformance(
  store: Store,
  moduleId: string,
  goalId: string,
): Promise<PerformanceUpdate | undefined> {
  const [row] = await store.select('performance_updates', {
    where: [
      { column: 'module_id', op: '=', value: moduleId },
      { column: 'goal_id', op: '=', value: goalId },
    ],
    orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
    limit: 1,
  });
  if (!row) return undefined;
  const parsed = PerformanceUpdate.safeParse(row.body);
  return parsed.success ? parsed.data : undefined;
}

/**
 * What the store says about a module's goals now: which are off track (latest status) and which
 * rules had an alert open now or active within the last 24 h.
 */
export async function goalFacts(store: Store, module: ModuleVersion, now: number): Promise<GoalFacts> {
  const byModule = { column: 'module_id', op: '=', value: module.id } as const;
  const [latest, recent, unresolved] = await Promise.all([
    Promise.all(module.goals.map((goal) => latestPerformance(store, module.id, goal.id))),
    store.select('alerts', {
      where: [byModule, { column: 'updated_ms', op: '>=', value: now - alertProximityMs }],
    }),
    store.select('alerts', {
      where: [byModule, { column: 'state', op: '!=', value: 'resolved' }],
      orderBy: [{ column: 'updated_ms', direction: 'desc' }],
      limit: 10_000,
    }),
  ]);
  const offTrack = new Set(
    latest.flatMap((update) => (update?.status === 'off_track' ? [update.goalId] : [])),
  );
  const nearAlert = new Set(recent.map((row) => row.rule_id));
  const candidates = [...new Set(unresolved.map((row) => row.alert_id))].filter(
    (id) => !unresolved.some((row) => row.alert_id === id && nearAlert.has(row.rule_id)),
  );
  if (candidates.length) {
    const resolved = await store.select('alerts', {
      where: [
        { column: 'alert_id', op: 'in', value: candidates },
        { column: 'state', op: '=', value: 'resolved' },
      ],
    });
    const closed = new Set(resolved.map((row) => row.alert_id));
    for (const row of unresolved) if (!closed.has(row.alert_id)) nearAlert.add(row.rule_id);
  }
  return { offTrack, nearAlert };
}
