import type { AlertEventMs } from '../../../schemas/alert.js';
import { parseDuration } from '../../../schemas/common.js';
import type { PerformanceUpdateMs } from '../../../schemas/performance.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import type { Clock } from '../../ports/clock.js';
import { maxFutureMs } from '../validation/metric-event.js';
import { emptySummary, mergeSummary, summaryOf } from './aggregate.js';
import { AlertTracker } from './alerts.js';
import { SeenEventIds } from './dedup.js';
import {
  fitsRule,
  flushRule,
  holdClocks,
  type ModuleState,
  newRule,
  type RuleState,
  seenCapPerModule,
  seenSlotMs,
  singleSummary,
  subjectOf,
  trackerFor,
  trackersOf,
} from './module-state.js';
import { fromRollupRow, type RollupRow } from './rollup.js';
import { evaluateRule, evaluateSilence } from './rule-evaluation.js';
import { rulesOf, sameBuckets } from './rules.js';
import { TrendSeries } from './status.js';

/** One accepted metric event as the processor hands it over (already validated and authorised). */
export interface EngineEvent {
  eventId: string;
  agencyId: string;
  moduleId: string;
  metric: string;
  value: number;
  /** Event time, epoch ms. */
  observedAt: number;
  /** Wall-clock receipt time, epoch ms (drives dedup retention and data_gap). */
  receivedAt: number;
}

/** An event as counted (stored raw): what a correction replaces, and what a bucket recompute reads. */
export interface CountedEvent {
  agencyId: string;
  eventId: string;
  metric: string;
  value: number;
  observedAt: number;
  /** Counted as late (stored, never in the live window). */
  late: boolean;
}

/**
 * A correction: `event` (its own id, the new value and observedAt) replaces `replaces`, the newest
 * counted version of the chain it names (the processor resolves the chain); with `retract` it only
 * removes it.
 */
export interface Correction {
  event: EngineEvent;
  retract: boolean;
  replaces: CountedEvent;
}

/** The counted events of `metric` observed in [fromMs, toMs) that a correction needs (see `correctionReads`). */
export interface EventRange {
  moduleId: string;
  metric: string;
  fromMs: number;
  toMs: number;
}

/**
 * `late`: behind the module's watermark; store it raw with `late = true`; it never enters the live window.
 * `invalid`: a non-finite value or time (the processor validates first; this only keeps bad input out).
 */
export type IngestResult = 'accepted' | 'duplicate' | 'late' | 'unknown_module' | 'invalid';

/** What one evaluation produced; the processor stores and publishes all of it before committing offsets. */
export interface Evaluation {
  updates: PerformanceUpdateMs[];
  alerts: AlertEventMs[];
  /** Full `rollups` rows for changed buckets: insert as is (the newest row wins). */
  rollups: RollupRow[];
  /**
   * Partial rows for buckets older than the live windows (late or long-delayed events): after inserting
   * `rollups`, read the stored row with the same key, `mergeRollupRows(stored, partial)`, insert.
   */
  rollupMerges: RollupRow[];
}

/** What a restarted processor reads back from the store for its partitions (see `Engine.restore`). */
export interface RestoreInput {
  /** Rollup rows of each rule with bucket_ms in its live window range (or more; older ones are ignored). */
  rollups?: RollupRow[];
  /** The latest version of every alert whose state is not `resolved`. */
  openAlerts?: AlertEventMs[];
  /**
   * The stored events counted so far that were observed at or after their module's `seenSince` (only
   * those whose effect is in the stored rollups: see restore.ts), for the dedup memory.
   */
  recentEventIds?: Array<{
    moduleId: string;
    agencyId: string;
    eventId: string;
    observedMs: number;
    receivedMs: number;
  }>;
  /**
   * Per restored module, the observation time from which `recentEventIds` holds every counted event:
   * its dedup memory answers for events observed at or after it, the store (see `needsStoreCheck`)
   * for older ones.
   */
  seenSince?: ReadonlyMap<string, number>;
  /** The latest stored receipt per module (silence counts from it, not from the restart). */
  lastReceipts?: Array<{ moduleId: string; receivedMs: number }>;
  /**
   * Stored PerformanceUpdates, per rule: its newest (change detection) and, for a rule with an open
   * alert, enough of the tail to find where the trailing run of deviating or recovered updates starts
   * (hold clocks); with `trendPoints`, at least the first update with a status in each trend slot of
   * its stagnation horizon (the trend series). Any superset gives the same state.
   */
  updates?: PerformanceUpdateMs[];
  /**
   * Trend points read as bare columns (time and value of stored updates with a status), in addition
   * to those of `updates`: together at least the first of each trend slot of each rule's horizon.
   */
  trendPoints?: Array<{ moduleId: string; goalId: string; t: number; value: number }>;
}

export interface EngineOptions {
  clock: Clock;
  /** Value-only updates per rule are emitted at most once per this many ms (status changes at once). Default 1000. */
  coalesceMs?: number;
  /** Every module is re-evaluated at least this often, for what time alone changes. Default 1000. */
  tickMs?: number;
}

/**
 * The performance engine for the modules of one partition: windows, goal status, alerts.
 *
 * Usage: `setModule` for every module version in force, `restore` once after a restart, then
 * `ingest` each event and `evaluate(now)` after each batch and at least every second.
 *
 * Time: per module, watermark = max observedAt seen − allowedLateness; events behind it are `late`.
 * Rules are evaluated at asOf = max(max observedAt seen, now − allowedLateness): driven by events, the
 * window ends at the newest event (a deviation shows at once, not after the lateness delay); with no
 * new events it still slides with the wall clock, allowedLateness behind it.
 */
export class Engine {
  private readonly clock: Clock;
  private readonly coalesceMs: number;
  private readonly tickMs: number;
  private readonly modules = new Map<string, ModuleState>();
  /**
   * Versions waiting for their `effectiveAt` (epoch ms), per module: at most one each (an approved
   * change in its notice period). Put in force by `evaluate` once the module's asOf reaches it.
   */
  private readonly pending = new Map<string, { module: ModuleVersion; atMs: number }>();
  private lastTick = Number.NEGATIVE_INFINITY;
  /** Batches processed at or before this time are written (`markDurable`): their pairs may be forgotten. */
  private durableThrough = Number.NEGATIVE_INFINITY;

  constructor(options: EngineOptions) {
    this.clock = options.clock;
    this.coalesceMs = options.coalesceMs ?? 1000;
    this.tickMs = options.tickMs ?? 1000;
  }

  /**
   * Puts a module version in force. Rules whose metric, window and aggregation kind are unchanged keep
   * their buckets, trend and alerts; open alerts carry the new version from their next version on; an
   * open alert of a removed rule is resolved with a message saying so (never silently dropped).
   */
  setModule(module: ModuleVersion): void {
    const previous = this.modules.get(module.id);
    const waiting = this.pending.get(module.id);
    if (waiting && waiting.module.version <= module.version) this.pending.delete(module.id);
    // A version with an effectiveAt after the module's current asOf waits for it: every period is
    // judged by the version in force then (an approved change takes effect after its notice period).
    const effectiveMs = module.effectiveAt ? Date.parse(module.effectiveAt) : undefined;
    if (previous && effectiveMs !== undefined && effectiveMs > this.asOfOf(previous, this.clock.now())) {
      this.pending.set(module.id, { module, atMs: effectiveMs });
      return;
    }
    this.putInForce(module, previous);
  }

  /**
   * Drops the version waiting for its effectiveAt (its change was rejected or withdrawn during the
   * notice period). True when one was waiting.
   */
  dropPending(moduleId: string): boolean {
    return this.pending.delete(moduleId);
  }

  /** The version number in force for a module (undefined when unknown), and the one waiting, if any. */
  versions(moduleId: string): { inForce: number | undefined; pending: number | undefined } {
    return {
      inForce: this.modules.get(moduleId)?.module.version,
      pending: this.pending.get(moduleId)?.module.version,
    };
  }

  /** Where the module's windows end at `now` (see the class comment). */
  private asOfOf(state: ModuleState, now: number): number {
    return Math.max(Math.min(state.maxObserved, now), now - state.latenessMs);
  }

  private putInForce(module: ModuleVersion, previous: ModuleState | undefined): void {
    const latenessMs = parseDuration(module.allowedLateness) ?? 30_000;
    const state: ModuleState = previous ?? {
      module,
      latenessMs,
      maxSilenceMs: undefined,
      rules: new Map(),
      byMetric: new Map(),
      maxObserved: Number.NEGATIVE_INFINITY,
      agencyMax: new Map(),
      aheadMs: maxFutureMs(module),
      lastReceived: this.clock.now(),
      lateEvents: 0,
      silence: new AlertTracker(),
      seen: new SeenEventIds(seenSlotMs(latenessMs)),
      seenSince: Number.NEGATIVE_INFINITY,
      dirty: true,
      pendingRows: [],
      pendingMerges: [],
      pendingAlerts: [],
    };
    state.module = module;
    state.latenessMs = latenessMs;
    state.aheadMs = maxFutureMs(module);
    state.maxSilenceMs = module.maxSilence ? parseDuration(module.maxSilence) : undefined;
    const rules = new Map<string, RuleState>();
    for (const spec of rulesOf(module)) {
      const old = state.rules.get(spec.id);
      if (old && old.spec.kind === spec.kind && sameBuckets(old.spec, spec)) {
        old.spec = spec;
        if (old.series.horizonMs !== spec.horizonMs) old.series = new TrendSeries(spec.horizonMs);
        rules.set(spec.id, old);
        continue;
      }
      const rule = newRule(spec, state.aheadMs);
      if (old) {
        flushRule(state, old, this.clock.now());
        rule.deviation = old.deviation;
        rule.stagnation = old.stagnation;
      }
      rules.set(spec.id, rule);
    }
    for (const [id, old] of state.rules) {
      if (rules.has(id)) continue;
      const now = this.clock.now();
      flushRule(state, old, now);
      const message = `rule ${id} was removed in module version ${module.version}`;
      for (const [tracker, kind] of trackersOf(old)) {
        state.pendingAlerts.push(...tracker.close(subjectOf(state, old.spec, kind), now, message));
      }
    }
    state.rules = rules;
    state.byMetric = new Map();
    for (const rule of rules.values()) {
      const list = state.byMetric.get(rule.spec.metric) ?? [];
      list.push(rule);
      state.byMetric.set(rule.spec.metric, list);
    }
    state.dirty = true;
    this.modules.set(module.id, state);
  }

  /**
   * True when the dedup memory cannot answer for this event: it was observed before the module's
   * dedup horizon and is not remembered. The caller then asks the store whether an earlier copy was
   * counted, and passes the answer to `ingest` (a processor with a store must; see processor.ts).
   */
  needsStoreCheck(moduleId: string, agencyId: string, eventId: string, observedAt: number): boolean {
    const state = this.modules.get(moduleId);
    return !!state && observedAt < state.seenSince && !state.seen.has(agencyId, eventId);
  }

  /** True when the dedup memory holds this event as counted (a copy of it is then a duplicate). */
  remembers(moduleId: string, agencyId: string, eventId: string): boolean {
    return this.modules.get(moduleId)?.seen.has(agencyId, eventId) ?? false;
  }

  /**
   * Batches processed (their `receivedAt`) at or before `atMs` are written: the store answers for
   * their events from now on, so the memory may forget those that fell behind the horizon.
   */
  markDurable(atMs: number): void {
    if (atMs > this.durableThrough) this.durableThrough = atMs;
  }

  /**
   * Takes one event into the windows of every rule on its metric. Never throws for a known module.
   * `countedBefore`: the store holds a counted copy of it (see `needsStoreCheck`).
   */
  ingest(event: EngineEvent, countedBefore = false): IngestResult {
    const state = this.modules.get(event.moduleId);
    if (!state) return 'unknown_module';
    return admit(state, event, countedBefore) ?? this.count(state, event);
  }

  /**
   * The counted events a correction of `replaces` needs, as ranges of observedAt: the buckets holding
   * it that cannot be subtracted exactly (it held their min, max or last, or the bucket is older than
   * the live rings, so only its stored row knows it). Empty when subtraction does it all. The caller
   * reads them from the store after everything counted before is written, and passes them to `correct`.
   */
  correctionReads(moduleId: string, replaces: CountedEvent): EventRange[] {
    const state = this.modules.get(moduleId);
    if (!state) return [];
    const out: EventRange[] = [];
    for (const rule of state.byMetric.get(replaces.metric) ?? []) {
      if (rule.ring.remove(replaces, replaces.late, true)) continue;
      const fromMs = rule.ring.bucketOf(replaces.observedAt);
      out.push({ moduleId, metric: replaces.metric, fromMs, toMs: fromMs + rule.spec.geometry.widthMs });
    }
    return out;
  }

  /**
   * Applies a correction: takes `replaces` out of every bucket of its metric's rules (subtracting, or
   * recomputing the bucket from `counted`, the events `correctionReads` asked for, `replaces` among
   * them or not), then counts the new version (unless a retraction) like any event: late when behind
   * its agency's watermark. The correction is an ordinary event for dedup: a second copy is a
   * `duplicate` and changes nothing. Rules it touched resolve open alerts their corrected numbers no
   * longer support (`reason: "restated"`) at the next evaluation.
   */
  correct(
    correction: Correction,
    counted: readonly CountedEvent[] = [],
    countedBefore = false,
  ): IngestResult {
    const { event, replaces } = correction;
    const state = this.modules.get(event.moduleId);
    if (!state) return 'unknown_module';
    const refused = admit(state, event, countedBefore);
    if (refused) return refused;
    for (const rule of state.byMetric.get(replaces.metric) ?? []) {
      rule.restated = true;
      if (rule.ring.remove(replaces, replaces.late)) continue;
      const fromMs = rule.ring.bucketOf(replaces.observedAt);
      const toMs = fromMs + rule.spec.geometry.widthMs;
      const rest = counted.filter(
        (e) =>
          e.metric === replaces.metric &&
          e.observedAt >= fromMs &&
          e.observedAt < toMs &&
          !(e.agencyId === replaces.agencyId && e.eventId === replaces.eventId),
      );
      const stored = summaryOf(rest, rule.spec.withSketch);
      if (rule.ring.holds(fromMs)) {
        const anyLate = rest.some((e) => e.late);
        const live = anyLate
          ? summaryOf(
              rest.filter((e) => !e.late),
              rule.spec.withSketch,
            )
          : undefined;
        rule.ring.replace(fromMs, stored, live);
      } else {
        rule.recomputed.set(fromMs, stored);
      }
    }
    if (correction.retract) {
      if (event.receivedAt > state.lastReceived) state.lastReceived = event.receivedAt;
      state.dirty = true;
      return 'accepted';
    }
    for (const rule of state.byMetric.get(event.metric) ?? []) rule.restated = true;
    return this.count(state, event);
  }

  /** Counts an event not seen before into the windows of every rule on its metric. */
  private count(state: ModuleState, event: EngineEvent): 'accepted' | 'late' {
    if (event.receivedAt > state.lastReceived) state.lastReceived = event.receivedAt;
    state.dirty = true;
    // The agency's own watermark; a new agency starts from the module's, never ahead of the clock.
    const own = state.agencyMax.get(event.agencyId) ?? Math.min(state.maxObserved, event.receivedAt);
    const late = event.observedAt < own - state.latenessMs;
    if (late) state.lateEvents += 1;
    else {
      state.agencyMax.set(event.agencyId, Math.max(own, event.observedAt));
      if (event.observedAt > state.maxObserved) state.maxObserved = event.observedAt;
    }
    for (const rule of state.byMetric.get(event.metric) ?? []) {
      if (rule.ring.add(event, late) === 'outside') {
        const bucketMs = rule.ring.bucketOf(event.observedAt);
        let partial = rule.outside.get(bucketMs);
        if (!partial) {
          partial = emptySummary(rule.spec.withSketch);
          rule.outside.set(bucketMs, partial);
        }
        mergeSummary(partial, singleSummary(event, rule.spec.withSketch));
      }
    }
    return late ? 'late' : 'accepted';
  }

  /**
   * Evaluates the modules that received events since the last call, and every module once per tick;
   * returns the updates, alert versions and rollup rows to store and publish.
   */
  evaluate(now: number): Evaluation {
    const out: Evaluation = { updates: [], alerts: [], rollups: [], rollupMerges: [] };
    const tick = now - this.lastTick >= this.tickMs;
    if (tick) this.lastTick = now;
    for (const state of this.modules.values()) {
      if (tick) this.forgetSeen(state, now);
      if (!state.dirty && !tick) continue;
      state.dirty = false;
      out.alerts.push(...state.pendingAlerts.splice(0));
      // The window never ends after the clock: an event observed ahead of it (within maxFuture) waits
      // in the ring for its time, and cannot end another agency's window early.
      const asOf = this.asOfOf(state, now);
      const waiting = this.pending.get(state.module.id);
      if (waiting && waiting.atMs <= asOf) {
        // The window now ends at or after effectiveAt: judged by the new version from here on.
        this.pending.delete(state.module.id);
        this.putInForce(waiting.module, state);
        out.alerts.push(...state.pendingAlerts.splice(0));
      }
      for (const rule of state.rules.values()) {
        evaluateRule(state, rule, asOf, now, this.coalesceMs, out);
        flushRule(state, rule, now);
      }
      evaluateSilence(state, now, out);
      out.rollups.push(...state.pendingRows.splice(0));
      out.rollupMerges.push(...state.pendingMerges.splice(0));
    }
    return out;
  }

  /**
   * Rebuilds windows, open alerts, dedup memory and trends after a restart. Call after `setModule`
   * for every module of the partition and before the first `ingest`. Rows of unknown modules or
   * rules, or built for other buckets than the rule's (width, metric, or a percentile rule's sketch:
   * a goal edited to watch another metric keeps its id, and the row key has no metric) are ignored;
   * an open alert of a rule that no longer exists is resolved at the next evaluation.
   */
  restore(input: RestoreInput): void {
    const rows = [...(input.rollups ?? [])].sort((a, b) => a.bucket_ms - b.bucket_ms);
    for (const row of rows) {
      const state = this.modules.get(row.module_id);
      const rule = state?.rules.get(row.rule_id);
      if (!state || !rule || !fitsRule(rule.spec, row)) continue;
      const { stored, live } = fromRollupRow(row, rule.spec.withSketch);
      rule.ring.restore(row.bucket_ms, stored, live);
      if (stored.count > 0 && stored.lastMs > state.maxObserved) state.maxObserved = stored.lastMs;
    }
    // The rings cover what was restored, up to the clock: a bucket older than them is merged into its
    // stored row (rollupMerges), never written anew from the events of this run alone.
    const clockNow = this.clock.now();
    for (const state of this.modules.values())
      for (const rule of state.rules.values()) rule.ring.advance(clockNow - state.latenessMs);
    // The memory answers for what the store read covers: events observed from seenSince on. Raising a
    // horizon is always safe: older events are then checked against the store.
    for (const [moduleId, ms] of input.seenSince ?? []) {
      const state = this.modules.get(moduleId);
      if (state) state.seenSince = Math.max(state.seenSince, ms);
    }
    for (const seen of input.recentEventIds ?? []) {
      // Restored pairs are durable already (read from the store): forgettable once behind the horizon.
      this.modules.get(seen.moduleId)?.seen.remember(seen.agencyId, seen.eventId, seen.observedMs, 0);
    }
    // Silence counts from the last stored receipt, not from this restart (a module that went quiet
    // before it still gets its data_gap, with the same id as before the restart).
    const receipts = [
      ...(input.lastReceipts ?? []),
      ...(input.recentEventIds ?? []).map((e) => ({ moduleId: e.moduleId, receivedMs: e.receivedMs })),
    ];
    const lastReceipt = new Map<string, number>();
    for (const r of receipts)
      lastReceipt.set(r.moduleId, Math.max(lastReceipt.get(r.moduleId) ?? 0, r.receivedMs));
    for (const [moduleId, receivedMs] of lastReceipt) {
      const state = this.modules.get(moduleId);
      if (state) state.lastReceived = receivedMs;
    }
    const updates = [...(input.updates ?? [])].sort((a, b) => a.asOfMs - b.asOfMs);
    for (const update of updates) {
      const rule = this.modules.get(update.moduleId)?.rules.get(update.goalId);
      if (rule) rule.lastUpdate = update;
    }
    // The same points as live: the first update with a status in each slot (see TrendSeries).
    const points = [
      ...(input.trendPoints ?? []),
      ...updates
        .filter((u) => u.status !== 'no_data' && u.value !== null)
        .map((u) => ({ moduleId: u.moduleId, goalId: u.goalId, t: u.asOfMs, value: u.value! })),
    ].sort((a, b) => a.t - b.t);
    for (const p of points) this.modules.get(p.moduleId)?.rules.get(p.goalId)?.series.record(p.t, p.value);
    for (const alert of input.openAlerts ?? []) {
      const state = this.modules.get(alert.moduleId);
      if (!state) continue;
      if (alert.kind === 'data_gap') {
        state.silence.restore(alert);
        continue;
      }
      const rule = state.rules.get(alert.ruleId);
      const tracker = rule ? trackerFor(rule, alert.kind) : undefined;
      if (rule && tracker) {
        const history = updates.filter((u) => u.moduleId === alert.moduleId && u.goalId === alert.ruleId);
        tracker.restore(alert, holdClocks(rule.spec, alert.kind, history));
      } else {
        const orphan = new AlertTracker();
        orphan.restore(alert);
        const subject = { ...subjectOf(state, undefined, alert.kind), ruleId: alert.ruleId };
        const message = `rule ${alert.ruleId} is not in module version ${state.module.version}`;
        state.pendingAlerts.push(...orphan.close(subject, this.clock.now(), message));
      }
      state.dirty = true;
    }
  }

  /**
   * Acknowledges an open alert: returns its next version (same state, with acknowledgedBy,
   * acknowledgedMs and note), or undefined when no open alert has this id here (for a resolved one,
   * use `acknowledgeAlert` on its latest stored version).
   */
  acknowledge(alertId: string, by: string, note: string, atMs: number): AlertEventMs | undefined {
    for (const state of this.modules.values()) {
      for (const tracker of [
        state.silence,
        ...[...state.rules.values()].flatMap((rule) => trackersOf(rule).map(([t]) => t)),
      ]) {
        if (tracker.current?.alertId === alertId) return tracker.acknowledge(by, note, atMs);
      }
    }
    return undefined;
  }

  /** The latest version of an open (pending or firing) alert held here, or undefined. */
  openAlert(alertId: string): AlertEventMs | undefined {
    for (const state of this.modules.values()) {
      if (state.silence.current?.alertId === alertId) return state.silence.current;
      for (const rule of state.rules.values()) {
        for (const [tracker] of trackersOf(rule))
          if (tracker.current?.alertId === alertId) return tracker.current;
      }
    }
    return undefined;
  }

  /** The open (pending or firing) alerts, latest version each. */
  openAlerts(): AlertEventMs[] {
    const out: AlertEventMs[] = [];
    for (const state of this.modules.values()) {
      if (state.silence.current) out.push(state.silence.current);
      for (const rule of state.rules.values()) {
        for (const [tracker] of trackersOf(rule)) if (tracker.current) out.push(tracker.current);
      }
    }
    return out;
  }

  /** Counters for metrics and tests: late events per module and dedup memory. */
  stats(): { lateEvents: Record<string, number>; rememberedEvents: number } {
    const lateEvents: Record<string, number> = {};
    let rememberedEvents = 0;
    for (const [id, state] of this.modules) {
      lateEvents[id] = state.lateEvents;
      rememberedEvents += state.seen.size;
    }
    return { lateEvents, rememberedEvents };
  }

  /**
   * Moves the module's dedup horizon to its watermark (newest observedAt, never ahead of the clock,
   * minus allowedLateness), and forgets what fell behind it once written. Following event time, not
   * the clock, keeps a processor that catches up a backlog answering from memory. A module whose
   * event time stands still while it keeps reporting (the same old observedAt again and again) would
   * keep every pair: past `seenCapPerModule` pairs its horizon follows the clock instead, and the
   * store answers for the rest.
   */
  private forgetSeen(state: ModuleState, now: number): void {
    let horizon = Math.min(state.maxObserved, now) - state.latenessMs;
    if (state.seen.size > seenCapPerModule) horizon = Math.max(horizon, now - state.latenessMs);
    if (horizon > state.seenSince) state.seenSince = horizon;
    state.seen.forget(state.seenSince, this.durableThrough);
  }
}

/**
 * Why an event of a known module is not taken (`invalid` for a non-finite value or time, `duplicate`
 * for one counted before), or undefined once it is remembered as seen and is to be counted.
 */
function admit(state: ModuleState, event: EngineEvent, countedBefore: boolean): IngestResult | undefined {
  if (
    !Number.isFinite(event.value) ||
    !Number.isFinite(event.observedAt) ||
    !Number.isFinite(event.receivedAt)
  )
    return 'invalid';
  if (countedBefore) return 'duplicate';
  if (!state.seen.remember(event.agencyId, event.eventId, event.observedAt, event.receivedAt))
    return 'duplicate';
  return undefined;
}
