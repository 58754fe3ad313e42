import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import type { Bus, ConsumeOptions, Consumption, OutgoingRecord, TopicSpec } from '../../ports/bus.js';
import { BusError } from '../../ports/bus-errors.js';
import { type Clock, systemClock } from '../../ports/clock.js';
import type { Health } from '../../ports/lifecycle.js';
import { topicName } from '../../ports/topics.js';
import { Mutex } from '../../runtime/sync.js';
import { type GroupState, MemoryConsumption, type TopicState } from './memory-consumption.js';
import { type CommittedOffsets, OffsetsFile } from './offsets-file.js';
import { type DamageFix, PartitionFile } from './partition-file.js';
import { hashKey, PartitionLog } from './partition-log.js';

export interface MemoryBusOptions {
  /** Prepended to topic names as on Kafka, so logs and tests read the same. */
  topicPrefix?: string;
  /**
   * Records kept in memory per partition (compacted topics keep the latest per key first). Default
   * 100,000; 10,000 for a plain topic of a durable bus, whose records are on disk and never trimmed
   * before every group has read them, so memory holds only what broadcast readers may still want.
   */
  retainRecords?: number;
  /** Most records in one delivered batch (default 500). */
  maxBatchSize?: number;
  /** First retry delay after `onBatch` throws (default 200 ms, doubling, capped at 30 s, jittered). */
  retryBaseMs?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * Makes the bus durable: every partition is also an append-only log under this directory
   * (`<dir>/<topic>/<partition>/<first offset>.log`), `publish` resolves only after its records are
   * fsynced (group commit), committed offsets are kept in `<dir>/offsets.json`, and a restart
   * reloads the logs and resumes every group at its committed offset. Without it, memory only.
   */
  dataDir?: string;
  /** Size at which a durable partition starts a new segment file (default 2 MiB: what a restart reloads of a topic no group reads). */
  segmentBytes?: number;
}

/**
 * The Bus port in process, for the standalone deployment and unit tests, with Kafka's semantics:
 * partitions by key hash (order per key), consumer groups that split partitions and keep committed
 * offsets, broadcast readers, pause/resume, and at-least-once redelivery when `onBatch` throws.
 * Without `dataDir`, "durable" means appended to this process's memory: it does not survive a restart.
 *
 * With `dataDir` (the standalone deployment), an acknowledged publish survives SIGKILL. Why a log
 * here rather than writing events to DuckDB before answering 202: the standalone process then runs
 * exactly the distributed code path (ingest publishes, the processor consumes, validates, dedups and
 * stores, committing after the store acknowledged), with the bus log playing Kafka's part, so there
 * is one engine path and one dedup design to prove. Logs are bounded: segments below every group's
 * persisted committed offset are deleted, group-less topics keep only their open segment (their
 * readers start at the end), and compacted topics rewrite closed segments to the latest record per key.
 */
export class MemoryBus implements Bus {
  readonly name = 'bus';
  private readonly topics = new Map<string, TopicState>();
  private readonly groups = new Map<string, GroupState>();
  private readonly consumptions = new Set<MemoryConsumption>();
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Durable mode: the disk log of each partition, by physical topic name. */
  private readonly files = new Map<string, PartitionFile[]>();
  private offsetsFile: OffsetsFile | undefined;
  private readonly compactedTopics = new Set<string>();
  /** Durable mode: offsets an earlier run committed, adopted by groups as they join. */
  private stored: CommittedOffsets = new Map();
  private started = false;
  private stopped = false;
  /** Durable mode: torn records cut off the logs when they were opened, for `health()`. */
  private readonly truncations: string[] = [];

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.prefix = options.topicPrefix ?? '';
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'memory-bus' });
  }

  async start(): Promise<void> {
    if (this.stopped) throw new BusError('bus_stopped', 'the in-process bus was stopped', false);
    const dir = this.options.dataDir;
    if (dir && !this.offsetsFile) {
      await mkdir(dir, { recursive: true });
      this.offsetsFile = new OffsetsFile(
        dir,
        () => this.committedOffsets(),
        (written) => this.truncate(written),
      );
      this.stored = await this.offsetsFile.load();
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled([...this.consumptions].map((c) => c.stop()));
    this.offsetsFile?.schedule();
    await this.offsetsFile?.flush();
    await Promise.allSettled([...this.files.values()].flat().map((f) => f.close()));
  }

  health(): Health {
    if (this.stopped) return { state: 'error', detail: 'stopped' };
    if (!this.started) return { state: 'error', detail: 'not started' };
    const stuck = [...this.consumptions].filter((c) => !c.healthy());
    if (stuck.length > 0) return { state: 'error', detail: `${stuck.length} consumers not running` };
    // Working, but records were cut at startup: an operator should know, and `/readyz` says so.
    if (this.truncations.length > 0)
      return { state: 'degraded', detail: `log repaired at startup: ${this.truncations.join('; ')}` };
    return { state: 'ok' };
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const spec of specs) {
      const name = topicName(this.prefix, spec.name);
      if (this.topics.has(name)) continue;
      const durable = this.options.dataDir !== undefined;
      const retain = this.options.retainRecords ?? (durable && !spec.compacted ? 10_000 : 100_000);
      const state: TopicState = {
        name,
        partitions: Array.from(
          { length: spec.partitions },
          (_, p) =>
            new PartitionLog(
              retain,
              spec.compacted ?? false,
              durable ? () => this.floor(name, p) : undefined,
            ),
        ),
        roundRobin: 0,
        listeners: new Set(),
      };
      if (spec.compacted) this.compactedTopics.add(name);
      if (this.options.dataDir) await this.openFiles(state, spec, this.options.dataDir);
      this.topics.set(name, state);
    }
  }

  /** Reloads a topic's partitions from disk and keeps their files for appends. */
  private async openFiles(state: TopicState, spec: TopicSpec, dir: string): Promise<void> {
    const files: PartitionFile[] = [];
    try {
      await this.openPartitions(state, spec, dir, files);
    } catch (err) {
      await Promise.allSettled(files.map((f) => f.close()));
      throw err;
    }
    this.files.set(state.name, files);
    if (files.some((f) => f.end > 0)) this.log.info({ topic: state.name }, 'reloaded from disk');
  }

  /** Opens each partition's file into `files`, checking it against the offsets groups committed. */
  private async openPartitions(
    state: TopicState,
    spec: TopicSpec,
    dir: string,
    files: PartitionFile[],
  ): Promise<void> {
    for (const [p, log] of state.partitions.entries()) {
      const { file, records, next, truncation } = await PartitionFile.open({
        dir: join(dir, state.name, String(p)),
        segmentBytes: this.options.segmentBytes ?? 2 * 1024 * 1024,
        compacted: spec.compacted ?? false,
        onDurable: (stored) => {
          log.appendStored(stored.map((r) => ({ ...r, topic: spec.name, partition: p })));
          for (const wake of state.listeners) wake();
        },
      });
      log.appendStored(
        records.map((r) => ({ ...r, topic: spec.name, partition: p })),
        next,
      );
      files.push(file);
      // A group committed past the end: records it counts as read are gone, and new records would
      // reuse their offsets and be skipped as read. Nothing is safe to publish until that is resolved.
      for (const [group, committed] of this.stored.get(state.name) ?? []) {
        const offset = committed.get(p) ?? 0;
        if (offset <= file.end) continue;
        const offsetsPath = join(dir, 'offsets.json');
        throw new BusError(
          'bus_log_damaged',
          `bus log damaged: ${state.name}/${p} ends at offset ${file.end}, but group "${group}" has read up to offset ${offset} (${offsetsPath}): records ${file.end} to ${offset - 1} are missing from ${join(dir, state.name, String(p))}, so new records would take offsets already counted as read. Not starting; restore that directory from the backup offsets.json was taken with, or, to accept the loss, set partition "${p}" of group "${group}" on topic "${state.name}" in ${offsetsPath} to ${file.end} and delete its "crc32" field.`,
          false,
          undefined,
          {
            kind: 'offset_past_end',
            offsetsFile: offsetsPath,
            topic: state.name,
            partition: p,
            group,
            logEnd: file.end,
            committed: offset,
          } satisfies DamageFix,
        );
      }
      if (truncation) {
        await file.cutTorn();
        this.log.warn(
          { topic: state.name, partition: p, ...truncation },
          `bus log: cut a torn record off the end of ${state.name}/${p} at offset ${truncation.offset} (${truncation.bytes} bytes at byte ${truncation.atByte} of ${truncation.path})`,
        );
        this.truncations.push(
          `${state.name}/${p} cut at offset ${truncation.offset} (${truncation.bytes} bytes of a torn record)`,
        );
      }
    }
  }

  /** The lowest committed offset of any group on this partition (Infinity without groups). */
  private floor(topic: string, partition: number): number {
    let low = Number.POSITIVE_INFINITY;
    for (const [key, group] of this.groups) {
      if (!key.startsWith(`${topic}\u0000`)) continue;
      low = Math.min(low, group.committed.get(partition) ?? 0);
    }
    for (const committed of this.stored.get(topic)?.values() ?? [])
      low = Math.min(low, committed.get(partition) ?? 0);
    return low;
  }

  private committedOffsets(): CommittedOffsets {
    const out: CommittedOffsets = new Map();
    // Offsets of groups that have not rejoined in this run are kept as they were.
    for (const [topic, groups] of this.stored) out.set(topic, new Map(groups));
    for (const [key, group] of this.groups) {
      const [topic, name] = key.split('\u0000') as [string, string];
      const groups = out.get(topic) ?? new Map<string, Map<number, number>>();
      out.set(topic, groups);
      groups.set(name, new Map(group.committed));
    }
    return out;
  }

  /** After offsets are on disk: deletes segments every group has read past (or old ones without groups). */
  private truncate(written: CommittedOffsets): void {
    for (const [topic, files] of this.files) {
      const groups = [...(written.get(topic)?.values() ?? [])];
      const compacted = this.compactedTopics.has(topic);
      files.forEach((file, p) => {
        if (groups.length === 0) {
          // Read only by broadcast readers, which start at the end: no closed segment is worth
          // loading at the next start.
          if (!compacted) void file.dropBelow(Number.POSITIVE_INFINITY, 0).catch(() => {});
          return;
        }
        const low = Math.min(...groups.map((g) => g.get(p) ?? 0));
        void file.dropBelow(low).catch(() => {});
      });
    }
  }

  async publish(topic: string, records: OutgoingRecord[]): Promise<void> {
    if (!this.started || this.stopped)
      throw new BusError('bus_stopped', 'the in-process bus is not running', false);
    const state = this.requireTopic(topic);
    const count = state.partitions.length;
    const timestamp = this.clock.now();
    const files = this.files.get(state.name);
    if (files) {
      const byPartition = new Map<
        number,
        Array<{ key: string | null; value: Buffer; headers: Record<string, string>; timestamp: number }>
      >();
      for (const r of records) {
        const partition = r.key === null ? state.roundRobin++ % count : hashKey(r.key) % count;
        const list = byPartition.get(partition) ?? [];
        byPartition.set(partition, list);
        list.push({
          key: r.key,
          value: typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : Buffer.from(r.value),
          headers: { ...(r.headers ?? {}) },
          timestamp,
        });
      }
      try {
        // Records become visible to consumers as each partition's fsync completes (see PartitionFile).
        await Promise.all([...byPartition].map(([p, list]) => files[p]!.append(list)));
      } catch (err) {
        throw new BusError(
          'bus_unavailable',
          `writing to ${topic} failed: ${(err as Error).message}`,
          true,
          err,
        );
      }
      return;
    }
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

  /** The partition `publish` puts a record with this key on (the same hash). */
  async partitionFor(topic: string, key: string): Promise<number> {
    return hashKey(key) % this.requireTopic(topic).partitions.length;
  }

  async consume(options: ConsumeOptions): Promise<Consumption> {
    if (!this.started || this.stopped)
      throw new BusError('bus_stopped', 'the in-process bus is not running', false);
    const topic = this.requireTopic(options.topic);
    let group: GroupState | null = null;
    if (options.group !== null) {
      const key = `${topic.name}\u0000${options.group}`;
      group = this.groups.get(key) ?? {
        committed: new Map(this.stored.get(topic.name)?.get(options.group) ?? []),
        members: [],
        mutex: new Mutex(),
      };
      if (this.offsetsFile) {
        const file = this.offsetsFile;
        group.onCommit = () => file.schedule();
      }
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
