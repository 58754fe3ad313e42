import { type Logger, pino } from 'pino';
import { topicName } from '../../../infra/kafka/topics.js';
import type { Bus, ConsumeOptions, Consumption, OutgoingRecord, TopicSpec } from '../../ports/bus.js';
import { type Clock, systemClock } from '../../ports/clock.js';
import type { Health } from '../../ports/lifecycle.js';
import { BusError } from '../kafka/errors.js';
import { type GroupState, MemoryConsumption, type TopicState } from './memory-consumption.js';
import { hashKey, PartitionLog } from './partition-log.js';
import { Mutex } from './sync.js';

export interface MemoryBusOptions {
  /** Prepended to topic names as on Kafka, so logs and tests read the same. */
  topicPrefix?: string;
  /** Records kept per partition (default 100,000; compacted topics keep the latest per key first). */
  retainRecords?: number;
  /** Most records in one delivered batch (default 500). */
  maxBatchSize?: number;
  /** First retry delay after `onBatch` throws (default 200 ms, doubling, capped at 30 s, jittered). */
  retryBaseMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/**
 * The Bus port in process, for the standalone deployment and unit tests, with Kafka's semantics:
 * partitions by key hash (order per key), consumer groups that split partitions and keep committed
 * offsets, broadcast readers, pause/resume, and at-least-once redelivery when `onBatch` throws.
 * "Durable" here means appended to this process's memory: it does not survive a restart.
 */
export class MemoryBus implements Bus {
  readonly name = 'bus';
  private readonly topics = new Map<string, TopicState>();
  private readonly groups = new Map<string, GroupState>();
  private readonly consumptions = new Set<MemoryConsumption>();
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private started = false;
  private stopped = false;

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.prefix = options.topicPrefix ?? '';
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'memory-bus' });
  }

  async start(): Promise<void> {
    if (this.stopped) throw new BusError('bus_stopped', 'the in-process bus was stopped', false);
    this.started = true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled([...this.consumptions].map((c) => c.stop()));
  }

  health(): Health {
    if (this.stopped) return { state: 'error', detail: 'stopped' };
    if (!this.started) return { state: 'error', detail: 'not started' };
    const stuck = [...this.consumptions].filter((c) => !c.healthy());
    if (stuck.length > 0) return { state: 'error', detail: `${stuck.length} consumers not running` };
    return { state: 'ok' };
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const retain = this.options.retainRecords ?? 100_000;
    for (const spec of specs) {
      const name = topicName(this.prefix, spec.name);
      if (this.topics.has(name)) continue;
      this.topics.set(name, {
        name,
        partitions: Array.from(
          { length: spec.partitions },
          () => new PartitionLog(retain, spec.compacted ?? false),
        ),
        roundRobin: 0,
        listeners: new Set(),
      });
    }
  }

  async publish(topic: string, records: OutgoingRecord[]): Promise<void> {
    if (!this.started || this.stopped)
      throw new BusError('bus_stopped', 'the in-process bus is not running', false);
    const state = this.requireTopic(topic);
    const count = state.partitions.length;
    const timestamp = this.clock.now();
    for (const r of records) {
      const partition = r.key === null ? state.roundRobin++ % count : hashKey(r.key) % count;
      state.partitions[partition]!.append({
        topic,
        partition,
        key: r.key,
        value: typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : Buffer.from(r.value),
        headers: { ...(r.headers ?? {}) },
        timestamp,
      });
    }
    for (const wake of state.listeners) wake();
  }

  async consume(options: ConsumeOptions): Promise<Consumption> {
    if (!this.started || this.stopped)
      throw new BusError('bus_stopped', 'the in-process bus is not running', false);
    const topic = this.requireTopic(options.topic);
    let group: GroupState | null = null;
    if (options.group !== null) {
      const key = `${topic.name}\u0000${options.group}`;
      group = this.groups.get(key) ?? { committed: new Map(), members: [], mutex: new Mutex() };
      this.groups.set(key, group);
    }
    const consumption = new MemoryConsumption({
      topic,
      group,
      options,
      maxBatchSize: this.options.maxBatchSize ?? 500,
      retryBaseMs: this.options.retryBaseMs ?? 200,
      logger: this.log.child({ topic: topic.name, group: options.group ?? '(broadcast)' }),
      onStopped: () => this.consumptions.delete(consumption),
    });
    this.consumptions.add(consumption);
    await consumption.start();
    return consumption;
  }

  private requireTopic(logical: string): TopicState {
    const state = this.topics.get(topicName(this.prefix, logical));
    if (!state)
      throw new BusError('bus_topic_unknown', `topic ${logical} does not exist (ensureTopics first)`, false);
    return state;
  }
}
