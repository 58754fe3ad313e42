import { type Backoff, backoffDelay } from '../runtime/backoff.js';

/**
 * The partitions of one consumption that wait out a backoff because their batch failed (the handler
 * threw, or a receipt rejected): capped, jittered, doubling with each failure in a row, so a partition
 * whose handler keeps failing is retried ever less often while the others go on.
 */
export class RetryPauses {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly failures = new Map<number, number>();

  constructor(
    private readonly policy: Backoff,
    /** The wait of this partition is over: deliver it again (unless paused otherwise). */
    private readonly onOver: (partition: number) => void,
  ) {}

  /** Starts (or restarts) the partition's wait after one more failure. */
  start(partition: number): { attempt: number; delayMs: number } {
    const attempt = (this.failures.get(partition) ?? 0) + 1;
    this.failures.set(partition, attempt);
    const delayMs = backoffDelay(attempt, this.policy);
    const previous = this.timers.get(partition);
    if (previous) clearTimeout(previous);
    this.timers.set(
      partition,
      setTimeout(() => {
        this.timers.delete(partition);
        this.onOver(partition);
      }, delayMs),
    );
    return { attempt, delayMs };
  }

  waiting(partition: number): boolean {
    return this.timers.has(partition);
  }

  /** A batch of the partition succeeded: its next failure waits the shortest time again. */
  succeeded(partition: number): void {
    this.failures.delete(partition);
  }

  /** Ends the partition's wait now (without `onOver`) and forgets its failures. */
  clear(partition: number): void {
    const timer = this.timers.get(partition);
    if (timer) clearTimeout(timer);
    this.timers.delete(partition);
    this.failures.delete(partition);
  }

  clearAll(): void {
    for (const partition of [...this.timers.keys()]) this.clear(partition);
    this.failures.clear();
  }
}
