import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { type Running, startGlasshouse } from '../../services/main.js';
import { loadConfig, type Role } from '../../services/runtime/config.js';
import { createLogger } from '../../services/runtime/logger.js';

/** Where a deployment answers: the same URL three times in standalone, one per role when distributed. */
export interface Deployment {
  name: string;
  adminToken: string;
  apiUrl: string;
  ingestUrl: string;
  liveUrl: string;
  /** Stops every process and starts them again on the same data (nothing cached); the URLs change. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const logger = () => createLogger(process.env.GLASSHOUSE_LOG_LEVEL ?? 'warn');

/** Standalone: one process, all roles on one port, the durable in-process bus and a DuckDB file. */
export async function standalone(): Promise<Deployment> {
  const adminToken = `e2e-admin-${randomBytes(12).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'gh-e2e-'));
  const config = loadConfig({ GLASSHOUSE_ADMIN_TOKEN: adminToken }, { port: 0, dataDir });
  let running = await startGlasshouse(config, logger());
  const url = `http://127.0.0.1:${running.port}/`;
  const deployment: Deployment = {
    name: 'standalone',
    adminToken,
    apiUrl: url,
    ingestUrl: url,
    liveUrl: url,
    restart: async () => {
      await running.stop();
      running = await startGlasshouse(config, logger());
      const next = `http://127.0.0.1:${running.port}/`;
      Object.assign(deployment, { apiUrl: next, ingestUrl: next, liveUrl: next });
    },
    stop: async () => {
      await running.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return deployment;
}

/**
 * Distributed: each role in its own server (own HTTP port, own registry view), talking only through
 * Kafka and ClickHouse, with a topic prefix and database of its own.
 */
export async function distributed(kafkaBrokers: string, clickhouseUrl: string): Promise<Deployment> {
  const adminToken = `e2e-admin-${randomBytes(12).toString('hex')}`;
  const suffix = randomBytes(4).toString('hex');
  const database = `e2e_${suffix}`;
  const env = {
    GLASSHOUSE_ADMIN_TOKEN: adminToken,
    GLASSHOUSE_KAFKA_BROKERS: kafkaBrokers,
    GLASSHOUSE_CLICKHOUSE_URL: clickhouseUrl,
    GLASSHOUSE_CLICKHOUSE_DATABASE: database,
    GLASSHOUSE_TOPIC_PREFIX: `e2e-${suffix}`,
  };
  let started: Running[] = [];
  const urls = new Map<Role, string>();
  const startAll = async () => {
    try {
      // The api first: it runs the audit sequencer and migrates the database the others read.
      for (const role of ['api', 'processor', 'ingest', 'gateway'] as const) {
        const running = await startGlasshouse(loadConfig(env, { role, port: 0 }), logger());
        started.push(running);
        urls.set(role, `http://127.0.0.1:${running.port}/`);
      }
    } catch (err) {
      for (const r of started.reverse()) await r.stop();
      throw err;
    }
  };
  await startAll();
  const deployment: Deployment = {
    name: 'distributed',
    adminToken,
    apiUrl: urls.get('api')!,
    ingestUrl: urls.get('ingest')!,
    liveUrl: urls.get('gateway')!,
    restart: async () => {
      for (const r of started.reverse()) await r.stop();
      started = [];
      await startAll();
      Object.assign(deployment, {
        apiUrl: urls.get('api')!,
        ingestUrl: urls.get('ingest')!,
        liveUrl: urls.get('gateway')!,
      });
    },
    stop: async () => {
      for (const r of started.reverse()) await r.stop();
      const client = createClient({ url: clickhouseUrl });
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    },
  };
  return deployment;
}
