import type { Component } from './lifecycle.js';

/** A record to publish. `value` is the serialized payload (JSON text for every Glasshouse topic). */
export interface OutgoingRecord {
  key: string | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}

/** A record as consumed. `offset` is a decimal string, as Kafka offsets exceed 2^53 in theory. */
export interface IncomingRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  /** Append time in epoch ms. */
  timestamp: number;
}

/** A batch of records from one partition, delivered in offset order. */
export interface RecordBatch {
  topic: string;
  partition: number;
  records: IncomingRecord[];
  /** The partition's high watermark when the batch was fetched (for lag). */
  highWatermark: string;
}

/** What a pipelining `onBatch` resolves with: the batch is committed once `durable` resolves. */
export interface BatchReceipt {
  durable: Promise<void>;
}

export interface ConsumeOptions {
  /** Logical topic name (without deployment prefix). */
  topic: string;
  /**
   * Consumer group. Members of one group split the partitions and share committed offsets.
   * `null` means a broadcast reader: this process reads every partition, from `fromBeginning`
   * or from the end, and commits nothing.
   */
  group: string | null;
  /** Where a group without committed offsets (or a broadcast reader) starts. Default false (the end). */
  fromBeginning?: boolean;
  /**
   * Handles one batch. The bus commits offset = last record + 1 only after this resolves, so
   * everything the handler wrote before resolving is acknowledged before the commit (at-least-once).
   * If it throws, nothing of the batch is committed and the batch is delivered again.
   *
   * A handler that writes its effects in the background resolves with a receipt instead: the bus
   * goes on with the partition's next batch at once, and commits this one only once `durable`
   * resolved and every earlier batch of the partition was committed. If `durable` rejects, nothing
   * from this batch on is committed and the partition is delivered again from this batch's first
   * record (after a backoff, as for a throw).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing commits as it resolves
  onBatch(batch: RecordBatch): Promise<void | BatchReceipt>;
  /** Partitions newly assigned to this member; resolves before any batch of them is delivered. */
  onAssign?(partitions: number[]): Promise<void>;
  /** Partitions taken away; state for them should be dropped. */
  onRevoke?(partitions: number[]): Promise<void>;
  /**
   * How many partitions' batches may be in `onBatch` at once (default 1). Batches of one partition
   * are still delivered one at a time, in offset order, each committed only after its `onBatch`.
   * A hint: the in-process bus (MemoryBus) ignores it and delivers one batch at a time per group.
   */
  concurrency?: number;
}

/** A running consumption started by `Bus.consume`. */
export interface Consumption {
  /**
   * Stops delivering, lets the in-flight batch finish and commit (and the receipts already handed
   * out resolve and commit, for a bounded time), and leaves the group. Idempotent.
   */
  stop(): Promise<void>;
  /** Stops fetching these partitions until `resume` (backpressure, retries); heartbeats continue. */
  pause(partitions: number[]): void;
  /** Fetches them again; a batch whose handler threw is delivered again at once, not after its backoff. */
  resume(partitions: number[]): void;
  /** True while the consumer is connected and its loop makes progress. */
  healthy(): boolean;
}

export interface TopicSpec {
  /** Logical name, e.g. `metrics.raw`. */
  name: string;
  partitions: number;
  /** Log compaction (keep the latest record per key), for `registry.modules`. */
  compacted?: boolean;
}

/** The message bus: Kafka in distributed deployments, an in-process log in standalone. */
export interface Bus extends Component {
  /** Creates the topics that do not exist yet; existing ones are left alone. Idempotent. */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  /**
   * Publishes records to a topic and resolves only once the bus has made them durable
   * (Kafka: acknowledged by all in-sync replicas). Records with the same key keep their order.
   */
  publish(topic: string, records: OutgoingRecord[]): Promise<void>;
  /** Starts consuming; resolves once the consumer has joined (and received its first assignment). */
  consume(options: ConsumeOptions): Promise<Consumption>;
  /**
   * The partition `publish` puts a record with this key on (Kafka: the default partitioner's murmur2
   * over the topic's partition count), so a consumer can tell which keys its assigned partitions hold.
   */
  partitionFor(topic: string, key: string): Promise<number>;
}
