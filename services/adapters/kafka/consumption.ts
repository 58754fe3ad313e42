import type { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { BatchReceipt, ConsumeOptions, Consumption, IncomingRecord } from '../../ports/bus.js';
import { backoffDelay } from '../../runtime/backoff.js';
import { Deferred } from '../../runtime/sync.js';
import { CommitOrder } from '../commit-order.js';
import { RetryPauses } from '../retry-pauses.js';

export interface KafkaConsumptionOptions {
  kafka: Kafka;
  admin: Admin;
  logger: Logger;
  /** Physical (prefixed) topic. */
  topic: string;
  groupId: string;
  options: ConsumeOptions;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitTimeMs: number;
  progressTimeoutMs: number;
  joinTimeoutMs: number;
  onStopped(): void;
}

/** A failed batch's partition waits 200 ms, doubling with each failure in a row up to 30 s (jittered). */
const retryBackoff = { baseMs: 200, capMs: 30_000 };
/** How long `stop` waits for receipts already handed out to resolve and commit. */
const STOP_DRAIN_MS = 10_000;

/**
 * One `Bus.consume()` on kafkajs: a consumer with `eachBatch`, auto-commit off and auto-resolve off.
 *
 * - A batch is committed (offset = last + 1) only after `onBatch` resolved, or, when it resolved
 *   with a receipt, once the receipt's `durable` resolved (commit-order.ts keeps the commits of a
 *   partition in offset order). With receipts the batch's offset is resolved at once, so kafkajs
 *   fetches on while the handler writes in the background.
 * - When `onBatch` throws, nothing is resolved or committed; the partition is sought back to the
 *   batch's first offset and paused for a capped, jittered backoff, then the same records come again.
 *   The consumer itself keeps running (throwing into kafkajs would crash and restart the consumer).
 * - Assignment: kafkajs uses the eager protocol and has no revoke callback. On every GROUP_JOIN we
 *   diff the new assignment against the previous one and call `onRevoke` for the partitions lost and
 *   `onAssign` for those gained, before any batch is handed out (`eachBatch` awaits that work). kafkajs
 *   only rejoins between batches, so no batch of a revoked partition is in flight at that moment.
 *   When the member id changes (session expired) or the consumer crashed, every partition counts as
 *   revoked and re-assigned, because another member may have moved it on in between. Receipts in
 *   flight at a join commit nothing: kafkajs fetches every partition again from its committed offset.
 * - `group: null` (broadcast) uses a throwaway group id, never commits, and deletes the group on stop.
 */
export class KafkaConsumption implements Consumption {
  readonly description: string;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private readonly broadcast: boolean;
  private assigned = new Set<number>();
  private memberId: string | null = null;
  private assignmentWork: Promise<void> = Promise.resolve();
  private readonly userPaused = new Set<number>();
  private readonly retries = new RetryPauses(retryBackoff, (p) => {
    if (!this.userPaused.has(p)) this.applyResume([p]);
  });
  private connected = false;
  private crashed: string | null = null;
  private lastProgress = Date.now();
  private stopping: Promise<void> | null = null;
  private joined: { resolve(): void; reject(err: Error): void } | null = null;
  private awaitingFirstFetch = false;
  private readonly commits: CommitOrder;
  private readonly handling = new Set<Promise<void>>();
  /** Offsets to commit with the next request, by partition, and who waits for them. */
  private toCommit = new Map<number, { offset: string; waiters: Deferred[] }>();
  private committing = false;

  constructor(private readonly o: KafkaConsumptionOptions) {
    this.broadcast = o.options.group === null;
    this.description = `${o.topic}/${o.options.group ?? 'broadcast'}`;
    this.log = o.logger;
    this.consumer = o.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      maxWaitTimeInMs: o.maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
    this.commits = new CommitOrder({
      commit: (partition, offset) => this.commit(partition, offset),
      redeliver: (partition, from, err) => this.retryLater(partition, from, err),
      commitFailed: (partition, err) =>
        this.log.debug({ err, partition }, 'commit failed; the batch will be delivered again'),
    });
    this.watchEvents();
  }

  /** Connects, joins, runs `onAssign` for the first assignment and pins the start offsets. */
  async start(): Promise<void> {
    const joined = new Promise<void>((resolve, reject) => {
      this.joined = { resolve, reject };
    });
    const timer = setTimeout(
      () => this.joined?.reject(new Error(`no group join within ${this.o.joinTimeoutMs} ms`)),
      this.o.joinTimeoutMs,
    );
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({
        topics: [this.o.topic],
        fromBeginning: this.o.options.fromBeginning ?? false,
      });
      this.awaitingFirstFetch = true;
      await this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        // kafkajs hands one partition's batches out one at a time, in order, at any concurrency.
        partitionsConsumedConcurrently: Math.max(1, Math.floor(this.o.options.concurrency ?? 1)),
        eachBatch: (payload) => {
          const handled = this.handleBatch(payload);
          this.handling.add(handled);
          return handled.finally(() => this.handling.delete(handled));
        },
      });
      await joined;
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    } finally {
      clearTimeout(timer);
      this.joined = null;
    }
  }

  /**
   * Stops fetching, lets the batches in flight finish and the receipts handed out commit (bounded),
   * leaves the group, then revokes every partition.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.retries.clearAll();
      try {
        this.consumer.pause([{ topic: this.o.topic }]);
      } catch {}
      await Promise.all(this.handling);
      await this.commits.settled(STOP_DRAIN_MS);
      await this.consumer
        .disconnect()
        .catch((err: unknown) => this.log.warn({ err }, 'consumer disconnect failed'));
      await this.assignmentWork;
      const revoked = [...this.assigned];
      this.assigned = new Set();
      if (revoked.length > 0) await this.callRevoke(revoked);
      if (this.broadcast) {
        // The throwaway group never committed; deleting it leaves no trace on the broker.
        await this.o.admin.deleteGroups([this.o.groupId]).catch(() => {});
      }
      this.o.onStopped();
    })();
    return this.stopping;
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.userPaused.add(p);
    this.applyPause(partitions);
  }

  resume(partitions: number[]): void {
    for (const p of partitions) {
      this.userPaused.delete(p);
      // The handler says it is ready: a batch it refused meanwhile comes again now, not after the backoff.
      this.retries.clear(p);
    }
    this.applyResume(partitions);
  }

  healthy(): boolean {
    return (
      this.stopping === null &&
      this.connected &&
      this.crashed === null &&
      Date.now() - this.lastProgress < this.o.progressTimeoutMs
    );
  }

  private async handleBatch({
    batch,
    resolveOffset,
    isRunning,
    isStale,
    heartbeat,
  }: EachBatchPayload): Promise<void> {
    // onAssign/onRevoke may take a while (a revoked partition's last writes): stay in the group.
    const waiting = setInterval(() => heartbeat().catch(() => {}), this.o.heartbeatIntervalMs);
    try {
      await this.assignmentWork;
    } finally {
      clearInterval(waiting);
    }
    const { partition } = batch;
    if (this.stopping || !isRunning() || isStale() || batch.messages.length === 0) return;
    // Fetched before a pause or a revoke: leave it unresolved, it is fetched again later.
    if (!this.assigned.has(partition) || this.userPaused.has(partition) || this.retries.waiting(partition))
      return;

    const records = batch.messages.map((m) => this.toRecord(partition, m));
    const started = Date.now();
    const epoch = this.commits.epoch(partition);
    let receipt: BatchReceipt | undefined;
    // kafkajs heartbeats only between batches; keep the membership alive through a slow handler
    // (a rebalance signalled here surfaces at the commit, which then makes kafkajs rejoin).
    const keepAlive = setInterval(() => heartbeat().catch(() => {}), this.o.heartbeatIntervalMs);
    try {
      receipt =
        (await this.o.options.onBatch({
          topic: this.o.options.topic,
          partition,
          records,
          highWatermark: batch.highWatermark,
        })) || undefined;
    } catch (err) {
      this.retryLater(partition, batch.firstOffset() ?? records[0]!.offset, err);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    // A rejoin or a redelivery meanwhile: this batch comes again, so it must not move the position.
    if (this.commits.epoch(partition) !== epoch) return;
    this.retries.succeeded(partition);
    this.lastProgress = Date.now();
    const last = batch.messages[batch.messages.length - 1]!.offset;
    resolveOffset(last);
    if (!this.broadcast) {
      // batch.lastOffset() also covers trailing control records, which never reach onBatch.
      const next = (BigInt(batch.lastOffset()) + 1n).toString();
      const committed = this.commits.add(partition, records[0]!.offset, next, receipt?.durable);
      // Without a receipt the batch is committed before the next one is handed out, as always.
      if (!receipt) await committed;
    }
    this.log.trace({ partition, records: records.length, ms: Date.now() - started }, 'batch done');
  }

  /**
   * Commits `offset` for the partition. While one commit request is in flight, the offsets that come
   * meanwhile (any partition; a partition's later offset replaces its earlier one) go as the next
   * request: one round trip for many batches.
   */
  private commit(partition: number, offset: string): Promise<void> {
    const waiter = new Deferred();
    const earlier = this.toCommit.get(partition);
    this.toCommit.set(partition, { offset, waiters: [...(earlier?.waiters ?? []), waiter] });
    void this.sendCommits();
    return waiter.promise;
  }

  private async sendCommits(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (this.toCommit.size > 0) {
        const round = [...this.toCommit];
        this.toCommit = new Map();
        const waiters = round.flatMap(([, c]) => c.waiters);
        try {
          await this.consumer.commitOffsets(
            round.map(([partition, c]) => ({ topic: this.o.topic, partition, offset: c.offset })),
          );
          for (const w of waiters) w.resolve();
        } catch (err) {
          for (const w of waiters) w.reject(err);
        }
      }
    } finally {
      this.committing = false;
    }
  }

  private retryLater(partition: number, firstOffset: string, err: unknown): void {
    const { attempt, delayMs } = this.retries.start(partition);
    this.log.warn(
      { err, partition, offset: firstOffset, attempt, retryInMs: delayMs },
      'onBatch failed; batch will be redelivered',
    );
    try {
      this.consumer.seek({ topic: this.o.topic, partition, offset: firstOffset });
    } catch {}
    this.applyPause([partition]);
  }

  private applyPause(partitions: number[]): void {
    if (partitions.length === 0 || this.stopping) return;
    try {
      this.consumer.pause([{ topic: this.o.topic, partitions }]);
    } catch (err) {
      this.log.debug({ err }, 'pause before the consumer ran');
    }
  }

  private applyResume(partitions: number[]): void {
    if (partitions.length === 0 || this.stopping) return;
    try {
      this.consumer.resume([{ topic: this.o.topic, partitions }]);
    } catch (err) {
      this.log.debug({ err }, 'resume before the consumer ran');
    }
  }

  private watchEvents(): void {
    const { events } = this.consumer;
    const progress = () => {
      this.lastProgress = Date.now();
    };
    this.consumer.on(events.CONNECT, () => {
      this.connected = true;
    });
    this.consumer.on(events.DISCONNECT, () => {
      this.connected = false;
    });
    this.consumer.on(events.HEARTBEAT, progress);
    this.consumer.on(events.END_BATCH_PROCESS, progress);
    this.consumer.on(events.FETCH, () => {
      progress();
      // The first fetch after joining resolved the start offsets ("latest" is pinned now), so a
      // record published after consume() returns is never skipped.
      if (this.awaitingFirstFetch && this.memberId !== null) {
        this.awaitingFirstFetch = false;
        this.assignmentWork.then(() => this.joined?.resolve());
      }
    });
    this.consumer.on(events.GROUP_JOIN, ({ payload }) => {
      progress();
      this.crashed = null;
      const now = new Set(payload.memberAssignment[this.o.topic] ?? []);
      const fresh = payload.memberId !== this.memberId;
      this.memberId = payload.memberId;
      const revoked = [...this.assigned].filter((p) => fresh || !now.has(p));
      const added = [...now].filter((p) => fresh || !this.assigned.has(p));
      for (const p of new Set([...this.assigned, ...now])) {
        this.commits.reset(p);
        // An offset queued before the join must not go out under the new generation: the partition
        // may be another member's now, and its offset would move back.
        for (const w of this.toCommit.get(p)?.waiters ?? []) w.resolve();
        this.toCommit.delete(p);
      }
      this.assigned = now;
      for (const p of revoked) this.forget(p);
      this.log.info({ assigned: [...now], added, revoked, memberId: payload.memberId }, 'group joined');
      this.assignmentWork = this.assignmentWork.then(async () => {
        if (revoked.length > 0) await this.callRevoke(revoked);
        if (added.length > 0) await this.callAssign(added);
      });
      // kafkajs rebuilds its pause state on every join; reapply ours.
      this.applyPause([...now].filter((p) => this.userPaused.has(p) || this.retries.waiting(p)));
    });
    this.consumer.on(events.CRASH, ({ payload }) => {
      this.crashed = `${payload.error.name}: ${payload.error.message}`;
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      // Whatever we held may be processed by another member before we rejoin.
      this.memberId = null;
      if (!payload.restart) this.joined?.reject(payload.error);
    });
  }

  private forget(partition: number): void {
    this.retries.clear(partition);
    this.userPaused.delete(partition);
  }

  private async callAssign(partitions: number[]): Promise<void> {
    const onAssign = this.o.options.onAssign;
    if (!onAssign) return;
    // State must be in place before any batch; keep trying (the stalled loop makes health go red).
    for (let attempt = 1; this.stopping === null; attempt++) {
      try {
        await onAssign(partitions);
        return;
      } catch (err) {
        this.log.error({ err, partitions, attempt }, 'onAssign failed; retrying');
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, retryBackoff)));
      }
    }
  }

  private async callRevoke(partitions: number[]): Promise<void> {
    try {
      await this.o.options.onRevoke?.(partitions);
    } catch (err) {
      this.log.error({ err, partitions }, 'onRevoke failed');
    }
  }

  private toRecord(partition: number, m: KafkaMessage): IncomingRecord {
    return {
      topic: this.o.options.topic,
      partition,
      offset: m.offset,
      key: m.key === null ? null : m.key.toString('utf8'),
      value: m.value ?? Buffer.alloc(0),
      headers: stringHeaders(m.headers),
      timestamp: Number(m.timestamp),
    };
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return out;
}
