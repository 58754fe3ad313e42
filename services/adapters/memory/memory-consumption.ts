import type { Logger } from 'pino';
import type { BatchReceipt, ConsumeOptions, Consumption } from '../../ports/bus.js';
import { type Mutex, Signal } from '../../runtime/sync.js';
import { CommitOrder } from '../commit-order.js';
import { RetryPauses } from '../retry-pauses.js';
import type { PartitionLog } from './partition-log.js';

export interface TopicState {
  /** Physical name. */
  name: string;
  partitions: PartitionLog[];
  roundRobin: number;
  /** Wake-ups of the consumptions reading this topic, called after every publish. */
  listeners: Set<() => void>;
}

export interface GroupState {
  /** Next offset to read per partition (Kafka's committed offset). */
  committed: Map<number, number>;
  /** Members in join order; partition p goes to member p mod n. */
  members: MemoryConsumption[];
  /** Batch deliveries and rebalances of one group never overlap, as with Kafka's eager protocol. */
  mutex: Mutex;
  /** Called after every commit (the durable bus persists the offsets). */
  onCommit?: () => void;
}

interface Options {
  topic: TopicState;
  group: GroupState | null;
  options: ConsumeOptions;
  maxBatchSize: number;
  retryBaseMs: number;
  logger: Logger;
  onStopped(): void;
}

/** How long `stop` waits for receipts already handed out to resolve and commit. */
const STOP_DRAIN_MS = 10_000;

/** One `MemoryBus.consume()`: a delivery loop over the partitions assigned to this member. */
export class MemoryConsumption implements Consumption {
  private assigned = new Set<number>();
  private readonly positions = new Map<number, number>();
  private readonly userPaused = new Set<number>();
  private readonly retries: RetryPauses;
  private readonly signal = new Signal();
  private readonly wake = () => this.signal.notify();
  private cursor = 0;
  private loop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private halted = false;
  /** Commits in offset order, each once its batch's receipt (if any) resolved. */
  private readonly commits = new CommitOrder({
    commit: async (partition, next) => this.commit(partition, Number(next)),
    redeliver: (partition, from, err) => {
      this.positions.set(partition, Number(from));
      this.retryLater(partition, err);
    },
    commitFailed: () => {},
  });

  constructor(private readonly o: Options) {
    this.retries = new RetryPauses({ baseMs: o.retryBaseMs, capMs: 30_000 }, () => this.signal.notify());
  }

  /** Joins (rebalancing the group) and runs `onAssign` before the first delivery. */
  async start(): Promise<void> {
    this.o.topic.listeners.add(this.wake);
    const { group } = this.o;
    if (group) {
      await group.mutex.run(() => {
        group.members.push(this);
        return rebalance(group, this.o.topic);
      });
    } else {
      await this.reassign(this.o.topic.partitions.map((_, p) => p));
    }
    this.loop = this.run();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.halted = true;
      this.o.topic.listeners.delete(this.wake);
      this.retries.clearAll();
      this.signal.notify();
      await this.loop;
      await this.commits.settled(STOP_DRAIN_MS);
      const { group } = this.o;
      if (group) {
        await group.mutex.run(async () => {
          group.members = group.members.filter((m) => m !== this);
          await this.reassign([]);
          await rebalance(group, this.o.topic);
        });
      } else {
        await this.reassign([]);
      }
      this.o.onStopped();
    })();
    return this.stopping;
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.userPaused.add(p);
  }

  resume(partitions: number[]): void {
    for (const p of partitions) {
      this.userPaused.delete(p);
      // The handler says it is ready: a batch it refused meanwhile comes again now, not after the backoff.
      this.retries.clear(p);
    }
    this.signal.notify();
  }

  healthy(): boolean {
    return !this.halted;
  }

  /** Whether this member currently owns the partition. */
  holds(partition: number): boolean {
    return this.assigned.has(partition);
  }

  /** Moves this member to `partitions`: onRevoke for those lost, onAssign for those gained. */
  async reassign(partitions: number[]): Promise<void> {
    const next = new Set(partitions);
    const revoked = [...this.assigned].filter((p) => !next.has(p));
    const added = partitions.filter((p) => !this.assigned.has(p));
    if (revoked.length > 0) {
      for (const p of revoked) {
        this.forget(p);
        this.commits.reset(p);
      }
      this.assigned = new Set([...this.assigned].filter((p) => next.has(p)));
      await this.o.options.onRevoke?.(revoked);
    }
    if (added.length > 0) {
      for (const p of added) {
        const log = this.o.topic.partitions[p]!;
        const committed = this.o.group?.committed.get(p);
        this.positions.set(p, committed ?? (this.o.options.fromBeginning ? log.start : log.end));
      }
      await this.o.options.onAssign?.(added);
      for (const p of added) this.assigned.add(p);
    }
    this.signal.notify();
  }

  private async run(): Promise<void> {
    while (!this.halted) {
      const partition = this.nextReady();
      if (partition === undefined) {
        await this.signal.wait();
        continue;
      }
      const { group } = this.o;
      await (group ? group.mutex.run(() => this.deliver(partition)) : this.deliver(partition));
      // Yield between batches so a busy topic cannot starve the rest of the process.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private nextReady(): number | undefined {
    const candidates = [...this.assigned].sort((a, b) => a - b);
    for (let i = 0; i < candidates.length; i++) {
      const p = candidates[(this.cursor + i) % candidates.length]!;
      if (this.userPaused.has(p) || this.retries.waiting(p)) continue;
      if ((this.positions.get(p) ?? 0) < this.o.topic.partitions[p]!.end) {
        this.cursor = (this.cursor + i + 1) % candidates.length;
        return p;
      }
    }
    return undefined;
  }

  private async deliver(partition: number): Promise<void> {
    // Re-check under the group lock: a rebalance or pause may have happened while we waited.
    if (this.halted || !this.assigned.has(partition) || this.userPaused.has(partition)) return;
    const log = this.o.topic.partitions[partition]!;
    const position = Math.max(this.positions.get(partition) ?? 0, log.start);
    const records = log
      .read(position, this.o.maxBatchSize)
      .map((r) => ({ ...r, topic: this.o.options.topic }));
    if (records.length === 0) return;
    const epoch = this.commits.epoch(partition);
    let receipt: BatchReceipt | undefined;
    try {
      receipt =
        (await this.o.options.onBatch({
          topic: this.o.options.topic,
          partition,
          records,
          highWatermark: String(log.end),
        })) || undefined;
    } catch (err) {
      this.retryLater(partition, err);
      return;
    }
    // Revoked or sent back for redelivery meanwhile: the position is not this batch's to move.
    if (this.commits.epoch(partition) !== epoch) return;
    this.retries.succeeded(partition);
    const next = Number(records[records.length - 1]!.offset) + 1;
    this.positions.set(partition, next);
    if (!this.o.group) return;
    const committed = this.commits.add(partition, records[0]!.offset, String(next), receipt?.durable);
    // Without a receipt the batch is committed before the next one is delivered, as always.
    if (!receipt) await committed;
  }

  private commit(partition: number, next: number): void {
    const { group } = this.o;
    if (!group || !this.assigned.has(partition)) return;
    if ((group.committed.get(partition) ?? 0) >= next) return;
    group.committed.set(partition, next);
    group.onCommit?.();
  }

  private retryLater(partition: number, err: unknown): void {
    const { attempt, delayMs } = this.retries.start(partition);
    this.o.logger.warn(
      { err, partition, attempt, retryInMs: delayMs },
      'onBatch failed; batch will be redelivered',
    );
  }

  private forget(partition: number): void {
    this.retries.clear(partition);
    this.userPaused.delete(partition);
    this.positions.delete(partition);
  }
}

/** Spreads the topic's partitions over the group's members (call with the group mutex held). */
async function rebalance(group: GroupState, topic: TopicState): Promise<void> {
  const n = group.members.length;
  const plan = group.members.map((_, i) => topic.partitions.map((_, p) => p).filter((p) => p % n === i));
  // Every member gives up what it loses before anyone takes it over.
  await Promise.all(group.members.map((m, i) => m.reassign([...plan[i]!].filter((p) => m.holds(p)))));
  await Promise.all(group.members.map((m, i) => m.reassign(plan[i]!)));
}
