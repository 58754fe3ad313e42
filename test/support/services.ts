import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startLocalClickHouse } from '../../infra/clickhouse/local.js';
import { startLocalKafka } from '../../infra/kafka/local.js';

const exec = promisify(execFile);

export interface TestServices {
  kafkaBrokers: string;
  clickhouseUrl: string;
  /** Stops whatever this run started; leaves external endpoints alone. */
  stop(): Promise<void>;
}

type Stopper = () => Promise<void>;

/**
 * Finds Kafka and ClickHouse for a test run, in the documented order:
 * 1. endpoints from GLASSHOUSE_KAFKA_BROKERS / GLASSHOUSE_CLICKHOUSE_URL;
 * 2. testcontainers, when a Docker engine answers;
 * 3. local processes started here (Kafka from Maven jars, Debian's clickhouse-server).
 * Prints which source it used for each.
 */
export async function resolveTestServices(): Promise<TestServices> {
  const stoppers: Stopper[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
  };
  try {
    const docker = await dockerAnswers();
    const kafkaBrokers = await resolveKafka(docker, stoppers);
    const clickhouseUrl = await resolveClickHouse(docker, stoppers);
    return { kafkaBrokers, clickhouseUrl, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function resolveKafka(docker: boolean, stoppers: Stopper[]): Promise<string> {
  const fromEnv = process.env.GLASSHOUSE_KAFKA_BROKERS;
  if (fromEnv) {
    report('kafka', `GLASSHOUSE_KAFKA_BROKERS (${fromEnv})`);
    return fromEnv;
  }
  if (docker) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const container = await new KafkaContainer('confluentinc/cp-kafka:7.7.1').withKraft().start();
    stoppers.push(async () => void (await container.stop()));
    const brokers = `${container.getHost()}:${container.getMappedPort(9093)}`;
    report('kafka', `testcontainers (${brokers})`);
    return brokers;
  }
  const kafka = await startLocalKafka();
  stoppers.push(() => kafka.stop());
  report('kafka', `local process from Maven jars (${kafka.brokers})`);
  return kafka.brokers;
}

async function resolveClickHouse(docker: boolean, stoppers: Stopper[]): Promise<string> {
  const fromEnv = process.env.GLASSHOUSE_CLICKHOUSE_URL;
  if (fromEnv) {
    report('clickhouse', `GLASSHOUSE_CLICKHOUSE_URL (${fromEnv})`);
    return fromEnv;
  }
  if (docker) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('clickhouse/clickhouse-server:24.8')
      .withExposedPorts(8123)
      .withWaitStrategy(Wait.forHttp('/ping', 8123))
      .start();
    stoppers.push(async () => void (await container.stop()));
    const url = `http://${container.getHost()}:${container.getMappedPort(8123)}`;
    report('clickhouse', `testcontainers (${url})`);
    return url;
  }
  const clickhouse = await startLocalClickHouse();
  stoppers.push(() => clickhouse.stop());
  report('clickhouse', `local clickhouse-server (${clickhouse.url})`);
  return clickhouse.url;
}

async function dockerAnswers(): Promise<boolean> {
  try {
    await exec('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function report(service: string, source: string): void {
  process.stdout.write(`[test services] ${service}: ${source}\n`);
}
