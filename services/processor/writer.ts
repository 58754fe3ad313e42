import { type Backoff, backoffDelay } from '../runtime/backoff.js';
import type { Logger } from '../runtime/logger.js';
import { Deferred, Signal } from '../runtime/sync.js';
import {
  type Lane,
  mergeOutputs,
  type Outputs,
  PendingWrite,
  SinkError,
  type WriteTargets,
} from './outputs.js';

export interface PartitionWriterOptions {
  partition: number;
  targets: WriteTargets;
  /**
   * Bounds one flush of a set (a hung dependency must not hold a lane forever); a flush that timed out
   * keeps running, and the retry joins it rather than starting its steps again.
   */
  timed(work: Promise<void>): Promise<void>;
  backoff: Backoff;
  logger: Logger;
  /** A write failed: the writer retries it from now on, until it succeeds or the writer is closed. */
  onRetrying(err: unknown): void;
  /** Every failed write succeeded on a retry. */
  onRecovered(): void;
  /** A step failed (for metrics). */
  onStepFailed(err: SinkError): void;
  /** A set of outputs is fully written and published (for metrics). */
  onWritten(outputs: Outputs): void;
}

interface Entry {
  outputs: Outputs;
  published: Deferred;
  stored: Deferred;
}

/**
 * Writes one partition's outputs in order, while the partition's next batches are already processed
 * (the processor does not wait for a batch's writes before taking the next one; the bus commits a
 * batch only once its `write` resolved).
 *
 * Two lanes, each writing everything waiting for it as one set (mergeOutputs) once its previous set
 * is done. This is the one place store writes are batched: a set's rows go to the store adapter as
 * one insert per table, nothing in between regroups them, so an insert acknowledged is its set's
 * rows stored, and the bus commits a batch only after that:
 *
 * - the bus lane publishes updates, alerts and dead letters, so a status change reaches subscribers
 *   after one bus round trip, whatever the store is doing;
 * - the store lane inserts the rows, and last the rollups, once the same outputs are also published
 *   (restore.ts: a stored rollup proves its batch was fully written).
 *
 * Sets are written one after the other per lane, so outputs land in processing order, and a set's
 * rollups never land before an earlier set's rows. A failed step is retried with capped, jittered
 * backoff inside its lane (the set keeps what already succeeded) until it succeeds or the writer is
 * closed; later outputs queue behind it meanwhile. Closing aborts the sets being written: a step in
 * flight may still land, but none starts after it.
 */
export class PartitionWriter {
  private unpublished: Entry[] = [];
  private unstored: Entry[] = [];
  /** Entries not stored yet, oldest first (what `backlog` counts and `idle` waits for). */
  private readonly open: Entry[] = [];
  private readonly wakeBus = new Signal();
  private readonly wakeStore = new Signal();
  private readonly lanes: Promise<void>[];
  private readonly failing = new Set<Lane>();
  private closed = false;
  /** Resolved by `close`: ends the lanes' backoff sleeps early. */
  private readonly closing = new Deferred();
  /** The set each lane is writing, aborted by `close`. */
  private readonly writing = new Set<PendingWrite>();

  constructor(private readonly o: PartitionWriterOptions) {
    this.lanes = [this.runLane('bus'), this.runLane('store')];
  }

  /** Queues outputs; resolves once they (and everything queued before) are written and published. */
  write(outputs: Outputs): Promise<void> {
    if (this.closed) {
      const refused = new Deferred();
      refused.reject(closedError(this.o.partition));
      return refused.promise;
    }
    const entry: Entry = { outputs, published: new Deferred(), stored: new Deferred() };
    this.unpublished.push(entry);
    this.unstored.push(entry);
    this.open.push(entry);
    this.wakeBus.notify();
    this.wakeStore.notify();
    return entry.stored.promise;
  }

  /** Resolves once everything queued so far is written (at once when nothing is). */
  idle(): Promise<void> {
    const last = this.open[this.open.length - 1];
    return last ? last.stored.promise : Promise.resolve();
  }

  /** Resolves once fewer than `n` sets of outputs wait to be written. */
  below(n: number): Promise<void> {
    const entry = this.open[this.open.length - n];
    return entry ? entry.stored.promise : Promise.resolve();
  }

  /** Sets of outputs queued and not yet written. */
  get backlog(): number {
    return this.open.length;
  }

  /** True while a lane retries a failed write. */
  get retrying(): boolean {
    return this.failing.size > 0;
  }

  /**
   * Stops: the steps in flight finish (each is bounded), nothing else starts, and whatever is not
   * written is abandoned: its promises reject (the partition's next owner replays it from the bus).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeBus.notify();
    this.wakeStore.notify();
    this.closing.resolve();
    for (const write of this.writing) write.abort();
    const error = closedError(this.o.partition);
    // The store lane may wait for publishes that will not happen now: fail them once the bus lane stopped.
    await this.lanes[0];
    for (const entry of this.open) entry.published.reject(error);
    await this.lanes[1];
    for (const entry of this.open.splice(0)) entry.stored.reject(error);
    this.unpublished = [];
    this.unstored = [];
  }

  private async runLane(lane: Lane): Promise<void> {
    const wake = lane === 'bus' ? this.wakeBus : this.wakeStore;
    while (!this.closed) {
      const entries = lane === 'bus' ? this.unpublished.splice(0) : this.unstored.splice(0);
      if (entries.length === 0) {
        await wake.wait();
        continue;
      }
      const write = new PendingWrite(mergeOutputs(entries.map((e) => e.outputs)), lane, () =>
        Promise.all(entries.map((e) => e.published.promise)),
      );
      this.writing.add(write);
      const written = await this.untilWritten(write, lane);
      this.writing.delete(write);
      if (!written) return;
      for (const entry of entries) {
        if (lane === 'bus') {
          entry.published.resolve();
          continue;
        }
        entry.stored.resolve();
        this.open.splice(this.open.indexOf(entry), 1);
        this.o.onWritten(entry.outputs);
      }
    }
  }

  /** Flushes until it succeeds (true) or the writer is closed (false). */
  private async untilWritten(write: PendingWrite, lane: Lane): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.timed(write.flush(this.o.targets));
        break;
      } catch (err) {
        if (err instanceof SinkError) this.o.onStepFailed(err);
        if (this.closed) return false;
        if (!this.failing.has(lane)) {
          const first = this.failing.size === 0;
          this.failing.add(lane);
          if (first) this.o.onRetrying(err);
        } else {
          this.o.logger.warn({ err, partition: this.o.partition, lane, attempt }, 'write retry failed');
        }
        await this.sleep(backoffDelay(attempt, this.o.backoff));
        if (this.closed) return false;
      }
    }
    if (this.failing.delete(lane) && this.failing.size === 0) this.o.onRecovered();
    return true;
  }

  private async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
      this.closing.promise,
    ]);
    clearTimeout(timer);
  }
}

function closedError(partition: number): Error {
  return Object.assign(new Error(`partition ${partition} was revoked before its outputs were written`), {
    code: 'partition_revoked',
  });
}
