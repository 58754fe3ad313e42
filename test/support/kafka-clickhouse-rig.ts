import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { inject } from 'vitest';
import type { PolicyModuleInput } from '../../schemas/registry.js';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { topicSpecs } from '../../services/ports/topics.js';
import { FixtureRegistry } from './registry-fixture.js';

export interface KafkaClickHouseRig {
  bus: KafkaBus;
  store: ClickHouseStore;
  /** The environment a processor process needs to run on this rig (`runGlasshouse`). */
  env: NodeJS.ProcessEnv;
}

/**
 * A topic prefix and a database of their own on the run's Kafka and ClickHouse, with these modules
 * stored as the registry has them; what it starts is pushed onto `toStop`.
 */
export async function kafkaClickHouseRig(
  name: string,
  modules: PolicyModuleInput[],
  toStop: Array<{ stop(): Promise<void> }>,
): Promise<KafkaClickHouseRig> {
  const logger = pino({ level: 'silent' });
  const suffix = randomBytes(4).toString('hex');
  const prefix = `proc-${name}-${suffix}`;
  const database = `proc_${name}_${suffix}`;
  const bus = new KafkaBus({
    brokers: inject('kafkaBrokers').split(','),
    clientId: `test-${name}`,
    topicPrefix: prefix,
    logger,
  });
  await bus.start();
  toStop.push(bus);
  await bus.ensureTopics(topicSpecs);
  const store = new ClickHouseStore({ url: inject('clickhouseUrl'), database, logger });
  await store.start();
  toStop.push(store);
  await store.migrate();
  const registry = new FixtureRegistry({ modules });
  await store.insert(
    'module_versions',
    registry
      .modules()
      .map((m) => ({ module_id: m.id, version: m.version, updated_ms: Date.parse(m.updatedAt), body: m })),
  );
  const env = {
    GLASSHOUSE_KAFKA_BROKERS: inject('kafkaBrokers'),
    GLASSHOUSE_CLICKHOUSE_URL: inject('clickhouseUrl'),
    GLASSHOUSE_CLICKHOUSE_DATABASE: database,
    GLASSHOUSE_TOPIC_PREFIX: prefix,
    GLASSHOUSE_PORT: '0',
  };
  return { bus, store, env };
}
