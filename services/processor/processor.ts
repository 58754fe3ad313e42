import { Topics, topicSpecs } from '../../infra/kafka/topics.js';
import type { AlertEvent } from '../../schemas/alert.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import type { EngineOptions } from '../core/performance/index.js';
import {
  type CommandVerdict,
  isCommandRecord,
  type RecordVerdict,
  validateCommandRecord,
  validateMetricRecord,
} from '../core/validation/index.js';
import type { BatchReceipt, Bus, Consumption, IncomingRecord, RecordBatch } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { RegistryView } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { type Backoff, sinkBackoff } from '../runtime/backoff.js';
import { UnavailableError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { applyAcknowledgement, storedAlertVersions } from './acknowledgements.js';
import { InsertCoalescer } from './insert-coalescer.js';
import type { ProcessorMetrics } from './metrics.js';
import { emptyOutputs, isEmpty, type Outputs, type WriteTargets } from './outputs.js';
import { PartitionState } from './partition.js';
import { countedCopies, loadModuleState } from './restore.js';
import { PartitionWriter } from './writer.js';

export interface ProcessorOptions {
  bus: Bus;
  store: Store;
  registry: RegistryView;
  clock: Clock;
  logger: Logger;
  metrics: ProcessorMetrics;
  /** Engine pacing (coalescing of value-only updates, tick): the engine's defaults when absent. */
  engine?: Omit<EngineOptions, 'clock'>;
  /** Consumer group (default `processor`). */
  group?: string;
  /** How often each partition is evaluated for what time alone changes (default 500 ms). */
  tickMs?: number;
  /** Longest a store or bus call may take inside a batch before the batch is retried (default 4 s). */
  stepTimeoutMs?: number;
  backoff?: Backoff;
  /**
   * Partitions whose batches are processed at once (default: every partition of `metrics.raw`); each
   * partition stays in order. The bus fetches again only once every batch of a fetch is done, so a
   * lower figure makes a fetch take several rounds of writes, and events wait that long to be fetched.
   */
  concurrency?: number;
  /** The key command records must be signed with (runtime/command-key.ts); others go to the DLQ. */
  commandKey: Buffer;
}

type Item =
  | { record: IncomingRecord; verdict: RecordVerdict }
  | { record: IncomingRecord; command: CommandVerdict };

const defaultConcurrency = topicSpecs.find((t) => t.name === Topics.metricsRaw)?.partitions ?? 6;

/** Modules restored per store round trip when a partition is assigned (each round trip is bounded). */
const restoreChunk = 50;

/** Sets of outputs of one partition that may wait to be written before batches wait and ticks skip. */
const maxBacklog = 32;

/**
 * The processor: consumes `metrics.raw` in a consumer group, validates each record, feeds the
 * partition's engine, and makes the outputs durable (store and bus) before the batch's offsets are
 * committed. See restore.ts for how a partition's state is rebuilt, outputs.ts for the write order.
 *
 * Commands: a record with the `glasshouse-command` header (schemas/alert.ts) is not a metric event;
 * it is routed before validation, and executed only when signed with the roles' command key (an
 * agency producing straight to `metrics.raw` cannot forge one: it goes to the DLQ as
 * `command_unauthenticated`). `alert.ack` makes the acknowledged version of an alert here, in
 * record order with the events of its module, so the processor is the only writer of alert versions
 * (acknowledgements.ts); the version is stored and published like every output of the batch.
 *
 * Ownership: on assignment, every active module whose id hashes to an assigned partition is
 * restored from the store at once (not only on its next event), so one that stays silent after a
 * restart still gets its data_gap.
 *
 * Pipelining: a batch is processed as soon as it arrives, and its outputs are queued on the
 * partition's writer (writer.ts), which publishes and stores them in order in the background; the
 * batch answers the bus with a receipt, so its offsets are committed only once its outputs (and all
 * earlier ones) are written. The bus fetches on meanwhile, so a status change is published one bus
 * round trip after its event is processed, not after the store's round trips of the batches before.
 *
 * Failures: a record that fails validation goes to `metrics.dlq` and `dead_letters` and is committed
 * like any other. A store or bus failure while writing outputs keeps them queued: the writer retries
 * with capped, jittered backoff outside any batch (the consumer keeps heartbeating), the partition is
 * paused meanwhile, and batches fetched before the pause are failed, so the bus delivers them again
 * after the resume. Nothing is skipped, and nothing is committed before it is written.
 */
export class Processor implements Component {
  readonly name = 'processor';
  private readonly log: Logger;
  private readonly partitions = new Map<number, PartitionState>();
  private consumption: Consumption | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private readonly tickMs: number;
  private readonly stepTimeoutMs: number;
  private readonly backoff: Backoff;
  /** Where the writers write; the partitions' inserts into one table at about the same time go as one. */
  private readonly targets: WriteTargets;

  constructor(private readonly o: ProcessorOptions) {
    this.log = o.logger.child({ component: 'processor' });
    this.tickMs = o.tickMs ?? 500;
    this.stepTimeoutMs = o.stepTimeoutMs ?? 4_000;
    this.backoff = o.backoff ?? sinkBackoff;
    this.targets = {
      bus: o.bus,
      store: o.store,
      inserts: new InsertCoalescer(o.store),
    };
  }

  async start(): Promise<void> {
    this.unsubscribe = this.o.registry.onChange((id) => {
      if (id !== undefined) this.moduleChanged(id);
    });
    this.consumption = await this.o.bus.consume({
      topic: Topics.metricsRaw,
      group: this.o.group ?? 'processor',
      fromBeginning: true,
      concurrency: this.o.concurrency ?? defaultConcurrency,
      onBatch: (batch) => this.onBatch(batch),
      onAssign: async (partitions) => {
        for (const p of partitions)
          this.partitions.set(
            p,
            new PartitionState(p, { clock: this.o.clock, ...this.o.engine }, this.writer(p)),
          );
        this.o.metrics.assignments.inc({ change: 'assigned' }, partitions.length);
        this.log.info({ partitions }, 'partitions assigned');
        await this.claimOwned(partitions);
      },
      onRevoke: async (partitions) => {
        await Promise.all(partitions.map((p) => this.drop(p)));
        this.o.metrics.assignments.inc({ change: 'revoked' }, partitions.length);
        this.log.info({ partitions }, 'partitions revoked');
      },
    });
    this.timer = setInterval(() => this.tickAll(), this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    // A writer that is retrying will not catch up while the bus drains: give its outputs up now.
    await Promise.all(
      [...this.partitions.values()].filter((s) => s.writer.retrying).map((s) => s.writer.close()),
    );
    await this.consumption?.stop();
  }

  health(): Health {
    if (this.stopped) return { state: 'error', detail: 'stopped' };
    if (!this.consumption) return { state: 'error', detail: 'not consuming yet' };
    if (!this.consumption.healthy()) return { state: 'error', detail: 'consumer not progressing' };
    const paused = [...this.partitions.values()].filter((s) => s.writer.retrying).map((s) => s.partition);
    if (paused.length > 0)
      return { state: 'degraded', detail: `partitions ${paused.join(',')} paused: outputs not yet written` };
    return { state: 'ok' };
  }

  /** Partitions this member holds (for tests and the log). */
  assigned(): number[] {
    return [...this.partitions.keys()].sort((a, b) => a - b);
  }

  private async onBatch(batch: RecordBatch): Promise<BatchReceipt> {
    const state = this.partitions.get(batch.partition);
    if (!state)
      throw new UnavailableError(
        'partition_not_assigned',
        `partition ${batch.partition} is not assigned here`,
      );
    const began = performance.now();
    const receipt = await state.run(async (): Promise<BatchReceipt> => {
      if (state.dropped)
        throw new UnavailableError('partition_revoked', `partition ${batch.partition} was revoked`);
      if (state.writer.retrying)
        throw new UnavailableError('outputs_pending', 'earlier outputs are still being retried');
      // Backpressure: the store cannot keep up, so this batch waits for the oldest writes.
      if (state.writer.backlog >= maxBacklog) await this.timed(state.writer.below(maxBacklog), 'write');
      const outputs = await this.process(state, batch);
      // Even a batch with nothing to write is durable only once everything queued before it is.
      const durable = isEmpty(outputs) ? state.writer.idle() : state.writer.write(outputs);
      // Once written, the store answers for the batch's events: the engine may forget the old ones.
      durable.then(
        () => state.engine.markDurable(outputs.atMs),
        () => {},
      );
      return { durable };
    });
    const last = batch.records[batch.records.length - 1];
    if (last) {
      const lag = Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n);
      this.o.metrics.lag.set({ partition: String(batch.partition) }, Math.max(0, lag));
    }
    // From the batch's arrival to its outputs acknowledged (a batch given up at a revoke is not timed).
    receipt.durable.then(
      () => this.o.metrics.batchSeconds.observe((performance.now() - began) / 1000),
      () => {},
    );
    return receipt;
  }

  /** Validates, restores modules seen for the first time, feeds the engine, applies commands, evaluates. */
  private async process(state: PartitionState, batch: RecordBatch): Promise<Outputs> {
    const now = this.o.clock.now();
    // Commands are routed by header before validation: they are not metric events.
    const items: Item[] = batch.records.map((record) =>
      isCommandRecord(record.headers)
        ? {
            record,
            command: validateCommandRecord(record.value, record.headers, record.key, this.o.commandKey),
          }
        : { record, verdict: validateMetricRecord(record.value, record.headers, this.o.registry, now) },
    );
    await this.restorePending(state);
    const fresh = new Map<string, ModuleVersion>();
    for (const item of items) {
      const module =
        'verdict' in item
          ? item.verdict.ok
            ? item.verdict.module
            : undefined
          : item.command.ok
            ? this.o.registry.module(item.command.moduleId)
            : undefined;
      if (module && !state.modules.has(module.id)) fresh.set(module.id, module);
    }
    if (fresh.size > 0) await this.restore(state, [...fresh.values()], now);
    // Every read the batch needs happens here, before the engine takes its first event: the engine
    // remembers an event as seen at once, so a failure after that would lose the outputs of the
    // events before it (their redelivery counts as duplicates).
    const ackIds = items.flatMap((item) =>
      'command' in item && item.command.ok ? [item.command.command.alertId] : [],
    );
    // An acknowledgement builds on the newest stored version: let the earlier outputs land first.
    if (ackIds.length > 0) await this.timed(state.writer.idle(), 'write');
    const stored = await this.timed(storedAlertVersions(this.o.store, ackIds), 'acknowledge');
    const counted = await this.timed(this.countedBefore(state, items), 'dedup');

    const at = state.nextTime(now);
    const outputs = emptyOutputs(at);
    try {
      this.apply(state, items, stored, counted, outputs, at);
    } catch (err) {
      // Not expected (nothing in apply does I/O), but the engine may have taken events already:
      // their outputs are kept, written before the redelivered batch, which the engine dedups.
      if (!isEmpty(outputs)) void state.writer.write(outputs);
      throw err;
    }
    return outputs;
  }

  /**
   * The batch's events that the engine's dedup memory cannot answer for (observed before the horizon,
   * not remembered) and of which the store holds a counted copy: `module agency eventId` keys. Such
   * events are rare (late ones, resends of old ones), so most batches read nothing here.
   */
  private async countedBefore(state: PartitionState, items: Item[]): Promise<Set<string>> {
    const lookups: Array<{ moduleId: string; agencyId: string; eventId: string }> = [];
    for (const item of items) {
      if (!('verdict' in item) || !item.verdict.ok) continue;
      const { event, agencyId } = item.verdict;
      if (state.engine.needsStoreCheck(event.moduleId, agencyId, event.eventId, event.observedAt))
        lookups.push({ moduleId: event.moduleId, agencyId, eventId: event.eventId });
    }
    if (lookups.length === 0) return new Set();
    this.o.metrics.dedupLookups.inc(lookups.length);
    return countedCopies(this.o.store, lookups, state.dedup);
  }

  /** Feeds the batch's items to the engine in record order and evaluates. Synchronous: no I/O. */
  private apply(
    state: PartitionState,
    items: Item[],
    stored: ReadonlyMap<string, AlertEvent[]>,
    counted: ReadonlySet<string>,
    outputs: Outputs,
    at: number,
  ): void {
    const { engine } = state;
    // Alert versions made by this batch's commands, by id, so a second command builds on the first.
    const produced = new Map<string, AlertEvent>();
    for (const item of items) {
      const { record } = item;
      if ('command' in item) {
        this.command(state, outputs, record, item.command, stored, produced);
        continue;
      }
      const { verdict } = item;
      if (!verdict.ok) {
        outputs.deadLetters.push({ record, reason: verdict.reason, errors: verdict.errors });
        continue;
      }
      const { event, module, agencyId } = verdict;
      if ((state.modules.get(module.id) ?? 0) < module.version) {
        engine.setModule(module);
        state.modules.set(module.id, module.version);
      }
      const result = engine.ingest(
        { ...event, agencyId, receivedAt: at },
        counted.has(`${event.moduleId} ${agencyId} ${event.eventId}`),
      );
      this.o.metrics.records.inc({ outcome: result });
      if (result === 'duplicate') continue;
      if (result === 'unknown_module') {
        outputs.deadLetters.push({
          record,
          reason: 'unknown_module',
          errors: [{ path: 'moduleId', message: 'module not loaded' }],
        });
        continue;
      }
      outputs.events.push({
        module_id: event.moduleId,
        agency_id: agencyId,
        event_id: event.eventId,
        metric: event.metric,
        value: event.value,
        observed_ms: event.observedAt,
        received_ms: at,
        dimensions: event.dimensions ?? {},
        late: result === 'late',
        module_version: module.version,
      });
    }
    for (const letter of outputs.deadLetters) {
      this.o.metrics.records.inc({ outcome: 'dlq' });
      this.o.metrics.deadLetters.inc({ reason: letter.reason });
    }
    this.addEvaluation(outputs, state, at);
  }

  /** Applies one command record; a refused one goes to the DLQ like a bad event. */
  private command(
    state: PartitionState,
    outputs: Outputs,
    record: IncomingRecord,
    verdict: CommandVerdict,
    stored: ReadonlyMap<string, AlertEvent[]>,
    produced: Map<string, AlertEvent>,
  ): void {
    const refuse = (reason: string, errors: Array<{ path: string; message: string }>) => {
      this.o.metrics.commands.inc({ outcome: 'dlq' });
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
      this.o.metrics.commands.inc({ outcome: 'unchanged' });
      return;
    }
    this.o.metrics.commands.inc({ outcome: 'applied' });
    produced.set(outcome.alert.alertId, outcome.alert);
    outputs.alerts.push(outcome.alert);
  }

  private addEvaluation(outputs: Outputs, state: PartitionState, at: number): void {
    const evaluation = state.engine.evaluate(at);
    outputs.updates.push(...evaluation.updates);
    outputs.alerts.push(...evaluation.alerts);
    outputs.rollups.push(...evaluation.rollups);
    outputs.merges.push(...evaluation.rollupMerges);
  }

  /**
   * Marks every active module whose id hashes to one of these partitions as owned there, and restores
   * them. What fails here is retried by the partition's next batch or tick (restorePending).
   */
  private async claimOwned(partitions: number[]): Promise<void> {
    const wanted = new Set(partitions);
    const owned = new Map<number, string[]>();
    try {
      for (const module of this.o.registry.modules()) {
        if (module.status !== 'active') continue;
        const p = await this.o.bus.partitionFor(Topics.metricsRaw, module.id);
        if (wanted.has(p)) owned.set(p, [...(owned.get(p) ?? []), module.id]);
      }
    } catch (err) {
      // Modules are then restored on their first event, as before this partition's owner was known.
      this.log.warn(
        { err, partitions },
        'could not map modules to partitions; restoring them on their first event',
      );
      return;
    }
    await Promise.all(
      partitions.map(async (p) => {
        const state = this.partitions.get(p);
        if (!state) return;
        state.unrestored = owned.get(p) ?? [];
        const began = Date.now();
        const modules = state.unrestored.length;
        await state
          .run(async () => {
            await this.restorePending(state);
            // Its time grows with the modules owned and what restore.ts reads for them (see the README).
            this.log.info({ partition: p, modules, ms: Date.now() - began }, 'partition restored');
          })
          .catch((err: unknown) =>
            this.log.warn(
              { err, partition: p },
              'restore on assignment failed; the next batch or tick retries',
            ),
          );
      }),
    );
  }

  /** Restores the owned modules not restored yet, a chunk at a time (progress is kept on failure). */
  private async restorePending(state: PartitionState): Promise<void> {
    while (state.unrestored.length > 0 && !state.dropped) {
      const ids = state.unrestored.slice(0, restoreChunk);
      const modules = ids
        .filter((id) => !state.modules.has(id))
        .map((id) => this.o.registry.module(id))
        .filter((m): m is ModuleVersion => m !== undefined);
      if (modules.length > 0) await this.restore(state, modules, this.o.clock.now());
      state.unrestored = state.unrestored.slice(ids.length);
    }
  }

  /** Puts modules into the engine with their stored state (restore.ts). Throws before changing anything. */
  private async restore(state: PartitionState, modules: ModuleVersion[], now: number): Promise<void> {
    const began = Date.now();
    const input = await this.timed(loadModuleState(this.o.store, modules, now), 'restore');
    for (const module of modules) {
      state.engine.setModule(module);
      state.modules.set(module.id, module.version);
    }
    state.engine.restore(input);
    for (const row of input.rollups) state.notBefore(row.updated_ms);
    for (const seen of input.recentEventIds) state.notBefore(seen.receivedMs);
    for (const ms of input.covered.values()) state.notBefore(ms);
    for (const r of input.lastReceipts) state.notBefore(r.receivedMs);
    // Every batch from now on is stamped after this: a stored copy received later is this owner's.
    state.notBefore(now);
    const ownSince = state.lastStamp;
    for (const module of modules)
      state.dedup.set(module.id, { ownSince, covered: input.covered.get(module.id) ?? 0 });
    this.log.info(
      {
        partition: state.partition,
        modules: modules.map((m) => m.id),
        rollups: input.rollups.length,
        openAlerts: input.openAlerts.length,
        rememberedEvents: input.recentEventIds.length,
        ms: Date.now() - began,
      },
      'module state restored',
    );
  }

  /** The writer of one partition's outputs; a failing one pauses the partition until it caught up. */
  private writer(partition: number): PartitionWriter {
    const { metrics } = this.o;
    return new PartitionWriter({
      partition,
      targets: this.targets,
      timed: (work) => this.timed(work, 'write'),
      backoff: this.backoff,
      logger: this.log,
      onRetrying: (err) => {
        this.consumption?.pause([partition]);
        metrics.pausedPartitions.inc();
        this.log.warn({ err, partition }, 'outputs not written; partition paused, retrying');
      },
      onRecovered: () => {
        metrics.pausedPartitions.dec();
        this.log.info({ partition }, 'pending outputs written; resuming partition');
        if (!this.stopped && this.partitions.has(partition)) this.consumption?.resume([partition]);
      },
      onStepFailed: (err) => metrics.sinkFailures.inc({ step: err.step }),
      onWritten: (o) => {
        metrics.outputs.inc({ kind: 'metric_events' }, o.events.length);
        metrics.outputs.inc({ kind: 'rollups' }, o.rollups.length + o.merges.length);
        metrics.outputs.inc({ kind: 'alerts' }, o.alerts.length);
        metrics.outputs.inc({ kind: 'performance_updates' }, o.updates.length);
      },
    });
  }

  /** Evaluates every partition for what time alone changes (windows sliding, silence). */
  private tickAll(): void {
    let remembered = 0;
    for (const state of this.partitions.values()) remembered += state.engine.stats().rememberedEvents;
    this.o.metrics.dedupMemory.set(remembered);
    for (const state of this.partitions.values()) {
      if (state.modules.size === 0 && state.unrestored.length === 0) continue;
      void state
        .run(async () => {
          // While the writer cannot keep up, ticks would only pile up outputs: the first tick after
          // it caught up evaluates at its own time (windows slide, silence counts from the clock).
          if (state.dropped || state.writer.retrying || state.writer.backlog >= maxBacklog) return;
          await this.restorePending(state);
          const outputs = emptyOutputs(state.nextTime(this.o.clock.now()));
          this.addEvaluation(outputs, state, outputs.atMs);
          // Committed with the partition's next batch, which is durable only after these are written.
          if (!isEmpty(outputs)) void state.writer.write(outputs);
        })
        .catch((err: unknown) =>
          this.log.debug({ err, partition: state.partition }, 'tick failed; the next one retries'),
        );
    }
  }

  private moduleChanged(id: string): void {
    const module = this.o.registry.module(id);
    if (!module) return;
    if (module.status === 'active' && ![...this.partitions.values()].some((s) => s.modules.has(id)))
      void this.claimNew(id);
    for (const state of this.partitions.values()) {
      if (!state.modules.has(id)) continue;
      void state.run(() => {
        if ((state.modules.get(id) ?? 0) >= module.version) return;
        state.engine.setModule(module);
        state.modules.set(id, module.version);
      });
    }
  }

  /** A module new to this member: restored now if its partition is assigned here (watched before its first event). */
  private async claimNew(id: string): Promise<void> {
    try {
      const state = this.partitions.get(await this.o.bus.partitionFor(Topics.metricsRaw, id));
      if (!state || state.unrestored.includes(id)) return;
      state.unrestored.push(id);
      await state.run(() => this.restorePending(state));
    } catch (err) {
      this.log.debug({ err, moduleId: id }, 'new module not restored yet; the next batch or tick retries');
    }
  }

  private async drop(partition: number): Promise<void> {
    const state = this.partitions.get(partition);
    if (!state) return;
    state.dropped = true;
    this.partitions.delete(partition);
    await state.run(() => {});
    const { backlog } = state.writer;
    await state.writer.close();
    // Still retrying when closed: onRecovered never came, so the gauge is lowered here.
    if (state.writer.retrying) this.o.metrics.pausedPartitions.dec();
    this.o.metrics.lag.remove({ partition: String(partition) });
    if (backlog > 0)
      this.log.info({ partition, backlog }, 'revoked with unwritten outputs; the next owner replays them');
  }

  /** Bounds a store or bus call made inside a batch, so a hung dependency cannot stall the consumer. */
  private timed<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UnavailableError(`${what}_timeout`, `${what} took longer than ${this.stepTimeoutMs} ms`),
          ),
        this.stepTimeoutMs,
      );
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
