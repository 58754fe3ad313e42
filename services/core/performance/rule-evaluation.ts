import { formatDuration } from '../../../schemas/common.js';
import type { PerformanceUpdateMs } from '../../../schemas/performance.js';
import { aggregateValue } from './aggregate.js';
import type { AlertReading } from './alerts.js';
import type { Evaluation } from './engine.js';
import { type ModuleState, type RuleState, recoveryFraction, subjectOf } from './module-state.js';
import type { RuleSpec } from './rules.js';
import { isStagnating, shortfallOf, statusOf, towardTarget } from './status.js';

/**
 * Rule evaluation: one rule's window value, status, trend and stagnation at `asOf`, the update to
 * publish (coalesced), and its alert readings; and the module's silence check. Pure: state in, outputs
 * into `out`.
 */

export function evaluateRule(
  state: ModuleState,
  rule: RuleState,
  asOf: number,
  now: number,
  coalesceMs: number,
  out: Evaluation,
): void {
  const { spec, ring } = rule;
  const { geometry } = spec;
  ring.advance(asOf);
  const window = ring.window(asOf);
  const value = aggregateValue(spec.aggregation, window, geometry.buckets * geometry.widthMs);
  const rawShortfall = value === null ? null : shortfallOf(spec.direction, spec.target, value);
  const status = statusOf(rawShortfall, spec.tolerance, window.count, spec.minSamples);
  const shortfall = status === 'no_data' ? null : rawShortfall;

  const fit = rule.series.fit(asOf, shortfall === null ? null : value);
  const slope = fit.slopePerHour;
  const trend =
    slope === null || value === null ? null : towardTarget(spec.direction, spec.target, value, slope);
  const stagnating =
    spec.kind === 'goal' &&
    isStagnating({
      status,
      value,
      target: spec.target,
      trend,
      horizonMs: spec.horizonMs,
      enoughHistory: fit.enoughHistory,
    });

  const shortWindow = ring.window(asOf, geometry.shortBuckets);
  const shortValue = aggregateValue(spec.aggregation, shortWindow, geometry.shortBuckets * geometry.widthMs);
  const shortStatus = statusOf(
    shortValue === null ? null : shortfallOf(spec.direction, spec.target, shortValue),
    spec.tolerance,
    shortWindow.count,
    1,
  );

  const update: PerformanceUpdateMs = {
    moduleId: state.module.id,
    moduleVersion: state.module.version,
    goalId: spec.id,
    ruleKind: spec.kind,
    metric: spec.metric,
    aggregation: spec.aggregation,
    window: spec.window,
    asOfMs: asOf,
    value,
    count: window.count,
    target: spec.target,
    shortfall,
    status,
    stagnating,
    trend,
  };
  // An update is also due whenever the trend series takes a point, so the published updates are the
  // series itself: anyone (and a restarted engine) recomputes the same trend from them.
  const pointDue = status !== 'no_data' && rule.series.due(asOf);
  if (shouldEmit(rule.lastUpdate, update, now - rule.lastUpdateAt, pointDue, coalesceMs)) {
    out.updates.push(update);
    rule.lastUpdate = update;
    rule.lastUpdateAt = now;
    if (status !== 'no_data' && value !== null) rule.series.record(asOf, value);
  }

  const deviates = status === 'off_track';
  if (rule.restated) {
    // A correction changed the numbers: an open alert whose cause the corrected data no longer shows
    // was never a real deviation, so it closes now (no hysteresis, no hold), saying so.
    rule.restated = false;
    const kind = spec.kind === 'goal' ? 'goal_deviation' : 'constraint_violation';
    if (rule.deviation.current && !deviates) {
      const message = `restated: after a correction, ${describe(spec, value, status)}`;
      out.alerts.push(...rule.deviation.close(subjectOf(state, spec, kind), asOf, message, 'restated'));
    }
    if (spec.kind === 'goal' && rule.stagnation.current && !stagnating) {
      const message = `restated: after a correction, ${describe(spec, value, status)}; not stagnating`;
      out.alerts.push(
        ...rule.stagnation.close(subjectOf(state, spec, 'stagnation'), asOf, message, 'restated'),
      );
    }
  }
  // A reading's message is only read when it makes an alert version, so it is written then.
  out.alerts.push(
    ...rule.deviation.step(
      subjectOf(state, spec, spec.kind === 'goal' ? 'goal_deviation' : 'constraint_violation'),
      {
        t: asOf,
        deviating: deviates,
        recovered: shortfall !== null && shortfall <= recoveryFraction * spec.tolerance,
        severity: deviates && shortStatus === 'off_track' ? 'critical' : 'warning',
        observed: value,
        target: spec.target,
        shortfall,
        get message() {
          return describe(spec, value, status);
        },
      },
    ),
  );
  if (spec.kind === 'goal') {
    const reading: AlertReading = {
      t: asOf,
      deviating: stagnating,
      recovered: !stagnating && status !== 'no_data',
      severity: 'warning',
      observed: value,
      target: spec.target,
      shortfall,
      get message() {
        return stagnating
          ? `${describe(spec, value, status)}; no meaningful progress toward the target over ${formatDuration(spec.horizonMs)} (trend ${round(trend)} per hour)`
          : describe(spec, value, status);
      },
    };
    out.alerts.push(...rule.stagnation.step(subjectOf(state, spec, 'stagnation'), reading));
  }
}

function shouldEmit(
  last: PerformanceUpdateMs | undefined,
  next: PerformanceUpdateMs,
  sinceMs: number,
  pointDue: boolean,
  coalesceMs: number,
): boolean {
  if (!last) return true;
  if (last.status !== next.status || last.stagnating !== next.stagnating) return true;
  const changed =
    pointDue ||
    last.value !== next.value ||
    last.count !== next.count ||
    last.shortfall !== next.shortfall ||
    last.trend !== next.trend ||
    last.target !== next.target ||
    last.moduleVersion !== next.moduleVersion;
  return changed && sinceMs >= coalesceMs;
}

export function evaluateSilence(state: ModuleState, now: number, out: Evaluation): void {
  const limit = state.maxSilenceMs;
  if (limit === undefined) {
    if (state.silence.current) {
      out.alerts.push(
        ...state.silence.close(subjectOf(state, undefined, 'data_gap'), now, 'maxSilence was removed'),
      );
    }
    return;
  }
  const silentMs = now - state.lastReceived;
  const silent = silentMs >= limit;
  // The episode starts when the silence crossed the limit, so a restarted engine derives the same id.
  const t = silent && !state.silence.current ? state.lastReceived + limit : now;
  out.alerts.push(
    ...state.silence.step(subjectOf(state, undefined, 'data_gap'), {
      t,
      deviating: silent,
      recovered: !silent,
      severity: 'warning',
      observed: null,
      target: null,
      shortfall: null,
      message: silent
        ? `no event received for ${formatDuration(Math.max(0, Math.round(silentMs)))} (max silence ${state.module.maxSilence})`
        : `events are arriving again (max silence ${state.module.maxSilence})`,
    }),
  );
}

function round(value: number | null): string {
  return value === null ? 'n/a' : String(Number(value.toPrecision(4)));
}

function describe(spec: RuleSpec, value: number | null, status: string): string {
  const what = `${spec.aggregation} of ${spec.metric} over ${spec.window} is ${round(value)}`;
  if (spec.kind === 'constraint') return `${what}; must be ${spec.op} ${spec.target} (${status})`;
  const goal =
    spec.direction === 'increase'
      ? `at least ${spec.target}`
      : spec.direction === 'decrease'
        ? `at most ${spec.target}`
        : `${spec.target}`;
  return `${what}; goal ${goal} with tolerance ${spec.tolerance} (${status})`;
}
