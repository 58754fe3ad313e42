import { z } from 'zod';
import { type IssueDetail, issueDetails, isWellFormedText, parseDuration } from '../../../schemas/common.js';
import { MetricEvent, maxDimensions } from '../../../schemas/metric-event.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { checkDimensions } from './dimensions.js';

/** How far in the future observedAt may be when the module sets no `maxFuture`. */
export const defaultMaxFutureMs = 60_000;

/** The module's bound on how far in the future (receiver's clock) an event may be observed. */
export function maxFutureMs(module: { maxFuture?: string | undefined }): number {
  return module.maxFuture === undefined
    ? defaultMaxFutureMs
    : (parseDuration(module.maxFuture) ?? defaultMaxFutureMs);
}

/** Why an event was refused; a stable code, used as the metrics label and the DLQ reason. */
export type RejectionReason =
  | 'invalid_event'
  | 'unknown_module'
  | 'module_retired'
  | 'agency_not_allowed'
  | 'unknown_metric'
  | 'observed_in_future'
  | 'reserved_dimension'
  | 'undeclared_dimension'
  | 'dimension_value_not_allowed'
  | 'unknown_supersedes'
  | 'correction_conflict';

/** An event that passed the schema and the registry rules; `observedAt` is epoch ms. */
export interface ValidEvent {
  eventId: string;
  moduleId: string;
  metric: string;
  value: number;
  observedAt: number;
  dimensions?: Record<string, string>;
  /** A correction: the eventId of the earlier event (same agency, module and metric) it replaces. */
  supersedes?: string;
  /** With `supersedes`: the earlier event is removed, and this one is not counted. */
  retract?: boolean;
  /** Why the correction was made (public). */
  note?: string;
}

export type EventVerdict =
  | { ok: true; event: ValidEvent; module: ModuleVersion }
  | { ok: false; reason: RejectionReason; eventId: string | undefined; errors: IssueDetail[] };

/** The part of the registry validation reads: the latest version of a module. */
export interface ModuleLookup {
  module(id: string): ModuleVersion | undefined;
}

export interface EventRules {
  /** The reporting agency (from its key, or the record header); never from the body. */
  agencyId: string;
  registry: ModuleLookup;
  /** Receiver's clock, epoch ms. */
  now: number;
}

/**
 * Validates one metric event against the schema (`schemas/metric-event.ts`) and the registry:
 * the module exists and is active, the agency may report for it, the metric is one a goal or
 * constraint of the module names, observedAt is at most 5 minutes ahead, no dimension uses a
 * name that JavaScript objects treat specially, and every dimension and value is one the module
 * declares (those declared `never` are dropped from the event returned). Pure; shared by ingest and
 * the processor.
 */
export function validateMetricEvent(raw: unknown, rules: EventRules): EventVerdict {
  const event = fastParse(raw) ?? slowParse(raw);
  if ('errors' in event)
    return { ok: false, reason: 'invalid_event', eventId: eventIdOf(raw), errors: event.errors };
  return checkRules(event, rules);
}

function reject(event: ValidEvent, reason: RejectionReason, path: string, message: string): EventVerdict {
  return { ok: false, reason, eventId: event.eventId, errors: [{ path, message }] };
}

function checkRules(event: ValidEvent, rules: EventRules): EventVerdict {
  if (event.dimensions) {
    for (const name of Object.keys(event.dimensions)) {
      if (reservedNames.has(name))
        return reject(event, 'reserved_dimension', `dimensions.${name}`, `"${name}" is reserved`);
    }
  }
  const module = rules.registry.module(event.moduleId);
  if (!module) return reject(event, 'unknown_module', 'moduleId', `unknown module "${event.moduleId}"`);
  if (module.status !== 'active')
    return reject(event, 'module_retired', 'moduleId', `module "${event.moduleId}" is retired`);
  if (!module.agencies.includes(rules.agencyId)) {
    return reject(
      event,
      'agency_not_allowed',
      'moduleId',
      `agency "${rules.agencyId}" may not report for module "${event.moduleId}"`,
    );
  }
  if (!metricsOf(module).has(event.metric)) {
    return reject(
      event,
      'unknown_metric',
      'metric',
      `module "${event.moduleId}" has no goal or constraint on metric "${event.metric}"`,
    );
  }
  if (event.observedAt > rules.now + maxFutureMs(module)) {
    return reject(
      event,
      'observed_in_future',
      'observedAt',
      `must be at most ${module.maxFuture ?? '60s'} in the future (the module's maxFuture)`,
    );
  }
  const dimensions = checkDimensions(event.dimensions, module);
  if (!dimensions.ok) return reject(event, dimensions.reason, dimensions.path, dimensions.message);
  if (dimensions.dimensions !== event.dimensions) {
    // Dimensions declared `never` are dropped here, before the event is published or stored.
    const { dimensions: _dropped, ...rest } = event;
    return {
      ok: true,
      event: dimensions.dimensions ? { ...rest, dimensions: dimensions.dimensions } : rest,
      module,
    };
  }
  return { ok: true, event, module };
}

// Dimension names that are legal by the pattern but dangerous as plain-object keys downstream.
const reservedNames = new Set(['__proto__', 'constructor', 'prototype']);

// A module version is immutable, so the set of metrics it names is computed once per version object.
const metricSets = new WeakMap<ModuleVersion, Set<string>>();
function metricsOf(module: ModuleVersion): Set<string> {
  let set = metricSets.get(module);
  if (!set) {
    set = new Set([...module.goals.map((g) => g.metric), ...module.constraints.map((c) => c.metric)]);
    metricSets.set(module, set);
  }
  return set;
}

const observedAtMessage =
  'must be an RFC 3339 time with an offset (2024-05-01T12:00:00Z) or whole epoch milliseconds';

function eventIdOf(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const id = (raw as Record<string, unknown>).eventId;
  return typeof id === 'string' && id.length <= 128 ? id : undefined;
}

/** The schema through zod: the authority, and the source of readable error messages. */
function slowParse(raw: unknown): ValidEvent | { errors: IssueDetail[] } {
  const parsed = MetricEvent.safeParse(raw);
  if (!parsed.success) {
    // A failed union says only "Invalid input"; say what observedAt may be.
    return {
      errors: issueDetails(parsed.error).map((d) =>
        d.path === 'observedAt' && d.message === 'Invalid input'
          ? { path: d.path, message: observedAtMessage }
          : d,
      ),
    };
  }
  if (Number.isNaN(parsed.data.observedAt))
    return { errors: [{ path: 'observedAt', message: 'must be a valid time' }] };
  const { retract, ...rest } = parsed.data;
  // `retract: false` is the same as no retract: the event carries it only when it removes.
  return retract ? { ...rest, retract } : rest;
}

// The same patterns the schema uses (see schemas/common.ts and schemas/metric-event.ts).
const eventIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const slugPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const dimensionNamePattern = /^[A-Za-z0-9._:-]{1,64}$/;
const timestampPattern = z.regexes.datetime({ offset: true });
const maxEpochMs = 7_258_118_400_000;
const eventKeys = new Set(['eventId', 'moduleId', 'metric', 'value', 'observedAt', 'dimensions']);
const correctionKeys = new Set(['supersedes', 'retract', 'note']);

/**
 * Hot path: plain checks for the well-formed case, roughly ten times cheaper than zod. It only ever
 * accepts what the schema accepts (a property test holds it to that); anything it is unsure of
 * returns undefined and goes through zod, which decides and explains.
 */
function fastParse(raw: unknown): ValidEvent | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  for (const key in o) {
    // Corrections are rare: the schema checks them (and explains what is wrong with one).
    if (correctionKeys.has(key)) return undefined;
    if (!eventKeys.has(key) || !Object.hasOwn(o, key)) return undefined;
  }
  if (Object.getPrototypeOf(o) !== Object.prototype) return undefined;
  const { eventId, moduleId, metric, value, observedAt, dimensions } = o;
  if (typeof eventId !== 'string' || !eventIdPattern.test(eventId)) return undefined;
  if (typeof moduleId !== 'string' || !slugPattern.test(moduleId)) return undefined;
  if (typeof metric !== 'string' || !slugPattern.test(metric)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  let at: number;
  if (typeof observedAt === 'number') {
    if (!Number.isInteger(observedAt) || observedAt < 0 || observedAt > maxEpochMs) return undefined;
    at = observedAt;
  } else if (typeof observedAt === 'string' && timestampPattern.test(observedAt)) {
    at = Date.parse(observedAt);
    // Out of range (or NaN): zod refuses it and says why, as for a number.
    if (!(at >= 0 && at <= maxEpochMs)) return undefined;
  } else {
    return undefined;
  }
  const event: ValidEvent = { eventId, moduleId, metric, value, observedAt: at };
  if (dimensions !== undefined) {
    if (typeof dimensions !== 'object' || dimensions === null || Array.isArray(dimensions)) return undefined;
    if (Object.getPrototypeOf(dimensions) !== Object.prototype) return undefined;
    const dims = dimensions as Record<string, unknown>;
    let count = 0;
    for (const name in dims) {
      const v = dims[name];
      if (!Object.hasOwn(dims, name) || !dimensionNamePattern.test(name)) return undefined;
      if (typeof v !== 'string' || v.length > 256 || !isWellFormedText(v)) return undefined;
      if (++count > maxDimensions) return undefined;
    }
    event.dimensions = dims as Record<string, string>;
  }
  return event;
}
