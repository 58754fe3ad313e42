import { resolve } from 'node:path';
import type { Bus } from '../ports/bus.js';
import type { Store } from '../ports/store.js';
import type { TableFileWriter } from '../ports/table-files.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export interface ChosenAdapters {
  bus: Bus;
  store: Store;
  /** One line for the startup log: which adapters, and where the data lives. */
  description: string;
}

/**
 * Distributed when GLASSHOUSE_KAFKA_BROKERS / GLASSHOUSE_CLICKHOUSE_URL are set, embedded otherwise:
 * the in-process bus and a DuckDB file under the data directory.
 */
export async function chooseAdapters(config: Config, logger: Logger): Promise<ChosenAdapters> {
  let bus: Bus;
  let busText: string;
  if (config.kafka) {
    const { KafkaBus } = await import('../adapters/kafka/index.js');
    bus = new KafkaBus({
      brokers: config.kafka.brokers,
      clientId: `glasshouse-${config.role}`,
      topicPrefix: config.topicPrefix,
      logger,
    });
    busText = `kafka (${config.kafka.brokers.join(',')})`;
  } else {
    const { MemoryBus } = await import('../adapters/memory/index.js');
    // Durable: an event answered 202 is fsynced in this log and replayed after a kill (memory-bus.ts).
    // Batches of up to 2,000 records: each batch is one DuckDB transaction per output table, so larger
    // batches amortize the commits (bench/standalone: ~2x the sustained rate of the default 500).
    const dataDir = resolve(config.dataDir, 'bus');
    bus = new MemoryBus({ topicPrefix: config.topicPrefix, dataDir, logger, maxBatchSize: 2_000 });
    busText = `in-process bus (log in ${dataDir})`;
  }
  let store: Store;
  let storeText: string;
  if (config.clickhouse) {
    const { ClickHouseStore } = await import('../adapters/clickhouse/index.js');
    store = new ClickHouseStore({ ...config.clickhouse, logger });
    storeText = `clickhouse (${config.clickhouse.url}, database ${config.clickhouse.database})`;
  } else {
    const { DuckDbStore } = await import('../adapters/duckdb/index.js');
    const path = resolve(config.dataDir, 'glasshouse.duckdb');
    store = new DuckDbStore({
      path,
      logger,
      memoryLimit: config.duckdbMemory,
      threads: config.duckdbThreads,
    });
    storeText = `duckdb (${path})`;
  }
  return { bus, store, description: `bus: ${busText}; store: ${storeText}` };
}

/** Parquet files are written with DuckDB on every deployment (an embedded writer beside ClickHouse too). */
export async function openTableFileWriter(dir: string): Promise<TableFileWriter> {
  const { ParquetWriter } = await import('../adapters/duckdb/index.js');
  return ParquetWriter.open(dir);
}
