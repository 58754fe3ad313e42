import type { AlertEventMs } from '../../schemas/alert.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import { type EngineOptions, needsApproval } from '../core/performance/index.js';
import type { BatchReceipt, Bus, Consumption, RecordBatch } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { RegistryView } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { Topics, topicSpecs } from '../ports/topics.js';
import { type Backoff, sinkBackoff } from '../runtime/backoff.js';
import { UnavailableError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { storedAlertVersions } from './acknowledgements.js';
import {
  addEvaluation,
  applyBatch,
  classify,
  eventRow,
  type Item,
  isCorrection,
  useModule,
} from './apply.js';
import { approvalValid, countedEventOf, countedInRanges, heldRow, resolveChain } from './corrections.js';
import type { ProcessorMetrics } from './metrics.js';
import { emptyOutputs, isEmpty, type Outputs, type WriteTargets } from './outputs.js';
import { Ownership } from './ownership.js';
import { PartitionState } from './partition.js';
import { countedCopies } from './restore.js';
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

const defaultConcurrency = topicSpecs.find((t) => t.name === Topics.metricsRaw)?.partitions ?? 6;

/** Sets of outputs of one partition that may wait to be written before batches wait and ticks skip. */
const maxBacklog = 32;

/**
 * The processor: consumes `metrics.raw` in a consumer group, validates each record, feeds the
 * partition's engine, and makes the outputs durable (store and bus) before the batch's offsets are
 * committed. The parts: apply.ts applies a batch to the engine (no I/O), ownership.ts decides which
 * modules a partition's engine holds and restores them (restore.ts reads the store), writer.ts and
 * outputs.ts write the outputs in order.
 *
 * Commands: a record with the `glasshouse-command` header (schemas/alert.ts) is not a metric event;
 * it is routed before validation, and executed only when signed with the roles' command key (an
 * agency producing straight to `metrics.raw` cannot forge one: it goes to the DLQ as
 * `command_unauthenticated`). `alert.ack` makes the acknowledged version of an alert here, in
 * record order with the events of its module, so the processor is the only writer of alert versions
 * (acknowledgements.ts); the version is stored and published like every output of the batch.
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
  /** Where the writers write (each partition's writer is the one place its store writes are batched). */
  private readonly targets: WriteTargets;
  private readonly ownership: Ownership;

  constructor(private readonly o: ProcessorOptions) {
    this.log = o.logger.child({ component: 'processor' });
    this.tickMs = o.tickMs ?? 500;
    this.stepTimeoutMs = o.stepTimeoutMs ?? 4_000;
    this.backoff = o.backoff ?? sinkBackoff;
    this.targets = { bus: o.bus, store: o.store };
    this.ownership = new Ownership({
      ...o,
      logger: this.log,
      partitions: this.partitions,
      timed: (work, what) => this.timed(work, what),
    });
  }

  async start(): Promise<void> {
    this.unsubscribe = this.o.registry.onChange((id) => {
      if (id !== undefined) this.ownership.moduleChanged(id);
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
        await this.ownership.claimOwned(partitions);
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
    const items = classify(batch.records, this.o.registry, this.o.commandKey, now);
    await this.ownership.restorePending(state);
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
    if (fresh.size > 0) await this.ownership.restore(state, [...fresh.values()], now);
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

    const reads = { stored, counted };
    if (!items.some(isCorrection)) return this.applyPart(state, items, reads, now);
    // Corrections: each is applied once everything before it is written, since it reads the store
    // (its chain, and the buckets it cannot be subtracted from). So the batch goes out in parts, each
    // written like a small batch (raw events first, rollups last); the bus commits the batch once the
    // last part is written. A crash between parts replays the batch: the parts written are counted
    // (restore.ts), so their events are duplicates, and the rest is applied as the first time.
    let part: Item[] = [];
    for (const item of items) {
      if (!isCorrection(item)) {
        part.push(item);
        continue;
      }
      if (part.length > 0) void state.writer.write(this.applyPart(state, part, reads, now));
      part = [];
      await this.timed(state.writer.idle(), 'write');
      const outputs = emptyOutputs(state.nextTime(now));
      await this.applyCorrection(state, item, reads, outputs);
      addEvaluation(outputs, state, outputs.atMs);
      const written = state.writer.write(outputs);
      written.then(
        () => state.engine.markDurable(outputs.atMs),
        () => {},
      );
    }
    return this.applyPart(state, part, reads, now);
  }

  /** Applies items without corrections to the engine and evaluates, as one set of outputs. */
  private applyPart(
    state: PartitionState,
    items: Item[],
    reads: { stored: Map<string, AlertEventMs[]>; counted: Set<string> },
    now: number,
  ): Outputs {
    const at = state.nextTime(now);
    const outputs = emptyOutputs(at);
    try {
      applyBatch(state, items, reads, outputs, at, this.o.metrics);
    } catch (err) {
      // Not expected (nothing in apply does I/O), but the engine may have taken events already:
      // their outputs are kept, written before the redelivered batch, which the engine dedups.
      if (!isEmpty(outputs)) void state.writer.write(outputs);
      throw err;
    }
    return outputs;
  }

  /**
   * Applies one correction, everything before it written: resolves its chain to the newest counted
   * version, reads the counted events of the buckets the engine cannot subtract that version from,
   * and hands both to the engine. An unknown, foreign, retracted or other-metric target goes to the
   * DLQ with the reason (ingest checks the same for agencies that report through it).
   */
  private async applyCorrection(
    state: PartitionState,
    item: Item,
    reads: { counted: Set<string> },
    outputs: Outputs,
  ): Promise<void> {
    if (!('verdict' in item) || !item.verdict.ok) return;
    const { event, module, agencyId } = item.verdict;
    const { metrics } = this.o;
    useModule(state, module);
    const key = `${event.moduleId} ${agencyId} ${event.eventId}`;
    if (reads.counted.has(key) || state.engine.remembers(event.moduleId, agencyId, event.eventId)) {
      metrics.records.inc({ outcome: 'duplicate' });
      return;
    }
    const supersedes = event.supersedes ?? '';
    const resolved = await this.timed(
      resolveChain(this.o.store, state.dedup, {
        moduleId: event.moduleId,
        agencyId,
        metric: event.metric,
        supersedes,
      }),
      'correction',
    );
    if (!('head' in resolved)) {
      outputs.deadLetters.push({
        record: item.record,
        reason: resolved.reason,
        errors: [{ path: resolved.path, message: resolved.message }],
      });
      metrics.records.inc({ outcome: 'dlq' });
      metrics.deadLetters.inc({ reason: resolved.reason });
      return;
    }
    if (
      !approvalValid(this.o.commandKey, event.moduleId, item.record) &&
      needsApproval(module, resolved.head.observed_ms, event.observedAt, outputs.atMs)
    ) {
      // Restates data older than the module's correction window: kept, durably before the batch
      // commits, until a named admin decides (api/corrections.ts). A replay writes the same row,
      // which a decision (version 2) outranks.
      await this.timed(
        this.o.store.insert('held_corrections', [heldRow(event, agencyId, resolved.head, outputs.atMs)]),
        'correction',
      );
      metrics.records.inc({ outcome: 'held' });
      return;
    }
    const replaces = countedEventOf(resolved.head);
    const ranges = state.engine.correctionReads(event.moduleId, replaces);
    const counted =
      ranges.length === 0
        ? []
        : await this.timed(countedInRanges(this.o.store, state.dedup, ranges), 'correction');
    const at = outputs.atMs;
    const result = state.engine.correct(
      { event: { ...event, agencyId, receivedAt: at }, retract: event.retract === true, replaces },
      counted,
    );
    metrics.records.inc({ outcome: result });
    if (result !== 'accepted' && result !== 'late') return;
    outputs.events.push(
      eventRow(event, agencyId, at, result === 'late', module.version, {
        supersedes: resolved.head.event_id,
        retract: event.retract === true,
      }),
    );
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
          await this.ownership.restorePending(state);
          const outputs = emptyOutputs(state.nextTime(this.o.clock.now()));
          addEvaluation(outputs, state, outputs.atMs);
          // Committed with the partition's next batch, which is durable only after these are written.
          if (!isEmpty(outputs)) void state.writer.write(outputs);
        })
        .catch((err: unknown) =>
          this.log.debug({ err, partition: state.partition }, 'tick failed; the next one retries'),
        );
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
