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
  /** Per partition: settles once the latest batch's commit was issued (the next batch's turn). */
  private readonly tails = new Map<number, Promise<void>>();
  private readonly epochs = new Map<number, number>();
  /** Every batch not yet committed (or given up), for `settled`. */
  private readonly open = new Set<Promise<void>>();

  constructor(private readonly o: CommitOrderOptions) {}

  /**
   * Batch `first`..`next − 1` of `partition` was handled; commits `next` once `durable` (if any) and
   * every earlier batch are done. The next batch's commit is issued as soon as this one's is (the
   * committer may send both as one request). The promise settles after this commit (or once it is
   * known that there will be none); it never rejects.
   */
  add(partition: number, first: string, next: string, durable?: Promise<void>): Promise<void> {
    // Handled below once its turn comes, or never (a reset): either way not an unhandled rejection.
    durable?.catch(() => {});
    const epoch = this.epoch(partition);
    const previous = this.tails.get(partition) ?? Promise.resolve();
    const current = () => this.epoch(partition) === epoch;
    // Wrapped in an object: an async function returning the commit's promise would wait for it.
    const issued = (async (): Promise<{ committed: Promise<void> } | undefined> => {
      await previous;
      if (!current()) return undefined;
      try {
        await durable;
      } catch (err) {
        if (!current()) return undefined;
        this.reset(partition);
        this.o.redeliver(partition, first, err);
        return undefined;
      }
      if (!current()) return undefined;
      return {
        committed: this.o
          .commit(partition, next)
          .catch((err: unknown) => this.o.commitFailed(partition, err)),
      };
    })();
    this.tails.set(
      partition,
      issued.then(() => {}),
    );
    const done = issued.then((i) => i?.committed);
    this.open.add(done);
    void done.finally(() => this.open.delete(done));
    return done;
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

  /** Resolves once every receipt handed out so far has settled and committed, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.open),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
