import { AlertEvent } from '../../schemas/alert.js';
import { parseDuration } from '../../schemas/common.js';
import { PerformanceUpdate } from '../../schemas/performance.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import { type RestoreInput, type RollupRow, rollupKeyOf } from '../core/performance/index.js';
import { maxSelectRows, type Store } from '../ports/store.js';
import type { Logger } from '../runtime/logger.js';

/**
 * Restore strategy: from the store, no changelog topic.
 *
 * A module's state is rebuilt the first time one of its events reaches the partition's engine (the
 * bus does not say which modules hash to a partition, so ownership is learnt from the records):
 *
 * - rollups: every stored bucket from `now − allowedLateness − window` on, per rule. The live window
 *   always ends at or after `now − allowedLateness`, so older buckets can never be live again; late
 *   events for them are merged into storage (`rollupMerges`).
 * - dedup memory: the eventIds of raw events received within allowedLateness + 24 h (the newest
 *   100,000 per chunk of modules: a replay after a restart only re-reads uncommitted records, which are
 *   the newest). Only events whose effect is already in the stored rollups count as seen: an event is
 *   covered when its `received_ms` ≤ the greatest `updated_ms` of its module's rollups, because one
 *   batch writes its raw events first and its rollups last, stamping both with the batch time. A raw
 *   event written by a batch that died before its rollups is therefore not remembered, and the
 *   redelivery of that uncommitted batch counts it exactly once.
 * - open alerts: the latest version of every alert whose latest state is not `resolved`.
 * - recent PerformanceUpdates within the stagnation horizon (trend and change detection).
 */
export async function loadModuleState(
  store: Store,
  modules: ModuleVersion[],
  now: number,
  log: Logger,
): Promise<Required<RestoreInput>> {
  const out: Required<RestoreInput> = { rollups: [], openAlerts: [], recentEventIds: [], updates: [] };
  for (let i = 0; i < modules.length; i += chunkSize) {
    const chunk = modules.slice(i, i + chunkSize);
    const part = await loadChunk(store, chunk, now, log);
    out.rollups.push(...part.rollups);
    out.openAlerts.push(...part.openAlerts);
    out.recentEventIds.push(...part.recentEventIds);
    out.updates.push(...part.updates);
  }
  out.recentEventIds.sort((a, b) => a.receivedMs - b.receivedMs);
  return out;
}

const chunkSize = 50;
const dayMs = 86_400_000;

interface Spans {
  latenessMs: number;
  windowMs: number;
  horizonMs: number;
}

function spansOf(module: ModuleVersion): Spans {
  const ms = (text: string | undefined, fallback: number) =>
    text ? (parseDuration(text) ?? fallback) : fallback;
  let windowMs = 0;
  let horizonMs = 0;
  for (const rule of [...module.goals, ...module.constraints]) {
    const w = ms(rule.window, 0);
    windowMs = Math.max(windowMs, w);
    horizonMs = Math.max(horizonMs, 'stagnationHorizon' in rule ? ms(rule.stagnationHorizon, 4 * w) : 4 * w);
  }
  return { latenessMs: ms(module.allowedLateness, 30_000), windowMs, horizonMs };
}

async function loadChunk(store: Store, modules: ModuleVersion[], now: number, log: Logger) {
  const ids = modules.map((m) => m.id);
  const spans = modules.map(spansOf);
  const maxOf = (f: (s: Spans) => number) => Math.max(...spans.map(f));
  const lateness = maxOf((s) => s.latenessMs);
  const inModules = { column: 'module_id', op: 'in', value: ids } as const;

  // Buckets can be up to one bucket width before the window start (alignment); 2× window is ample.
  const liveFrom = now - lateness - 2 * maxOf((s) => s.windowMs);
  const rollups = await store.select('rollups', {
    where: [inModules, { column: 'bucket_ms', op: '>=', value: liveFrom }],
    limit: maxSelectRows,
  });
  if (rollups.length === maxSelectRows) log.warn({ modules: ids }, 'restore: rollup rows truncated');

  const covered = new Map<string, number>();
  const noteCovered = (rows: RollupRow[]) => {
    for (const r of rows) covered.set(r.module_id, Math.max(covered.get(r.module_id) ?? 0, r.updated_ms));
  };
  noteCovered(rollups);

  const events = await store.select('metric_events', {
    where: [inModules, { column: 'received_ms', op: '>=', value: now - lateness - dayMs }],
    orderBy: [{ column: 'received_ms', direction: 'desc' }],
    limit: maxSelectRows,
  });
  if (events.length === maxSelectRows)
    log.warn({ modules: ids }, 'restore: dedup memory truncated to the newest events');

  // Events newer than every rollup row read so far may still be covered: by rows outside the live
  // range (merges of late events), or by rows a previous owner was still writing while the first read
  // ran (its last writes can land during a handover). Read the rows written since the oldest such
  // event. The others cover their module's events, and those of the live range are folded into the
  // restored buckets (newest version per bucket), so every event counted as seen is in the restored
  // windows. A row newer than the newest event read of its module shows that a previous owner wrote
  // again after the event read, and the read returns only a bucket's newest version, so the versions
  // that the events read belong to may be hidden: such a module takes nothing from this read (its
  // uncertain events are not remembered; their redelivery counts them on the first read's buckets).
  const uncertain = events.filter((e) => e.received_ms > (covered.get(e.module_id) ?? 0));
  if (uncertain.length > 0) {
    const since = Math.min(...uncertain.map((e) => e.received_ms));
    const newestEvent = new Map<string, number>();
    for (const e of events)
      newestEvent.set(e.module_id, Math.max(newestEvent.get(e.module_id) ?? 0, e.received_ms));
    const later = await store.select('rollups', {
      where: [
        { column: 'module_id', op: 'in', value: [...new Set(uncertain.map((e) => e.module_id))] },
        { column: 'updated_ms', op: '>=', value: since },
      ],
      limit: maxSelectRows,
    });
    const rewritten = new Set(
      later.filter((r) => r.updated_ms > (newestEvent.get(r.module_id) ?? 0)).map((r) => r.module_id),
    );
    const seen = later.filter((r) => !rewritten.has(r.module_id));
    noteCovered(seen);
    foldNewer(
      rollups,
      seen.filter((r) => r.bucket_ms >= liveFrom),
    );
  }
  const recentEventIds = events
    .filter(
      (e) => e.received_ms <= (covered.get(e.module_id) ?? 0) || !hasRules(modules, e.module_id, e.metric),
    )
    .map((e) => ({
      moduleId: e.module_id,
      agencyId: e.agency_id,
      eventId: e.event_id,
      receivedMs: e.received_ms,
    }));

  const openAlerts = await latestOpenAlerts(store, ids);

  const updateRows = await store.select('performance_updates', {
    where: [inModules, { column: 'as_of_ms', op: '>=', value: now - lateness - maxOf((s) => s.horizonMs) }],
    orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
    limit: 20_000,
  });
  const updates: PerformanceUpdate[] = [];
  for (const row of updateRows) {
    const parsed = PerformanceUpdate.safeParse(row.body);
    if (parsed.success) updates.push(parsed.data);
  }
  return { rollups, openAlerts, recentEventIds, updates };
}

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

/** The latest version of every alert of these modules whose latest state is not `resolved`. */
export async function latestOpenAlerts(store: Store, moduleIds: string[]): Promise<AlertEvent[]> {
  const open = await store.select('alerts', {
    where: [
      { column: 'module_id', op: 'in', value: moduleIds },
      { column: 'state', op: 'in', value: ['pending', 'firing'] },
    ],
    limit: maxSelectRows,
  });
  if (open.length === 0) return [];
  const versions = await store.select('alerts', {
    where: [{ column: 'alert_id', op: 'in', value: [...new Set(open.map((r) => r.alert_id))] }],
    limit: maxSelectRows,
  });
  const latest = new Map<string, (typeof versions)[number]>();
  for (const row of versions) {
    const seen = latest.get(row.alert_id);
    if (!seen || row.version > seen.version) latest.set(row.alert_id, row);
  }
  const out: AlertEvent[] = [];
  for (const row of latest.values()) {
    if (row.state === 'resolved') continue;
    const parsed = AlertEvent.safeParse(row.body);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}
