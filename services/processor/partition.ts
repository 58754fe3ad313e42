import { Engine, type EngineOptions } from '../core/performance/index.js';
import type { PartitionWriter } from './writer.js';

/**
 * The state of one assigned partition of `metrics.raw`: its engine, the modules restored into it, and
 * the writer of its outputs. Batches, ticks and registry changes of one partition run one at a time
 * through `run`, so the engine never sees two of them interleaved.
 */
export class PartitionState {
  readonly engine: Engine;
  /** Module id → the version in force in the engine. A module is restored on its first event. */
  readonly modules = new Map<string, number>();
  /**
   * Modules this partition owns (their id hashes here) that are not restored yet: restored on
   * assignment, or by the next batch or tick if that failed, so a module that stays silent after a
   * restart is still watched (data_gap) without waiting for its next event.
   */
  unrestored: string[] = [];
  /**
   * Per restored module, what the store lookup of an old event needs (restore.ts `countedCopies`):
   * copies received after `ownSince` were written by this owner; before it, those received at or
   * before `covered` (the module's stored rollups at restore) are counted.
   */
  readonly dedup = new Map<string, { ownSince: number; covered: number }>();
  /** Set on revoke: whatever is queued for it is abandoned (the next owner replays from the commit). */
  dropped = false;
  private chain: Promise<unknown> = Promise.resolve();
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly partition: number,
    engine: EngineOptions,
    readonly writer: PartitionWriter,
  ) {
    this.engine = new Engine(engine);
  }

  /** Runs `work` after everything queued before it; a failure is returned to this caller only. */
  run<T>(work: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(work);
    this.chain = next.catch(() => {});
    return next;
  }

  /**
   * The processing time of the next batch: the clock, but strictly increasing per partition, so a
   * rollup row's `updated_ms` orders the batches that wrote it (restore.ts relies on that).
   */
  nextTime(now: number): number {
    this.lastAt = Math.max(now, this.lastAt + 1);
    return this.lastAt;
  }

  /** The greatest processing time stamped or read so far. */
  get lastStamp(): number {
    return this.lastAt;
  }

  /** Never stamps a batch before `ms` (a stored time from a previous owner whose clock ran ahead). */
  notBefore(ms: number): void {
    if (ms > this.lastAt) this.lastAt = ms;
  }
}
