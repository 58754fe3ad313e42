export interface CommitOrderOptions {
  /** Commits `next` (the offset after the batch's last record) for the partition. */
  commit(partition: number, next: string): Promise<void>;
  /** A receipt rejected: deliver the partition again from `from` (its batch's first offset). */
  redeliver(partition: number, from: string, err: unknown): void;
  /** A commit failed (a rebalance, the broker away): the batch is simply delivered again later. */
  commitFailed(partition: number, err: unknown): void;
}

/**
 * The commits of a consumption, in offset order per partition, when handlers answer with receipts
 * (ports/bus.ts, BatchReceipt): batch k is committed once its `durable` resolved and batch k−1 was
 * committed. A rejected receipt commits nothing from its batch on and asks for a redelivery from the
 * batch's first record. `reset` (revoke, rebalance, redelivery) forgets the receipts in flight: they
 * then commit nothing, since what they cover is delivered again.
 */
export class CommitOrder {
  private readonly tails = new Map<number, Promise<void>>();
  private readonly epochs = new Map<number, number>();

  constructor(private readonly o: CommitOrderOptions) {}

  /**
   * Batch `first`..`next − 1` of `partition` was handled; commits `next` once `durable` (if any) and
   * every earlier batch are done. The promise settles after that commit (or once it is known that
   * there will be none); it never rejects.
   */
  add(partition: number, first: string, next: string, durable?: Promise<void>): Promise<void> {
    const epoch = this.epoch(partition);
    const previous = this.tails.get(partition) ?? Promise.resolve();
    const current = () => this.epoch(partition) === epoch;
    const link = (async () => {
      await previous;
      if (!current()) return;
      try {
        await durable;
      } catch (err) {
        if (!current()) return;
        this.reset(partition);
        this.o.redeliver(partition, first, err);
        return;
      }
      if (!current()) return;
      await this.o.commit(partition, next).catch((err: unknown) => this.o.commitFailed(partition, err));
    })();
    this.tails.set(partition, link);
    return link;
  }

  /** Forgets the partition's receipts in flight. */
  reset(partition: number): void {
    this.epochs.set(partition, this.epoch(partition) + 1);
    this.tails.delete(partition);
  }

  /** Changes whenever `reset` is called: a batch handled across a change must not be resolved. */
  epoch(partition: number): number {
    return this.epochs.get(partition) ?? 0;
  }

  /** Resolves once every receipt handed out so far has settled, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.tails.values()),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
