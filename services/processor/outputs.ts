import { type AlertEventMs, publicAlert } from '../../schemas/alert.js';
import { type PerformanceUpdateMs, publicUpdate } from '../../schemas/performance.js';
import { mergeRollupRows, type RollupRow, rollupKeyOf } from '../core/performance/index.js';
import type { Bus, OutgoingRecord } from '../ports/bus.js';
import type { Store } from '../ports/store.js';
import type { Row } from '../ports/tables.js';
import { Topics } from '../ports/topics.js';
import { type DeadLetter, toDeadLetterRow, toDlqRecord } from './dead-letters.js';

/** Everything one batch (or tick) of one partition must make durable before its offsets are committed. */
export interface Outputs {
  /** Processing time of the batch: `received_ms` of its events and `updated_ms` of its rollups. */
  atMs: number;
  deadLetters: DeadLetter[];
  events: Row<'metric_events'>[];
  alerts: AlertEventMs[];
  updates: PerformanceUpdateMs[];
  /** Full rows for buckets the engine holds. */
  rollups: RollupRow[];
  /** Partial rows for buckets it no longer holds: merged into the stored row, once. */
  merges: RollupRow[];
}

export function emptyOutputs(atMs: number): Outputs {
  return { atMs, deadLetters: [], events: [], alerts: [], updates: [], rollups: [], merges: [] };
}

export function isEmpty(o: Outputs): boolean {
  return (
    o.deadLetters.length +
      o.events.length +
      o.alerts.length +
      o.updates.length +
      o.rollups.length +
      o.merges.length ===
    0
  );
}

/**
 * The write steps, in two lanes. The bus lane publishes (DLQ, updates, alerts); the store lane inserts
 * rows, rollups last. A stored rollup row with `updated_ms` ≥ an event's `received_ms` proves the event
 * was fully processed (its raw row, alerts and updates are written and published before), which is
 * what the restore after a crash relies on (see restore.ts); so the rollups also wait for the bus lane,
 * and the full rows and the merged rows of buckets the engine no longer holds go in one insert (had
 * the full rows landed alone, they would vouch for late events whose merges never did).
 */
export const busSteps = ['dlq_publish', 'publish_updates', 'publish_alerts'] as const;
export const storeSteps = ['dead_letters', 'metric_events', 'alerts', 'performance_updates'] as const;
export type Step = (typeof busSteps)[number] | (typeof storeSteps)[number] | 'rollups';
export type Lane = 'bus' | 'store';

/** A write step that failed; retrying the flush resumes at this step. */
export class SinkError extends Error {
  readonly code = 'sink_failed';
  readonly retriable = true;
  constructor(
    readonly step: Step,
    cause: unknown,
  ) {
    super(`writing ${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'SinkError';
  }
}

export interface WriteTargets {
  bus: Bus;
  store: Store;
}

/**
 * One lane's writes of a set of outputs, and how far they got. The steps of a lane are independent,
 * so they run concurrently (the store lane's rollups follow once its other steps succeeded and
 * `beforeRollups` resolved). Each step is idempotent on its own (rows collapse by key, bus consumers
 * tolerate redelivery), but a completed step is not repeated, and the merge of partial rollups is
 * computed once and then written as computed, so a retry never merges twice.
 */
export class PendingWrite {
  private readonly done = new Set<Step>();
  private merged: Promise<RollupRow[]> | undefined;
  private inflight: Promise<void> | undefined;
  private aborted = false;

  constructor(
    readonly outputs: Outputs,
    readonly lane: Lane,
    private readonly beforeRollups: () => Promise<unknown> = async () => {},
  ) {}

  /**
   * Runs the remaining steps; throws SinkError naming a step that failed. A call while an earlier one
   * still runs (its caller stopped waiting: a timeout) joins that one, so steps never run twice at once.
   */
  flush(to: WriteTargets): Promise<void> {
    this.inflight ??= this.runSteps(to).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * No further step starts (the partition was revoked): a flush still running after its caller gave up
   * on it must not go on to write rollups the partition's next owner does not know about.
   */
  abort(): void {
    this.aborted = true;
  }

  private async runSteps(to: WriteTargets): Promise<void> {
    if (this.lane === 'bus') {
      await this.runAll(busSteps, to);
      return;
    }
    await this.runAll(storeSteps, to);
    await this.beforeRollups();
    await this.runAll(['rollups'], to);
  }

  private async runAll(list: readonly Step[], to: WriteTargets): Promise<void> {
    if (this.aborted) throw new Error('the write was abandoned (partition revoked)');
    const results = await Promise.allSettled(
      list
        .filter((step) => !this.done.has(step))
        .map(async (step) => {
          try {
            await this.run(step, to);
          } catch (err) {
            throw new SinkError(step, err);
          }
          this.done.add(step);
        }),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async run(step: Step, { bus, store }: WriteTargets): Promise<void> {
    const o = this.outputs;
    switch (step) {
      case 'dlq_publish':
        return publish(bus, Topics.metricsDlq, o.deadLetters.map(toDlqRecord));
      case 'dead_letters':
        return insert(
          store,
          'dead_letters',
          o.deadLetters.map((d) => toDeadLetterRow(d, o.atMs)),
        );
      case 'metric_events':
        return insert(store, 'metric_events', o.events);
      case 'alerts':
        return insert(store, 'alerts', o.alerts.map(alertRow));
      case 'performance_updates':
        return insert(
          store,
          'performance_updates',
          o.updates.map((u) => updateRow(u, o.atMs)),
        );
      case 'publish_updates':
        return publish(
          bus,
          Topics.performanceUpdates,
          o.updates.map((u) => ({ key: u.moduleId, value: JSON.stringify(u) })),
        );
      case 'publish_alerts':
        return publish(
          bus,
          Topics.alertsEvents,
          o.alerts.map((a) => ({ key: a.moduleId, value: JSON.stringify(publicAlert(a)) })),
        );
      case 'rollups': {
        // Merged once; a failed read is merged again, a failed insert writes the same rows again.
        this.merged ??= mergeWithStored(store, o.merges, o.rollups).catch((err: unknown) => {
          this.merged = undefined;
          throw err;
        });
        const merged = await this.merged;
        const mergedKeys = new Set(merged.map(rollupKeyOf));
        return insert(store, 'rollups', [
          ...o.rollups.filter((r) => !mergedKeys.has(rollupKeyOf(r))),
          ...merged,
        ]);
      }
    }
  }
}

/**
 * The outputs of consecutive batches and ticks of one partition as one set, in order: what is written
 * at once when several are waiting. A rollup row of a later batch replaces the same bucket's row of
 * an earlier one (both are full rows, the later holds more), so only the last per bucket is kept;
 * partial merges are all kept (mergeWithStored folds partials of one bucket together).
 */
export function mergeOutputs(list: readonly Outputs[]): Outputs {
  if (list.length === 1) return list[0]!;
  const out = emptyOutputs(Math.max(...list.map((o) => o.atMs)));
  const rollups = new Map<string, RollupRow>();
  // One update per goal and asOf, the later set's: the merged write gives all its updates one
  // publication time (atMs), and two stored versions with the same time would tie.
  const updates = new Map<string, PerformanceUpdateMs>();
  for (const o of list) {
    out.deadLetters.push(...o.deadLetters);
    out.events.push(...o.events);
    out.alerts.push(...o.alerts);
    out.merges.push(...o.merges);
    for (const r of o.rollups) {
      const key = rollupKeyOf(r);
      rollups.delete(key);
      rollups.set(key, r);
    }
    for (const u of o.updates) {
      const key = `${u.moduleId} ${u.goalId} ${u.asOfMs}`;
      updates.delete(key);
      updates.set(key, u);
    }
  }
  out.rollups.push(...rollups.values());
  out.updates.push(...updates.values());
  return out;
}

async function publish(bus: Bus, topic: string, records: OutgoingRecord[]) {
  if (records.length > 0) await bus.publish(topic, records);
}

async function insert<T extends Parameters<Store['insert']>[0]>(store: Store, table: T, rows: Row<T>[]) {
  if (rows.length > 0) await store.insert(table, rows);
}

/** The stored row: `opened_ms` and `updated_ms` for the system, the public shape as the body the API answers with. */
export function alertRow(a: AlertEventMs): Row<'alerts'> {
  return {
    alert_id: a.alertId,
    version: a.version,
    module_id: a.moduleId,
    rule_id: a.ruleId,
    kind: a.kind,
    state: a.state,
    opened_ms: a.openedMs,
    updated_ms: a.updatedMs,
    body: publicAlert(a),
  };
}

/**
 * The stored row of an update published by the batch processed at `publishedMs`: `as_of_ms` for the
 * system, the public shape as the body the API answers with.
 */
export function updateRow(u: PerformanceUpdateMs, publishedMs: number): Row<'performance_updates'> {
  return {
    module_id: u.moduleId,
    goal_id: u.goalId,
    as_of_ms: u.asOfMs,
    module_version: u.moduleVersion,
    status: u.status,
    value: u.value ?? 0,
    body: publicUpdate(u),
    published_ms: publishedMs,
  };
}

/**
 * Partial rows merged into what is stored under the same key (several partials of one key merge
 * first). A full row of the same write (`written`, about to be inserted with the result) is newer
 * than the stored one, so a partial of its bucket merges into it instead.
 */
export async function mergeWithStored(
  store: Store,
  partials: RollupRow[],
  written: RollupRow[] = [],
): Promise<RollupRow[]> {
  if (partials.length === 0) return [];
  const byKey = new Map<string, RollupRow>();
  for (const p of partials) {
    const key = rollupKeyOf(p);
    const earlier = byKey.get(key);
    byKey.set(key, earlier ? mergeRollupRows(earlier, p) : p);
  }
  const own = new Map(written.map((r) => [rollupKeyOf(r), r]));
  const out: RollupRow[] = [];
  // One read per module and rule: partials of one rule share all key columns but the bucket.
  const groups = new Map<string, RollupRow[]>();
  for (const p of byKey.values()) {
    const g = `${p.module_id}\u0000${p.rule_id}\u0000${p.width_ms}`;
    groups.set(g, [...(groups.get(g) ?? []), p]);
  }
  for (const group of groups.values()) {
    const first = group[0]!;
    const stored = await store.select('rollups', {
      where: [
        { column: 'module_id', op: '=', value: first.module_id },
        { column: 'rule_id', op: '=', value: first.rule_id },
        { column: 'width_ms', op: '=', value: first.width_ms },
        { column: 'bucket_ms', op: 'in', value: group.map((p) => p.bucket_ms) },
      ],
    });
    const storedByKey = new Map(stored.map((r) => [rollupKeyOf(r), r]));
    for (const p of group) {
      const key = rollupKeyOf(p);
      out.push(mergeRollupRows(own.get(key) ?? storedByKey.get(key), p));
    }
  }
  return out;
}
