import { approvalCommand, approvalHeader } from '../../schemas/corrections.js';
import { type CountedEvent, type EventRange, heldCorrectionId } from '../core/performance/index.js';
import { commandSignatureValid, type ValidEvent } from '../core/validation/index.js';
import type { IncomingRecord } from '../ports/bus.js';
import { type Store, selectAll } from '../ports/store.js';
import type { Row } from '../ports/tables.js';

/**
 * The store reads a correction needs: the version it replaces (its chain resolved to the newest
 * counted version) and the counted events of the buckets the engine cannot subtract it from.
 *
 * Both run only once everything processed before the correction is written (processor.ts waits for
 * the partition's writer), so the store holds every counted event. A stored copy counts by the same
 * rule as the dedup lookup (restore.ts `countedCopies`): written by this owner, or covered by the
 * module's rollups at restore; a copy left by a batch that died before its rollups does not, so the
 * redelivery of that batch resolves its corrections exactly as the first run did.
 */

/** Per module: copies received after `ownSince`, or at or before `covered`, are counted. */
export type CountedRule = ReadonlyMap<string, { ownSince: number; covered: number }>;

type EventRow = Row<'metric_events'>;

function counts(rule: CountedRule, row: EventRow): boolean {
  const module = rule.get(row.module_id);
  return !!module && (row.received_ms > module.ownSince || row.received_ms <= module.covered);
}

/** Why a correction cannot apply: the processor sends it to the DLQ with this reason. */
export interface CorrectionRefusal {
  reason: 'unknown_supersedes' | 'correction_conflict';
  path: string;
  message: string;
}

/** Longest chain followed: corrections of corrections are rare, a loop would be a damaged store. */
const maxChain = 1_000;

/**
 * The newest counted version of the chain that `supersedes` belongs to (an event of this agency and
 * module), or why there is none: unknown (or another agency's), retracted, or of another metric.
 */
export async function resolveChain(
  store: Store,
  rule: CountedRule,
  correction: { moduleId: string; agencyId: string; metric: string; supersedes: string },
): Promise<{ head: EventRow } | CorrectionRefusal> {
  const { moduleId, agencyId, supersedes } = correction;
  const find = async (column: 'event_id' | 'supersedes', id: string): Promise<EventRow | undefined> => {
    const rows = await selectAll(store, 'metric_events', {
      where: [
        { column: 'module_id', op: '=', value: moduleId },
        { column: 'agency_id', op: '=', value: agencyId },
        { column, op: '=', value: id },
      ],
      allRows: true,
    });
    return rows.filter((r) => counts(rule, r)).sort((a, b) => b.received_ms - a.received_ms)[0];
  };
  let head = await find('event_id', supersedes);
  if (!head) {
    return {
      reason: 'unknown_supersedes',
      path: 'supersedes',
      message: `agency "${agencyId}" has no event "${supersedes}" in module "${moduleId}"`,
    };
  }
  for (let i = 0; i < maxChain; i += 1) {
    const next = await find('supersedes', head.event_id);
    if (!next) break;
    head = next;
  }
  if (head.retract) {
    return {
      reason: 'correction_conflict',
      path: 'supersedes',
      message: `event "${supersedes}" was retracted (by "${head.event_id}"); report a new event instead`,
    };
  }
  if (head.metric !== correction.metric) {
    return {
      reason: 'correction_conflict',
      path: 'metric',
      message: `event "${supersedes}" reports metric "${head.metric}"; a correction restates the same metric`,
    };
  }
  return { head };
}

/** A stored version as the engine counts it. */
export function countedEventOf(row: EventRow): CountedEvent {
  return {
    agencyId: row.agency_id,
    eventId: row.event_id,
    metric: row.metric,
    value: row.value,
    observedAt: row.observed_ms,
    late: row.late,
  };
}

const lookupChunk = 1_000;

/**
 * The corrected set within the ranges: counted events of the metric observed there, without
 * retractions and without the versions a counted correction replaced.
 */
export async function countedInRanges(
  store: Store,
  rule: CountedRule,
  ranges: readonly EventRange[],
): Promise<CountedEvent[]> {
  const byKey = new Map<string, EventRow>();
  for (const range of ranges) {
    const rows = await selectAll(store, 'metric_events', {
      where: [
        { column: 'module_id', op: '=', value: range.moduleId },
        { column: 'metric', op: '=', value: range.metric },
        { column: 'observed_ms', op: '>=', value: range.fromMs },
        { column: 'observed_ms', op: '<', value: range.toMs },
      ],
      allRows: true,
    });
    for (const row of rows)
      if (counts(rule, row) && !row.retract)
        byKey.set(`${row.module_id} ${row.agency_id} ${row.event_id}`, row);
  }
  const rows = [...byKey.values()];
  const replaced = new Set<string>();
  for (let i = 0; i < rows.length; i += lookupChunk) {
    const chunk = rows.slice(i, i + lookupChunk);
    const corrections = await selectAll(store, 'metric_events', {
      where: [
        { column: 'module_id', op: 'in', value: [...new Set(chunk.map((r) => r.module_id))] },
        { column: 'supersedes', op: 'in', value: [...new Set(chunk.map((r) => r.event_id))] },
      ],
      allRows: true,
    });
    for (const c of corrections)
      if (counts(rule, c)) replaced.add(`${c.module_id} ${c.agency_id} ${c.supersedes}`);
  }
  return rows.filter((r) => !replaced.has(`${r.module_id} ${r.agency_id} ${r.event_id}`)).map(countedEventOf);
}

/**
 * True when the record carries an admin's approval (the api role re-published a held correction,
 * schemas/corrections.ts `approvalHeader`), signed under the key the roles share.
 */
export function approvalValid(commandKey: Buffer, moduleId: string, record: IncomingRecord): boolean {
  const signature = record.headers[approvalHeader];
  if (signature === undefined) return false;
  return commandSignatureValid(commandKey, approvalCommand, moduleId, record.value, signature);
}

/** The stored row of a correction held for approval at `at`, replacing the chain's newest `head`. */
export function heldRow(
  event: ValidEvent,
  agencyId: string,
  head: EventRow,
  at: number,
): Row<'held_corrections'> {
  return {
    id: heldCorrectionId(event.moduleId, agencyId, event.eventId),
    module_id: event.moduleId,
    agency_id: agencyId,
    event_id: event.eventId,
    metric: event.metric,
    supersedes: event.supersedes ?? '',
    replaces: head.event_id,
    target_observed_ms: Math.min(head.observed_ms, event.observedAt),
    held_ms: at,
    state: 'held',
    version: 1,
    decided_by: '',
    decided_ms: 0,
    rationale: '',
    event,
  };
}
