import { randomBytes } from 'node:crypto';
import {
  type Admin,
  type ICustomPartitioner,
  Kafka,
  type Message,
  Partitioners,
  type Producer,
} from 'kafkajs';
import type { Logger } from 'pino';
import type { Bus, ConsumeOptions, Consumption, OutgoingRecord, TopicSpec } from '../../ports/bus.js';
import { BusError } from '../../ports/bus-errors.js';
import type { Health } from '../../ports/lifecycle.js';
import { topicName } from '../../ports/topics.js';
import { Deferred } from '../../runtime/sync.js';
import { KafkaConsumption } from './consumption.js';
import { isProducerStateError, toBusError } from './errors.js';
import { kafkaLogLevel, pinoLogCreator } from './log.js';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** Prepended to every logical topic name (`<prefix>.<topic>`); '' for none. */
  topicPrefix?: string;
  logger: Logger;
  /** Consumer group session timeout (default 10 s): how long a dead member keeps its partitions. */
  sessionTimeoutMs?: number;
  /** Heartbeat interval (default 1 s): also bounds how fast a member notices a rebalance. */
  heartbeatIntervalMs?: number;
  /** How long a member may take to rejoin during a rebalance (default 30 s). */
  rebalanceTimeoutMs?: number;
  /** Longest fetch long-poll (default 1 s); an idle consumer reports progress this often. */
  maxWaitTimeMs?: number;
  /** A consumer whose loop made no progress for this long is unhealthy (default 30 s). */
  progressTimeoutMs?: number;
  /** How long `consume()` waits for the first group join (default 60 s). */
  joinTimeoutMs?: number;
  /** Publish retries inside kafkajs before the publish fails (default 5, with 100 ms..2 s backoff). */
  publishRetries?: number;
  /** Replication factor for `ensureTopics` (default: the broker's default). */
  replicationFactor?: number;
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

/**
 * Bytes per produce request. The broker refuses a partition's record batch over `message.max.bytes`
 * (1 MiB by default), so a request stays at half of that in all; a bigger call is sent in pieces, in
 * order.
 */
const maxBytesPerSend = 512 * 1024;

interface Outgoing {
  /** Physical topic. */
  topic: string;
  records: OutgoingRecord[];
  bytes: number;
  done: Deferred;
}

/** A record's size on the wire, near enough (the framing is a few dozen bytes). */
function recordBytes(r: OutgoingRecord): number {
  let n = 64 + (r.key === null ? 0 : Buffer.byteLength(r.key)) + Buffer.byteLength(r.value);
  for (const [name, value] of Object.entries(r.headers ?? {})) n += name.length + value.length + 8;
  return n;
}

/** One call's records in pieces of at most `maxBytesPerSend` (a single larger record is its own piece). */
function pieces(topic: string, records: OutgoingRecord[]): Outgoing[] {
  const out: Outgoing[] = [];
  let current: Outgoing | undefined;
  for (const r of records) {
    const bytes = recordBytes(r);
    if (!current || (current.records.length > 0 && current.bytes + bytes > maxBytesPerSend)) {
      current = { topic, records: [], bytes: 0, done: new Deferred() };
      out.push(current);
    }
    current.records.push(r);
    current.bytes += bytes;
  }
  return out;
}

/** Takes pieces off the front of the queue up to `maxBytesPerSend` (always at least one). */
function takeNextSend(queue: Outgoing[]): Outgoing[] {
  let n = 0;
  let bytes = 0;
  while (n < queue.length && (n === 0 || bytes + queue[n]!.bytes <= maxBytesPerSend)) {
    bytes += queue[n]!.bytes;
    n++;
  }
  return queue.splice(0, n);
}

/** How long a topic's partition count is trusted before `partitionFor` reads it again. */
const partitionCountTtlMs = 30_000;

/**
 * The Bus port on Kafka (kafkajs). Publishing uses one idempotent producer (acks = all); it is
 * recreated after any failed send, because kafkajs rolls its sequence numbers back on failure and a
 * later send could then reuse a sequence the broker already accepted (silently deduplicated) or get
 * stuck on OUT_OF_ORDER_SEQUENCE_NUMBER. Each `consume()` is its own kafkajs consumer.
 *
 * The idempotent producer has one request in flight per broker, so publishes made while one is in
 * flight wait in an outbox and then go out together as one request (`sendBatch`, every topic at
 * once, each call's records in order, up to `maxBytesPerSend`): many small concurrent publishes (the
 * processor's partitions, ingest's requests) cost one round trip, not one each. A failed request fails every call it held,
 * except for a non-retriable failure (an unknown topic, a record too large), after which each call
 * is sent again on its own, so one caller's bad records never fail another's.
 */
export class KafkaBus implements Bus {
  readonly name = 'bus';
  private readonly kafka: Kafka;
  private readonly log: Logger;
  private readonly prefix: string;
  private admin: Admin | null = null;
  private producer: Producer | null = null;
  private producerReady: Promise<Producer> | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  private lastPublishError: BusError | null = null;
  private readonly consumptions = new Set<KafkaConsumption>();
  private outbox: Outgoing[] = [];
  private sending = false;
  /** The producer's partitioner (kafkajs's default: Java-compatible murmur2), for `partitionFor`. */
  private readonly partitioner: ReturnType<ICustomPartitioner> = Partitioners.DefaultPartitioner();
  /** Partition counts by physical topic, read from the broker at most once per `partitionCountTtlMs`. */
  private readonly partitionCounts = new Map<string, { count: number; readAt: number }>();

  constructor(private readonly options: KafkaBusOptions) {
    this.log = options.logger.child({ component: 'kafka-bus' });
    this.prefix = options.topicPrefix ?? '';
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: kafkaLogLevel(this.log),
      logCreator: pinoLogCreator(this.log),
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
    });
  }

  /** Connects the admin client and the producer; fails if no broker answers. */
  async start(): Promise<void> {
    if (this.stopped) throw new BusError('bus_stopped', 'the Kafka bus was stopped', false);
    if (this.started) return;
    try {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
      await this.ensureProducer();
    } catch (err) {
      throw toBusError(err, `connecting to Kafka at ${this.options.brokers.join(',')}`);
    }
    this.started = true;
  }

  /**
   * Stops every consumption (each finishes and commits its batches; their handlers may still publish
   * meanwhile), then refuses publishes and disconnects. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    await Promise.allSettled([...this.consumptions].map((c) => c.stop()));
    this.stopped = true;
    const producer = this.producer;
    this.producer = null;
    this.producerReady = null;
    await producer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    this.admin = null;
  }

  health(): Health {
    if (this.stopped) return { state: 'error', detail: 'stopped' };
    if (!this.started) return { state: 'error', detail: 'not started' };
    const unhealthy = [...this.consumptions].filter((c) => !c.healthy()).map((c) => c.description);
    if (unhealthy.length > 0)
      return { state: 'error', detail: `consumers not progressing: ${unhealthy.join(', ')}` };
    if (this.lastPublishError) {
      return { state: 'degraded', detail: `last publish failed: ${this.lastPublishError.message}` };
    }
    return { state: 'ok' };
  }

  /** The physical (prefixed) topic name. */
  topic(logical: string): string {
    return topicName(this.prefix, logical);
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const admin = this.requireAdmin();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(this.topic(s.name)));
      if (missing.length === 0) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: this.topic(s.name),
          numPartitions: s.partitions,
          replicationFactor: this.options.replicationFactor ?? -1,
          configEntries: s.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
        })),
      });
      this.log.info({ topics: missing.map((s) => this.topic(s.name)) }, 'created topics');
    } catch (err) {
      // Another replica may have created the same topics a moment earlier: that is success.
      if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') return;
      const nested = (err as { errors?: { type?: string }[] }).errors;
      if (nested?.every((e) => e.type === 'TOPIC_ALREADY_EXISTS')) return;
      throw toBusError(err, 'creating topics');
    }
  }

  publish(topic: string, records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.stopped || !this.started) {
      return Promise.reject(new BusError('bus_stopped', 'the Kafka bus is not running', false));
    }
    const parts = pieces(this.topic(topic), records);
    this.outbox.push(...parts);
    void this.drainOutbox();
    return parts.length === 1
      ? parts[0]!.done.promise
      : Promise.all(parts.map((p) => p.done.promise)).then(() => {});
  }

  private async drainOutbox(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.outbox.length > 0) {
        if (this.stopped) {
          const stopped = new BusError('bus_stopped', 'the Kafka bus was stopped', false);
          for (const o of this.outbox.splice(0)) o.done.reject(stopped);
          break;
        }
        const group = takeNextSend(this.outbox);
        try {
          await this.send(group);
          for (const o of group) o.done.resolve();
        } catch (err) {
          if (group.length === 1 || (err as BusError).retriable) {
            for (const o of group) o.done.reject(err);
            continue;
          }
          for (const o of group) await this.send([o]).then(o.done.resolve, o.done.reject);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private async send(group: Outgoing[]): Promise<void> {
    let producer: Producer;
    try {
      producer = await this.ensureProducer();
    } catch (err) {
      throw this.publishFailed(null, toBusError(err, 'connecting the producer'));
    }
    const topics = new Map<string, Message[]>();
    let count = 0;
    for (const o of group) {
      const messages = topics.get(o.topic) ?? [];
      for (const r of o.records) messages.push({ key: r.key, value: r.value, headers: r.headers ?? {} });
      topics.set(o.topic, messages);
      count += o.records.length;
    }
    try {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...topics].map(([topic, messages]) => ({ topic, messages })),
      });
      this.lastPublishError = null;
    } catch (err) {
      throw this.publishFailed(
        producer,
        toBusError(err, `publishing ${count} records to ${[...topics.keys()].join(', ')}`),
      );
    }
  }

  /**
   * The partition the producer puts a record with this key on: the default partitioner's murmur2 of
   * the key modulo the topic's partition count (read from the broker, cached for a short while).
   */
  async partitionFor(topic: string, key: string): Promise<number> {
    const physical = this.topic(topic);
    const count = await this.partitionCount(physical);
    return this.partitioner({
      topic: physical,
      partitionMetadata: Array.from({ length: count }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [],
        isr: [],
      })),
      message: { key, value: null },
    });
  }

  private async partitionCount(physical: string): Promise<number> {
    const known = this.partitionCounts.get(physical);
    if (known && Date.now() - known.readAt < partitionCountTtlMs) return known.count;
    const admin = this.requireAdmin();
    let count: number;
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [physical] });
      count = topics[0]?.partitions.length ?? 0;
    } catch (err) {
      throw toBusError(err, `reading the partitions of ${physical}`);
    }
    if (count === 0)
      throw new BusError(
        'bus_topic_unknown',
        `topic ${physical} has no partitions (ensureTopics first)`,
        false,
      );
    this.partitionCounts.set(physical, { count, readAt: Date.now() });
    return count;
  }

  async consume(options: ConsumeOptions): Promise<Consumption> {
    const admin = this.requireAdmin();
    const physical = this.topic(options.topic);
    const groupId =
      options.group === null
        ? `${this.options.clientId}.broadcast.${randomBytes(6).toString('hex')}`
        : this.topic(`group.${options.group}`);
    const consumption = new KafkaConsumption({
      kafka: this.kafka,
      admin,
      logger: this.log.child({ topic: physical, group: options.group ?? '(broadcast)' }),
      topic: physical,
      groupId,
      options,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs ?? 30_000,
      maxWaitTimeMs: this.options.maxWaitTimeMs ?? 1_000,
      progressTimeoutMs: this.options.progressTimeoutMs ?? 30_000,
      joinTimeoutMs: this.options.joinTimeoutMs ?? 60_000,
      onStopped: () => this.consumptions.delete(consumption),
    });
    this.consumptions.add(consumption);
    try {
      await consumption.start();
    } catch (err) {
      this.consumptions.delete(consumption);
      throw toBusError(err, `consuming ${physical}`);
    }
    return consumption;
  }

  private requireAdmin(): Admin {
    if (!this.admin || this.stopped) throw new BusError('bus_stopped', 'the Kafka bus is not running', false);
    return this.admin;
  }

  private ensureProducer(): Promise<Producer> {
    if (this.producerReady) return this.producerReady;
    const producer = this.kafka.producer({
      idempotent: true,
      // kafkajs serializes idempotent requests per broker itself; one in flight keeps ordering simple.
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // The same partitioner `partitionFor` uses; naming it also silences kafkajs' v2 migration warning.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: {
        retries: this.options.publishRetries ?? 5,
        initialRetryTime: 100,
        maxRetryTime: 2_000,
      },
    });
    this.producer = producer;
    const ready = producer.connect().then(
      () => producer,
      (err: unknown) => {
        if (this.producerReady === ready) this.producerReady = null;
        throw err;
      },
    );
    this.producerReady = ready;
    return ready;
  }

  /**
   * After any failed send the producer is replaced: its sequence numbers may no longer match the
   * broker's (see the class comment). The records of the failed call may or may not have been
   * written; the caller was told they were not, which is what at-least-once needs.
   */
  private publishFailed(producer: Producer | null, error: BusError): BusError {
    this.lastPublishError = error;
    if (producer && this.producer === producer) {
      this.log.warn(
        { err: error, code: error.code, wedged: isProducerStateError(error.cause) },
        'publish failed; recreating the producer',
      );
      this.producer = null;
      this.producerReady = null;
      producer.disconnect().catch(() => {});
    }
    return error;
  }
}
