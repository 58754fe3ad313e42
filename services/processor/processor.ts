import { Topics } from '../../infra/kafka/topics.js';
import type { ModuleVersion } from '../../schemas/registry.js';
import { validateMetricRecord } from '../core/validation/index.js';
import type { Bus, Consumption, RecordBatch } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { RegistryView } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { UnavailableError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { type Backoff, backoffDelay, sinkBackoff } from './backoff.js';
import type { ProcessorMetrics } from './metrics.js';
import { emptyOutputs, isEmpty, type Outputs, PendingWrite, SinkError } from './outputs.js';
import { PartitionState } from './partition.js';
import { loadModuleState } from './restore.js';

export interface ProcessorOptions {
  bus: Bus;
  store: Store;
  registry: RegistryView;
  clock: Clock;
  logger: Logger;
  metrics: ProcessorMetrics;
  /** Consumer group (default `processor`). */
  group?: string;
  /** How often each partition is evaluated for what time alone changes (default 500 ms). */
  tickMs?: number;
  /** Longest a store or bus call may take inside a batch before the batch is retried (default 4 s). */
  stepTimeoutMs?: number;
  backoff?: Backoff;
}

/**
 * The processor: consumes `metrics.raw` in a consumer group, validates each record, feeds the
 * partition's engine, and makes the outputs durable (store and bus) before the batch's offsets are
 * committed. See restore.ts for how a partition's state is rebuilt, outputs.ts for the write order.
 *
 * Failures: a record that fails validation goes to `metrics.dlq` and `dead_letters` and is committed
 * like any other. A store or bus failure while writing outputs keeps them queued: the partition is
 * paused, a background loop retries with capped, jittered backoff (the consumer keeps heartbeating
 * meanwhile, nothing long runs inside a batch), and the batch is failed so the bus redelivers it
 * after the resume; the engine recognises the redelivered events as seen, the queued outputs are
 * already written by then, and the offsets are committed. Nothing is skipped.
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

  constructor(private readonly o: ProcessorOptions) {
    this.log = o.logger.child({ component: 'processor' });
    this.tickMs = o.tickMs ?? 500;
    this.stepTimeoutMs = o.stepTimeoutMs ?? 4_000;
    this.backoff = o.backoff ?? sinkBackoff;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.o.registry.onChange((id) => {
      if (id !== undefined) this.moduleChanged(id);
    });
    this.consumption = await this.o.bus.consume({
      topic: Topics.metricsRaw,
      group: this.o.group ?? 'processor',
      fromBeginning: true,
      onBatch: (batch) => this.onBatch(batch),
      onAssign: async (partitions) => {
        for (const p of partitions) this.partitions.set(p, new PartitionState(p, this.o.clock));
        this.o.metrics.assignments.inc({ change: 'assigned' }, partitions.length);
        this.log.info({ partitions }, 'partitions assigned');
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
    await this.consumption?.stop();
  }

  health(): Health {
    if (this.stopped) return { state: 'error', detail: 'stopped' };
    if (!this.consumption) return { state: 'error', detail: 'not consuming yet' };
    if (!this.consumption.healthy()) return { state: 'error', detail: 'consumer not progressing' };
    const paused = [...this.partitions.values()].filter((s) => s.retrying).map((s) => s.partition);
    if (paused.length > 0)
      return { state: 'degraded', detail: `partitions ${paused.join(',')} paused: outputs not yet written` };
    return { state: 'ok' };
  }

  /** Partitions this member holds (for tests and the log). */
  assigned(): number[] {
    return [...this.partitions.keys()].sort((a, b) => a - b);
  }

  private async onBatch(batch: RecordBatch): Promise<void> {
    const state = this.partitions.get(batch.partition);
    if (!state)
      throw new UnavailableError(
        'partition_not_assigned',
        `partition ${batch.partition} is not assigned here`,
      );
    const began = performance.now();
    await state.run(async () => {
      if (state.dropped)
        throw new UnavailableError('partition_revoked', `partition ${batch.partition} was revoked`);
      // Outputs of an earlier batch or tick still waiting: they go first, or this batch waits too.
      if (state.pending.length > 0) {
        if (state.retrying)
          throw new UnavailableError('outputs_pending', 'earlier outputs are still being retried');
        await this.flush(state);
      }
      const outputs = await this.process(state, batch);
      if (!isEmpty(outputs)) {
        state.pending.push(new PendingWrite(outputs));
        await this.flush(state);
      }
    });
    const last = batch.records[batch.records.length - 1];
    if (last) {
      const lag = Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n);
      this.o.metrics.lag.set({ partition: String(batch.partition) }, Math.max(0, lag));
    }
    this.o.metrics.batchSeconds.observe((performance.now() - began) / 1000);
  }

  /** Validates, restores modules seen for the first time, feeds the engine, evaluates. */
  private async process(state: PartitionState, batch: RecordBatch): Promise<Outputs> {
    const now = this.o.clock.now();
    const verdicts = batch.records.map((record) => ({
      record,
      verdict: validateMetricRecord(record.value, record.headers, this.o.registry, now),
    }));
    const fresh = new Map<string, ModuleVersion>();
    for (const { verdict } of verdicts) {
      if (verdict.ok && !state.modules.has(verdict.module.id)) fresh.set(verdict.module.id, verdict.module);
    }
    if (fresh.size > 0) await this.restore(state, [...fresh.values()], now);

    const at = state.nextTime(now);
    const outputs = emptyOutputs(at);
    const { engine } = state;
    for (const { record, verdict } of verdicts) {
      if (!verdict.ok) {
        outputs.deadLetters.push({ record, reason: verdict.reason, errors: verdict.errors });
        continue;
      }
      const { event, module, agencyId } = verdict;
      if ((state.modules.get(module.id) ?? 0) < module.version) {
        engine.setModule(module);
        state.modules.set(module.id, module.version);
      }
      const result = engine.ingest({ ...event, agencyId, receivedAt: at });
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
    return outputs;
  }

  private addEvaluation(outputs: Outputs, state: PartitionState, at: number): void {
    const evaluation = state.engine.evaluate(at);
    outputs.updates.push(...evaluation.updates);
    outputs.alerts.push(...evaluation.alerts);
    outputs.rollups.push(...evaluation.rollups);
    outputs.merges.push(...evaluation.rollupMerges);
  }

  /** Puts modules into the engine with their stored state (restore.ts). Throws before changing anything. */
  private async restore(state: PartitionState, modules: ModuleVersion[], now: number): Promise<void> {
    const began = Date.now();
    const input = await this.timed(loadModuleState(this.o.store, modules, now, this.log), 'restore');
    for (const module of modules) {
      state.engine.setModule(module);
      state.modules.set(module.id, module.version);
    }
    state.engine.restore(input);
    for (const row of input.rollups) state.notBefore(row.updated_ms);
    for (const seen of input.recentEventIds) state.notBefore(seen.receivedMs);
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

  /** Writes the partition's pending outputs in order. On failure, hands them to a background retry and throws. */
  private async flush(state: PartitionState): Promise<void> {
    try {
      await this.drain(state);
    } catch (err) {
      if (err instanceof SinkError) this.o.metrics.sinkFailures.inc({ step: err.step });
      this.startRetry(state, err);
      throw err;
    }
  }

  private async drain(state: PartitionState): Promise<void> {
    while (state.pending.length > 0 && !state.dropped) {
      const head = state.pending[0]!;
      await this.timed(head.flush(this.o.bus, this.o.store), 'write');
      state.pending.shift();
      const o = head.outputs;
      this.o.metrics.outputs.inc({ kind: 'metric_events' }, o.events.length);
      this.o.metrics.outputs.inc({ kind: 'rollups' }, o.rollups.length + o.merges.length);
      this.o.metrics.outputs.inc({ kind: 'alerts' }, o.alerts.length);
      this.o.metrics.outputs.inc({ kind: 'performance_updates' }, o.updates.length);
    }
  }

  /**
   * Pauses the partition and retries its pending writes with capped, jittered backoff, outside any
   * batch, until they succeed or the partition is revoked; then resumes it.
   */
  private startRetry(state: PartitionState, first: unknown): void {
    if (state.retrying || state.dropped || this.stopped) return;
    state.retrying = true;
    this.consumption?.pause([state.partition]);
    this.o.metrics.pausedPartitions.inc();
    this.log.warn(
      { err: first, partition: state.partition },
      'outputs not written; partition paused, retrying',
    );
    void (async () => {
      for (let attempt = 1; !state.dropped && !this.stopped; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, this.backoff)));
        if (state.dropped || this.stopped) break;
        try {
          await state.run(() => this.drain(state));
          this.log.info(
            { partition: state.partition, attempt },
            'pending outputs written; resuming partition',
          );
          break;
        } catch (err) {
          if (err instanceof SinkError) this.o.metrics.sinkFailures.inc({ step: err.step });
          this.log.warn({ err, partition: state.partition, attempt }, 'retry of pending outputs failed');
        }
      }
      state.retrying = false;
      this.o.metrics.pausedPartitions.dec();
      if (!state.dropped && !this.stopped) this.consumption?.resume([state.partition]);
    })();
  }

  /** Evaluates every partition for what time alone changes (windows sliding, silence). */
  private tickAll(): void {
    for (const state of this.partitions.values()) {
      if (state.modules.size === 0) continue;
      void state
        .run(async () => {
          if (state.dropped) return;
          const outputs = emptyOutputs(state.nextTime(this.o.clock.now()));
          this.addEvaluation(outputs, state, outputs.atMs);
          if (!isEmpty(outputs)) state.pending.push(new PendingWrite(outputs));
          if (!state.retrying && state.pending.length > 0) await this.flush(state);
        })
        .catch((err: unknown) =>
          this.log.debug({ err, partition: state.partition }, 'tick outputs queued for retry'),
        );
    }
  }

  private moduleChanged(id: string): void {
    const module = this.o.registry.module(id);
    if (!module) return;
    for (const state of this.partitions.values()) {
      if (!state.modules.has(id)) continue;
      void state.run(() => {
        if ((state.modules.get(id) ?? 0) >= module.version) return;
        state.engine.setModule(module);
        state.modules.set(id, module.version);
      });
    }
  }

  private async drop(partition: number): Promise<void> {
    const state = this.partitions.get(partition);
    if (!state) return;
    state.dropped = true;
    this.partitions.delete(partition);
    await state.run(() => {});
    this.o.metrics.lag.remove({ partition: String(partition) });
    if (state.pending.length > 0) {
      this.log.info(
        { partition, pending: state.pending.length },
        'revoked with unwritten outputs; the next owner replays them',
      );
    }
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
