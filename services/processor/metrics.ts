import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The processor's Prometheus series. Partition and reason labels are bounded sets. */
export class ProcessorMetrics {
  /** highWatermark − next offset to process, per partition of metrics.raw. */
  readonly lag: Gauge<'partition'>;
  /** Records by outcome: accepted, duplicate, late, dlq. */
  readonly records: Counter<'outcome'>;
  /** Records set aside to metrics.dlq, by reason code. */
  readonly deadLetters: Counter<'reason'>;
  /** Failed sink writes (each is retried), by step. */
  readonly sinkFailures: Counter<'step'>;
  /** Partitions currently paused because their outputs could not be written yet. */
  readonly pausedPartitions: Gauge;
  readonly batchSeconds: Histogram;
  readonly outputs: Counter<'kind'>;
  /** Partitions gained and lost in rebalances (a storm shows as a climbing `revoked`). */
  readonly assignments: Counter<'change'>;
  /** Command records (alert acknowledgements) by outcome: applied, unchanged (a replay), dlq. */
  readonly commands: Counter<'outcome'>;
  /** Events checked against the store for dedup (observed before their module's dedup horizon). */
  readonly dedupLookups: Counter;
  /** (agency, eventId) pairs held in the dedup memory of this member's partitions. */
  readonly dedupMemory: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.lag = new Gauge({
      name: 'glasshouse_processor_consumer_lag',
      help: 'Records of metrics.raw not yet processed (high watermark minus next offset), per partition',
      labelNames: ['partition'],
      registers,
    });
    this.records = new Counter({
      name: 'glasshouse_processor_records_total',
      help: 'metrics.raw records handled, by outcome (accepted, duplicate, late, dlq)',
      labelNames: ['outcome'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'glasshouse_processor_dead_letters_total',
      help: 'Records sent to metrics.dlq, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.sinkFailures = new Counter({
      name: 'glasshouse_processor_sink_failures_total',
      help: 'Failed output writes (retried with backoff while the partition is paused), by step',
      labelNames: ['step'],
      registers,
    });
    this.pausedPartitions = new Gauge({
      name: 'glasshouse_processor_paused_partitions',
      help: 'Partitions paused while their outputs wait for the store or bus',
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'glasshouse_processor_batch_seconds',
      help: 'Time to process one batch, outputs acknowledged',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.outputs = new Counter({
      name: 'glasshouse_processor_outputs_total',
      help: 'Outputs written, by kind (metric_events, rollups, alerts, performance_updates)',
      labelNames: ['kind'],
      registers,
    });
    this.assignments = new Counter({
      name: 'glasshouse_processor_partition_changes_total',
      help: 'Partitions of metrics.raw assigned to or revoked from this member',
      labelNames: ['change'],
      registers,
    });
    this.commands = new Counter({
      name: 'glasshouse_processor_commands_total',
      help: 'Command records on metrics.raw (alert acknowledgements), by outcome (applied, unchanged, dlq)',
      labelNames: ['outcome'],
      registers,
    });
    this.dedupLookups = new Counter({
      name: 'glasshouse_processor_dedup_lookups_total',
      help: 'Events checked against the store for dedup (observed before their module dedup horizon)',
      registers,
    });
    this.dedupMemory = new Gauge({
      name: 'glasshouse_processor_dedup_memory_events',
      help: '(agency, eventId) pairs held in the dedup memory of the assigned partitions',
      registers,
    });
  }
}
