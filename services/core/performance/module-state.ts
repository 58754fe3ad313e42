import type { AlertEventMs, AlertKind } from '../../../schemas/alert.js';
import type { PerformanceUpdateMs } from '../../../schemas/performance.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { emptySummary, mergeSummary, type Summary } from './aggregate.js';
import { type AlertSubject, AlertTracker } from './alerts.js';
import type { SeenEventIds } from './dedup.js';
import type { EngineEvent } from './engine.js';
import { type RollupRow, rollupHasSketch, toRollupRow } from './rollup.js';
import type { RuleSpec } from './rules.js';
import { TrendSeries } from './status.js';
import { BucketRing, type DirtyBucket } from './window.js';

/**
 * The state the engine keeps per module and per rule, and the small pieces that build and read it:
 * rule state, alert subjects, rollup rows out of the rings, hold clocks from stored updates.
 */

/** The rule id of a module's data_gap alerts (silence is a module's, not a rule's). */
export const silenceRuleId = 'max-silence';
/** Hysteresis: a deviating goal recovers at shortfall ≤ 0.8 × tolerance, not as soon as it is within it. */
export const recoveryFraction = 0.8;

export interface RuleState {
  spec: RuleSpec;
  ring: BucketRing;
  series: TrendSeries;
  deviation: AlertTracker;
  stagnation: AlertTracker;
  lastUpdate: PerformanceUpdateMs | undefined;
  lastUpdateAt: number;
  /** Buckets the ring no longer holds, to merge into storage: bucketMs → partial summary. */
  outside: Map<number, Summary>;
  /**
   * Buckets the ring no longer holds that a correction recomputed from their counted events: written
   * whole (replacing the stored row), with any `outside` partial of the same bucket folded in.
   */
  recomputed: Map<number, Summary>;
  /** A correction changed this rule's numbers since its last evaluation (see `evaluateRule`). */
  restated: boolean;
}

export interface ModuleState {
  module: ModuleVersion;
  latenessMs: number;
  maxSilenceMs: number | undefined;
  rules: Map<string, RuleState>;
  byMetric: Map<string, RuleState[]>;
  /** Newest observedAt of any agency (restored from the rollups after a restart). */
  maxObserved: number;
  /**
   * Newest observedAt per reporting agency: each agency's events are late only behind its own
   * watermark, so one agency (or its fast clock) cannot push another's current events out.
   */
  agencyMax: Map<string, number>;
  /** The module's bound on observedAt ahead of the clock (maxFuture): the rings hold that much ahead. */
  aheadMs: number;
  lastReceived: number;
  lateEvents: number;
  silence: AlertTracker;
  dirty: boolean;
  /** The (agency, eventId) pairs the engine answers for from memory (dedup.ts). */
  seen: SeenEventIds;
  /**
   * The dedup horizon: pairs observed before it may have been forgotten, so such an event is checked
   * against the store first (`needsStoreCheck`). Only grows.
   */
  seenSince: number;
  /** Rows and alert versions produced outside evaluate (module edits), emitted with the next one. */
  pendingRows: RollupRow[];
  pendingMerges: RollupRow[];
  pendingAlerts: AlertEventMs[];
}

/** Moves a rule's changed buckets into the module's pending rows. */
export function flushRule(state: ModuleState, rule: RuleState, now: number): void {
  const taken = rule.ring.takeDirty();
  if (taken.length === 0 && rule.outside.size === 0 && rule.recomputed.size === 0) return;
  const key = {
    moduleId: state.module.id,
    ruleId: rule.spec.id,
    metric: rule.spec.metric,
    widthMs: rule.spec.geometry.widthMs,
    moduleVersion: state.module.version,
  };
  const dirty = new Map<number, DirtyBucket>();
  for (const bucket of taken) dirty.set(bucket.bucketMs, bucket);
  for (const [bucketMs, partial] of rule.outside) {
    const full = dirty.get(bucketMs);
    const whole = rule.recomputed.get(bucketMs);
    if (full) mergeSummary(full.stored, partial);
    else if (whole) mergeSummary(whole, partial);
    else state.pendingMerges.push(toRollupRow(key, bucketMs, partial, undefined, now));
  }
  rule.outside.clear();
  for (const [bucketMs, whole] of rule.recomputed)
    state.pendingRows.push(toRollupRow(key, bucketMs, whole, undefined, now));
  rule.recomputed.clear();
  for (const bucket of dirty.values())
    state.pendingRows.push(toRollupRow(key, bucket.bucketMs, bucket.stored, bucket.live, now));
}
/**
 * Where a restored alert's hold clocks stood: the asOf starting the trailing run of stored updates that
 * were deviating (or recovered). Status changes are always stored, so this is exact unless the value
 * crossed 0.8 × tolerance inside a coalesced second.
 */
export function holdClocks(
  spec: RuleSpec,
  kind: AlertKind,
  history: PerformanceUpdateMs[],
): { deviating?: number; recovered?: number } {
  const deviating = (u: PerformanceUpdateMs) =>
    kind === 'stagnation' ? u.stagnating : u.status === 'off_track';
  const recovered = (u: PerformanceUpdateMs) =>
    kind === 'stagnation'
      ? !u.stagnating && u.status !== 'no_data'
      : u.shortfall !== null && u.shortfall <= recoveryFraction * spec.tolerance;
  const runStart = (test: (u: PerformanceUpdateMs) => boolean): number | undefined => {
    let start: number | undefined;
    for (let i = history.length - 1; i >= 0 && test(history[i]!); i -= 1) start = history[i]!.asOfMs;
    return start;
  };
  const clocks: { deviating?: number; recovered?: number } = {};
  const d = runStart(deviating);
  const r = runStart(recovered);
  if (d !== undefined) clocks.deviating = d;
  if (r !== undefined) clocks.recovered = r;
  return clocks;
}

export function newRule(spec: RuleSpec, aheadMs: number): RuleState {
  return {
    spec,
    ring: new BucketRing(spec.geometry, spec.withSketch, Math.ceil(aheadMs / spec.geometry.widthMs)),
    series: new TrendSeries(spec.horizonMs),
    deviation: new AlertTracker(),
    stagnation: new AlertTracker(),
    lastUpdate: undefined,
    lastUpdateAt: Number.NEGATIVE_INFINITY,
    outside: new Map(),
    recomputed: new Map(),
    restated: false,
  };
}

export function trackersOf(rule: RuleState): Array<[AlertTracker, AlertKind]> {
  return rule.spec.kind === 'goal'
    ? [
        [rule.deviation, 'goal_deviation'],
        [rule.stagnation, 'stagnation'],
      ]
    : [[rule.deviation, 'constraint_violation']];
}

export function trackerFor(rule: RuleState, kind: AlertKind): AlertTracker | undefined {
  return trackersOf(rule).find(([, k]) => k === kind)?.[0];
}

export function subjectOf(state: ModuleState, spec: RuleSpec | undefined, kind: AlertKind): AlertSubject {
  return {
    moduleId: state.module.id,
    moduleVersion: state.module.version,
    owner: state.module.owner,
    ruleId: spec?.id ?? silenceRuleId,
    kind,
    holdMs: spec?.holdMs ?? 0,
  };
}

/** Pairs one module's dedup memory holds before its horizon follows the clock (see forgetSeen): ~150 MiB. */
export const seenCapPerModule = 1_000_000;

/** Slots of the dedup memory's time index: a sixteenth of the lateness bound, at least a second. */
export function seenSlotMs(latenessMs: number): number {
  return Math.max(1000, Math.floor(latenessMs / 16));
}

export function singleSummary(event: EngineEvent, withSketch: boolean): Summary {
  const summary = emptySummary(withSketch);
  summary.count = 1;
  summary.sum = event.value;
  summary.min = event.value;
  summary.max = event.value;
  summary.lastValue = event.value;
  summary.lastMs = event.observedAt;
  summary.lastEventId = event.eventId;
  summary.sketch?.add(event.value);
  return summary;
}

/** True when a stored row holds the buckets `spec` builds: same width and metric, a sketch if it needs one. */
export function fitsRule(spec: RuleSpec, row: RollupRow): boolean {
  return (
    spec.geometry.widthMs === row.width_ms &&
    spec.metric === row.metric &&
    (!spec.withSketch || rollupHasSketch(row))
  );
}
