import type { AlertEventMs } from '../../schemas/alert.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import {
  type CommandVerdict,
  isCommandRecord,
  type RecordVerdict,
  type ValidEvent,
  validateCommandRecord,
  validateMetricRecord,
} from '../core/validation/index.js';
import type { IncomingRecord } from '../ports/bus.js';
import type { RegistryView } from '../ports/registry.js';
import type { Row } from '../ports/tables.js';
import { applyAcknowledgement } from './acknowledgements.js';
import type { ProcessorMetrics } from './metrics.js';
import type { Outputs } from './outputs.js';
import type { PartitionState } from './partition.js';

/**
 * Batch application: what one batch of `metrics.raw` does to a partition's engine and which outputs
 * it makes. No I/O: everything the batch needs from the store is read before (processor.ts), so a
 * batch either applies whole or not at all.
 */

/** A record of the batch, routed: a metric event's verdict, or a command's. */
export type Item =
  | { record: IncomingRecord; verdict: RecordVerdict }
  | { record: IncomingRecord; command: CommandVerdict };

/** Routes each record by its header (commands are not metric events) and validates it. */
export function classify(
  records: readonly IncomingRecord[],
  registry: RegistryView,
  commandKey: Buffer,
  now: number,
): Item[] {
  return records.map((record) =>
    isCommandRecord(record.headers)
      ? { record, command: validateCommandRecord(record.value, record.headers, record.key, commandKey) }
      : { record, verdict: validateMetricRecord(record.value, record.headers, registry, now) },
  );
}

/** What the store said before the batch: the alert versions its commands build on, and old events already counted. */
export interface BatchReads {
  /** Alert id → its stored versions, for acknowledgements. */
  stored: ReadonlyMap<string, AlertEventMs[]>;
  /** `module agency eventId` keys of events the store holds a counted copy of (restore.ts `countedCopies`). */
  counted: ReadonlySet<string>;
}

/** Feeds the batch's items to the engine in record order, then evaluates; outputs go into `outputs`. */
export function applyBatch(
  state: PartitionState,
  items: readonly Item[],
  reads: BatchReads,
  outputs: Outputs,
  at: number,
  metrics: ProcessorMetrics,
): void {
  const { engine } = state;
  // Alert versions made by this batch's commands, by id, so a second command builds on the first.
  const produced = new Map<string, AlertEventMs>();
  for (const item of items) {
    const { record } = item;
    if ('command' in item) {
      applyCommand(state, outputs, record, item.command, reads.stored, produced, metrics);
      continue;
    }
    const { verdict } = item;
    if (!verdict.ok) {
      outputs.deadLetters.push({ record, reason: verdict.reason, errors: verdict.errors });
      continue;
    }
    const { event, module, agencyId } = verdict;
    useModule(state, module);
    const result = engine.ingest(
      { ...event, agencyId, receivedAt: at },
      reads.counted.has(`${event.moduleId} ${agencyId} ${event.eventId}`),
    );
    metrics.records.inc({ outcome: result });
    if (result === 'duplicate') continue;
    if (result === 'unknown_module') {
      outputs.deadLetters.push({
        record,
        reason: 'unknown_module',
        errors: [{ path: 'moduleId', message: 'module not loaded' }],
      });
      continue;
    }
    outputs.events.push(eventRow(event, agencyId, at, result === 'late', module.version));
  }
  for (const letter of outputs.deadLetters) {
    metrics.records.inc({ outcome: 'dlq' });
    metrics.deadLetters.inc({ reason: letter.reason });
  }
  addEvaluation(outputs, state, at);
}

/** True for a valid metric event that corrects an earlier one (`supersedes`). */
export function isCorrection(item: Item): boolean {
  return 'verdict' in item && item.verdict.ok && item.verdict.event.supersedes !== undefined;
}

/** Puts the module version of a valid event in force in the engine, if it is newer than the one there. */
export function useModule(state: PartitionState, module: ModuleVersion): void {
  if ((state.modules.get(module.id) ?? 0) < module.version) {
    state.engine.setModule(module);
    state.modules.set(module.id, module.version);
  }
}

/**
 * The stored row of a counted event, received at `at`; a correction names the version it replaced
 * (`supersedes`, the chain resolved) and whether it retracts it.
 */
export function eventRow(
  event: ValidEvent,
  agencyId: string,
  at: number,
  late: boolean,
  moduleVersion: number,
  correction: { supersedes: string; retract: boolean } = { supersedes: '', retract: false },
): Row<'metric_events'> {
  return {
    module_id: event.moduleId,
    agency_id: agencyId,
    event_id: event.eventId,
    metric: event.metric,
    value: event.value,
    observed_ms: event.observedAt,
    received_ms: at,
    dimensions: event.dimensions ?? {},
    late,
    module_version: moduleVersion,
    supersedes: correction.supersedes,
    retract: correction.retract,
    note: event.note ?? '',
  };
}

/** Evaluates the partition's engine at `at` and adds what it made to `outputs`. */
export function addEvaluation(outputs: Outputs, state: PartitionState, at: number): void {
  const evaluation = state.engine.evaluate(at);
  outputs.updates.push(...evaluation.updates);
  outputs.alerts.push(...evaluation.alerts);
  outputs.rollups.push(...evaluation.rollups);
  outputs.merges.push(...evaluation.rollupMerges);
}

/** Applies one command record; a refused one goes to the DLQ like a bad event. */
function applyCommand(
  state: PartitionState,
  outputs: Outputs,
  record: IncomingRecord,
  verdict: CommandVerdict,
  stored: ReadonlyMap<string, AlertEventMs[]>,
  produced: Map<string, AlertEventMs>,
  metrics: ProcessorMetrics,
): void {
  const refuse = (reason: string, errors: Array<{ path: string; message: string }>) => {
    metrics.commands.inc({ outcome: 'dlq' });
    outputs.deadLetters.push({ record, reason, errors });
  };
  if (!verdict.ok) {
    refuse(verdict.reason, verdict.errors);
    return;
  }
  if (!state.modules.has(verdict.moduleId)) {
    refuse('unknown_module', [{ path: 'key', message: `module ${verdict.moduleId} is not registered` }]);
    return;
  }
  const { alertId } = verdict.command;
  const outcome = applyAcknowledgement(
    state.engine,
    stored.get(alertId) ?? [],
    verdict.moduleId,
    verdict.command,
    produced,
  );
  if (outcome.kind === 'refused') {
    refuse(outcome.reason, outcome.errors);
    return;
  }
  if (outcome.kind === 'unchanged') {
    metrics.commands.inc({ outcome: 'unchanged' });
    return;
  }
  metrics.commands.inc({ outcome: 'applied' });
  produced.set(outcome.alert.alertId, outcome.alert);
  outputs.alerts.push(outcome.alert);
}
