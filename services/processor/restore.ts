import type { AlertEventMs } from '../../schemas/alert.js';
import { parseDuration } from '../../schemas/common.js';
import { PerformanceUpdate, type PerformanceUpdateMs, storedUpdate } from '../../schemas/performance.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import {
  type RestoreInput,
  type RollupRow,
  type RuleSpec,
  rollupKeyOf,
  rulesOf,
  trendSlotMs,
} from '../core/performance/index.js';
import { latestOpenAlerts } from '../ports/alert-queries.js';
import { type Condition, type Store, selectAll, selectColumns } from '../ports/store.js';
import type { Row } from '../ports/tables.js';

/**
 * Restore strategy: from the store, no changelog topic.
 *
 * A module's state is rebuilt the first time one of its events reaches the partition's engine, or
 * when its partition is assigned (see processor.ts). Every read pages until it has everything it
 * asked for (`selectAll`); nothing is cut short.
 *
 * - rollups: every stored bucket from `now − allowedLateness − window` on, per rule. The live window
 *   always ends at or after `now − allowedLateness`, so older buckets can never be live again; late
 *   events for them are merged into storage (`rollupMerges`).
 * - coverage: per module, the greatest `updated_ms` of its rollups. One batch writes its raw events
 *   first and its rollups last, stamping both with the batch time (strictly increasing per partition),
 *   so a stored event is *counted* when its `received_ms` ≤ its module's coverage. A raw event written
 *   by a batch that died before its rollups is therefore not counted, and the redelivery of that
 *   uncommitted batch counts it exactly once.
 * - dedup memory: the counted events observed from the newest counted observedAt (never ahead of the
 *   clock) minus allowedLateness on (`seenSince`): the engine answers for those from memory. Events
 *   observed before it are checked against the store when they arrive (see `countedCopies`), so the
 *   memory holds one lateness bound of events, not a day.
 * - open alerts: the latest version of every alert whose latest state is not `resolved`.
 * - PerformanceUpdates for trends, change detection and hold clocks, in bounded size (`loadUpdates`).
 */
export interface RestoredState extends Required<RestoreInput> {
  seenSince: Map<string, number>;
  /** Module id → the greatest stored rollup `updated_ms` (absent: no rollup stored). */
  covered: Map<string, number>;
}

export async function loadModuleState(
  store: Store,
  modules: ModuleVersion[],
  now: number,
): Promise<RestoredState> {
  const out = emptyRestored();
  for (let i = 0; i < modules.length; i += chunkSize)
    mergeRestored(out, await loadChunk(store, modules.slice(i, i + chunkSize), now));
  return out;
}

function emptyRestored(): RestoredState {
  return {
    rollups: [],
    openAlerts: [],
    recentEventIds: [],
    updates: [],
    trendPoints: [],
    seenSince: new Map(),
    lastReceipts: [],
    covered: new Map(),
  };
}

/** Adds `part` (the state of other modules) to `into`. */
function mergeRestored(into: RestoredState, part: RestoredState): void {
  for (const key of [
    'rollups',
    'openAlerts',
    'recentEventIds',
    'updates',
    'trendPoints',
    'lastReceipts',
  ] as const)
    for (const item of part[key]) (into[key] as unknown[]).push(item);
  for (const [id, ms] of part.seenSince) into.seenSince.set(id, ms);
  for (const [id, ms] of part.covered) into.covered.set(id, ms);
}

/** The part of restored states that concerns these modules (each state read for a set of modules). */
export function restoredFor(states: RestoredState[], moduleIds: ReadonlySet<string>): RestoredState {
  const out = emptyRestored();
  for (const s of states)
    mergeRestored(out, {
      rollups: s.rollups.filter((r) => moduleIds.has(r.module_id)),
      openAlerts: s.openAlerts.filter((a) => moduleIds.has(a.moduleId)),
      recentEventIds: s.recentEventIds.filter((e) => moduleIds.has(e.moduleId)),
      updates: s.updates.filter((u) => moduleIds.has(u.moduleId)),
      trendPoints: s.trendPoints.filter((p) => moduleIds.has(p.moduleId)),
      lastReceipts: s.lastReceipts.filter((r) => moduleIds.has(r.moduleId)),
      seenSince: new Map([...s.seenSince].filter(([id]) => moduleIds.has(id))),
      covered: new Map([...s.covered].filter(([id]) => moduleIds.has(id))),
    });
  return out;
}

/** Modules per set of reads: bounds each read's `IN` lists and rows. */
const chunkSize = 500;
const dayMs = 86_400_000;

function latenessOf(module: ModuleVersion): number {
  return module.allowedLateness ? (parseDuration(module.allowedLateness) ?? 30_000) : 30_000;
}

/**
 * Per rule (`module rule`), the oldest bucket its live window can ever reach again: the window ends
 * at or after `now − allowedLateness`, and a bucket may start up to one width before the window.
 */
function liveFromOf(modules: ModuleVersion[], now: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of modules)
    for (const rule of rulesOf(m))
      out.set(`${m.id} ${rule.id}`, now - latenessOf(m) - rule.geometry.windowMs - 2 * rule.geometry.widthMs);
  return out;
}

/** The rollups of the live windows: one read per distinct window start, kept per rule. */
async function liveRollups(store: Store, liveFrom: ReadonlyMap<string, number>): Promise<RollupRow[]> {
  const byStart = new Map<number, string[]>();
  for (const [key, from] of liveFrom) byStart.set(from, [...(byStart.get(from) ?? []), key]);
  const out: RollupRow[] = [];
  for (const [from, keys] of byStart) {
    const rows = await selectAll(store, 'rollups', {
      where: [
        { column: 'module_id', op: 'in', value: [...new Set(keys.map((k) => k.split(' ')[0]!))] },
        { column: 'rule_id', op: 'in', value: [...new Set(keys.map((k) => k.split(' ')[1]!))] },
        { column: 'bucket_ms', op: '>=', value: from },
      ],
    });
    for (const r of rows) if (liveFrom.get(`${r.module_id} ${r.rule_id}`) === from) out.push(r);
  }
  return out;
}

async function loadChunk(store: Store, modules: ModuleVersion[], now: number) {
  const ids = modules.map((m) => m.id);
  const lateness = Math.max(...modules.map(latenessOf));
  const inModules = { column: 'module_id', op: 'in', value: ids } as const;

  // Rollups written within the last day answer for the modules active since (a time-bounded read
  // skips old data); only modules without one are looked up over all their rollups.
  const recent = [inModules, { column: 'updated_ms', op: '>=', value: now - lateness - dayMs } as const];
  const covered = await store.maxPerGroup('rollups', 'module_id', 'updated_ms', recent);
  // The dedup memory starts one lateness bound behind the newest event counted (never ahead of the
  // clock), so a processor catching up a backlog after the restart answers from memory. A recent
  // row's last_ms may be behind an older row's (late events only, lately): the horizon is then lower
  // and restore reads more events, which is safe.
  const newestObserved = await store.maxPerGroup('rollups', 'module_id', 'last_ms', recent);
  const quiet = ids.filter((id) => !covered.has(id));
  if (quiet.length > 0) {
    const inQuiet = [{ column: 'module_id', op: 'in', value: quiet } as const];
    for (const [id, ms] of await store.maxPerGroup('rollups', 'module_id', 'updated_ms', inQuiet))
      covered.set(id, ms);
    for (const [id, ms] of await store.maxPerGroup('rollups', 'module_id', 'last_ms', inQuiet))
      newestObserved.set(id, ms);
  }
  const seenSince = new Map<string, number>();
  for (const m of modules)
    seenSince.set(m.id, Math.min(newestObserved.get(m.id) ?? now, now) - latenessOf(m));
  const seenSinceMs = Math.min(...seenSince.values());
  // Buckets can be up to one bucket width before the window start (alignment); 2× window is ample.
  const liveFrom = liveFromOf(modules, now);
  const isLive = (r: RollupRow) =>
    r.bucket_ms >= (liveFrom.get(`${r.module_id} ${r.rule_id}`) ?? Number.POSITIVE_INFINITY);
  const rollups = await liveRollups(store, liveFrom);
  const noteCovered = (rows: RollupRow[]) => {
    for (const r of rows) covered.set(r.module_id, Math.max(covered.get(r.module_id) ?? 0, r.updated_ms));
  };
  noteCovered(rollups);

  const receipts = await store.maxPerGroup('metric_events', 'module_id', 'received_ms', [
    inModules,
    { column: 'received_ms', op: '>=', value: now - lateness - dayMs },
  ]);
  // Every stored copy (a batch that died before its rollups and its redelivery each wrote one): the
  // pair is counted when any copy is.
  const events = await selectAll(store, 'metric_events', {
    where: [inModules, { column: 'observed_ms', op: '>=', value: seenSinceMs }],
    allRows: true,
  });
  // The newest receipt known when the events were read (the receipts read came just before it).
  const newestRead = new Map(receipts);
  for (const e of events)
    newestRead.set(e.module_id, Math.max(newestRead.get(e.module_id) ?? 0, e.received_ms));

  // Events newer than every rollup row read so far may still be counted: by rows a previous owner
  // was still writing while the first reads ran (its last writes can land during a handover). Read
  // the rows written since the oldest such event. They cover their module's events, and those of the
  // live range are folded into the restored buckets (newest version per bucket), so every event
  // counted as seen is in the restored windows. A row newer than the newest receipt read of its
  // module (before or with the events) shows that a previous owner wrote again after the event read, and the read returns only a
  // bucket's newest version, so the versions that the events read belong to may be hidden: such a
  // module takes nothing from this read (its uncertain events are not remembered; their redelivery
  // counts them on the first read's buckets).
  const uncertain = events.filter((e) => e.received_ms > (covered.get(e.module_id) ?? 0));
  if (uncertain.length > 0) {
    let since = Number.POSITIVE_INFINITY;
    for (const e of uncertain) since = Math.min(since, e.received_ms);
    const later = await selectAll(store, 'rollups', {
      where: [
        { column: 'module_id', op: 'in', value: [...new Set(uncertain.map((e) => e.module_id))] },
        { column: 'updated_ms', op: '>=', value: since },
      ],
    });
    const rewritten = new Set(
      later.filter((r) => r.updated_ms > (newestRead.get(r.module_id) ?? 0)).map((r) => r.module_id),
    );
    const seen = later.filter((r) => !rewritten.has(r.module_id));
    noteCovered(seen);
    foldNewer(rollups, seen.filter(isLive));
  }
  const counted = new Map<string, Row<'metric_events'>>();
  for (const e of events) {
    if (e.received_ms > (covered.get(e.module_id) ?? 0) && hasRules(modules, e.module_id, e.metric)) continue;
    counted.set(`${e.module_id} ${e.agency_id} ${e.event_id}`, e);
  }
  const recentEventIds = [...counted.values()].map((e) => ({
    moduleId: e.module_id,
    agencyId: e.agency_id,
    eventId: e.event_id,
    observedMs: e.observed_ms,
    receivedMs: e.received_ms,
  }));
  const lastReceipts = [...receipts].map(([moduleId, receivedMs]) => ({ moduleId, receivedMs }));

  const openAlerts = await latestOpenAlerts(store, ids);

  const { updates, trendPoints } = await loadUpdates(store, modules, openAlerts, now);
  return { rollups, openAlerts, recentEventIds, updates, trendPoints, lastReceipts, covered, seenSince };
}

/**
 * The stored PerformanceUpdates a restarted engine needs, per rule, read in bounded size whatever the
 * update rate (a rule may publish one a second for days):
 * - its trend series: the first update with a status in each trend slot of its stagnation horizon
 *   (`trendSlotMs`: at most ~121 rows), the points the live engine keeps;
 * - change detection: its newest update;
 * - for a rule with an open alert, its hold clocks: every update of the last hold before its newest
 *   one, and the newest before those. The trailing run of deviating (or recovered) updates either
 *   starts inside that span, exactly as read, or before it, and then every later reading is past the
 *   hold either way.
 */
async function loadUpdates(
  store: Store,
  modules: ModuleVersion[],
  openAlerts: AlertEventMs[],
  now: number,
): Promise<Pick<RestoredState, 'updates' | 'trendPoints'>> {
  const rules = new Map<string, RuleSpec>();
  /** Per rule, where its trend series can start (the oldest update restore needs for it). */
  const trendFrom = new Map<string, number>();
  for (const m of modules) {
    const lateness = latenessOf(m);
    for (const rule of rulesOf(m)) {
      rules.set(`${m.id} ${rule.id}`, rule);
      trendFrom.set(`${m.id} ${rule.id}`, now - lateness - rule.horizonMs - trendSlotMs(rule.horizonMs));
    }
  }
  const oldest = Math.min(now, ...trendFrom.values());
  const inModules = { column: 'module_id', op: 'in', value: modules.map((m) => m.id) } as const;
  const rows = new Map<string, Row<'performance_updates'>>();
  const keep = (list: Row<'performance_updates'>[]) => {
    for (const r of list) rows.set(`${r.module_id} ${r.goal_id} ${r.as_of_ms}`, r);
  };

  const newest = await newestUpdates(store, [inModules, { column: 'as_of_ms', op: '>=', value: oldest }]);
  keep(newest);

  // One sampled read per distinct slot width, over that width's horizons only (a 2-minute slot of a
  // 4-hour horizon must not sample days kept for a daily goal's); a row is kept only for rules of
  // that width. Only the time and value are read: ~120 points per rule, too many to decode whole
  // updates for.
  const trendPoints: RestoredState['trendPoints'] = [];
  const bySlot = new Map<number, string[]>();
  for (const [key, rule] of rules) {
    const slot = trendSlotMs(rule.horizonMs);
    bySlot.set(slot, [...(bySlot.get(slot) ?? []), key]);
  }
  for (const [slot, keys] of bySlot) {
    const wanted = new Set(keys);
    const from = Math.min(...keys.map((k) => trendFrom.get(k)!));
    const sampled = await selectColumns(
      store,
      'performance_updates',
      ['module_id', 'goal_id', 'as_of_ms', 'value'],
      {
        where: [
          { column: 'module_id', op: 'in', value: [...new Set(keys.map((k) => k.split(' ')[0]!))] },
          { column: 'goal_id', op: 'in', value: [...new Set(keys.map((k) => k.split(' ')[1]!))] },
          { column: 'as_of_ms', op: '>=', value: from },
          { column: 'status', op: '!=', value: 'no_data' },
        ],
        orderBy: [{ column: 'as_of_ms' }],
        firstPer: { columns: ['module_id', 'goal_id'], slot: { column: 'as_of_ms', width: slot } },
      },
    );
    for (const r of sampled)
      if (wanted.has(`${r.module_id} ${r.goal_id}`))
        trendPoints.push({ moduleId: r.module_id, goalId: r.goal_id, t: r.as_of_ms, value: r.value });
  }

  // Hold clocks: from the newest update of each rule with an open alert, back one hold.
  const held = new Map<string, number>();
  const newestAt = new Map(newest.map((r) => [`${r.module_id} ${r.goal_id}`, r.as_of_ms]));
  for (const alert of openAlerts) {
    const key = `${alert.moduleId} ${alert.ruleId}`;
    const rule = rules.get(key);
    const at = newestAt.get(key);
    if (alert.kind !== 'data_gap' && rule && at !== undefined) held.set(key, at - rule.holdMs);
  }
  if (held.size > 0) {
    const from = Math.min(...held.values());
    const heldRules = [
      { column: 'module_id', op: 'in', value: [...new Set([...held.keys()].map((k) => k.split(' ')[0]!))] },
      { column: 'goal_id', op: 'in', value: [...new Set([...held.keys()].map((k) => k.split(' ')[1]!))] },
    ] as const;
    const span = await selectAll(store, 'performance_updates', {
      where: [...heldRules, { column: 'as_of_ms', op: '>=', value: from }],
    });
    const before = await newestUpdates(store, [...heldRules, { column: 'as_of_ms', op: '<', value: from }]);
    keep([...span, ...before].filter((r) => held.has(`${r.module_id} ${r.goal_id}`)));
  }

  const updates: PerformanceUpdateMs[] = [];
  for (const row of rows.values()) {
    const parsed = PerformanceUpdate.safeParse(row.body);
    if (parsed.success) updates.push(storedUpdate(parsed.data, row.as_of_ms));
  }
  return { updates, trendPoints };
}

/**
 * The newest update per rule among those matching `where`: found from the key columns alone, then
 * read whole (decoding every candidate's body would cost more than the reads).
 */
async function newestUpdates(store: Store, where: Condition[]): Promise<Row<'performance_updates'>[]> {
  const keys = await selectColumns(store, 'performance_updates', ['module_id', 'goal_id', 'as_of_ms'], {
    where,
    orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
    firstPer: { columns: ['module_id', 'goal_id'] },
  });
  if (keys.length === 0) return [];
  const wanted = new Set(keys.map((k) => `${k.module_id} ${k.goal_id} ${k.as_of_ms}`));
  const rows = await selectAll(store, 'performance_updates', {
    where: [
      { column: 'module_id', op: 'in', value: [...new Set(keys.map((k) => k.module_id))] },
      { column: 'goal_id', op: 'in', value: [...new Set(keys.map((k) => k.goal_id))] },
      { column: 'as_of_ms', op: 'in', value: [...new Set(keys.map((k) => k.as_of_ms))] },
    ],
  });
  return rows.filter((r) => wanted.has(`${r.module_id} ${r.goal_id} ${r.as_of_ms}`));
}

/**
 * Which of these events (not in the dedup memory, observed before its horizon) the store holds a
 * counted copy of, as `module agency eventId` keys. A copy is counted when the batch that wrote it
 * also landed its rollups: it was received after `ownSince` (written by this owner, which counted it
 * before writing it) or at or before the module's coverage at restore (see `loadModuleState`).
 */
export async function countedCopies(
  store: Store,
  events: ReadonlyArray<{ moduleId: string; agencyId: string; eventId: string }>,
  dedup: ReadonlyMap<string, { ownSince: number; covered: number }>,
): Promise<Set<string>> {
  const wanted = new Set(events.map((e) => `${e.moduleId} ${e.agencyId} ${e.eventId}`));
  const out = new Set<string>();
  for (let i = 0; i < events.length; i += lookupChunk) {
    const chunk = events.slice(i, i + lookupChunk);
    const rows = await selectAll(store, 'metric_events', {
      where: [
        { column: 'module_id', op: 'in', value: [...new Set(chunk.map((e) => e.moduleId))] },
        { column: 'agency_id', op: 'in', value: [...new Set(chunk.map((e) => e.agencyId))] },
        { column: 'event_id', op: 'in', value: [...new Set(chunk.map((e) => e.eventId))] },
      ],
      allRows: true,
    });
    for (const row of rows) {
      const key = `${row.module_id} ${row.agency_id} ${row.event_id}`;
      const module = dedup.get(row.module_id);
      if (!wanted.has(key) || !module) continue;
      if (row.received_ms > module.ownSince || row.received_ms <= module.covered) out.add(key);
    }
  }
  return out;
}

const lookupChunk = 1_000;

/** Replaces rows of `into` by newer versions of the same bucket from `rows`, and adds new buckets. */
function foldNewer(into: RollupRow[], rows: RollupRow[]): void {
  const at = new Map(into.map((r, i) => [rollupKeyOf(r), i]));
  for (const r of rows) {
    const i = at.get(rollupKeyOf(r));
    if (i === undefined) {
      at.set(rollupKeyOf(r), into.length);
      into.push(r);
    } else if (r.updated_ms > into[i]!.updated_ms) {
      into[i] = r;
    }
  }
}

function hasRules(modules: ModuleVersion[], moduleId: string, metric: string): boolean {
  const m = modules.find((x) => x.id === moduleId);
  return !!m && [...m.goals, ...m.constraints].some((r) => r.metric === metric);
}
