import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AuditClient } from './api/audit-client.js';
import { BusRegistryView } from './api/registry-view.js';
import { apiRole } from './api/role.js';
import { derivePrecheckKey } from './core/auth/secrets.js';
import { DemoComponent, ephemeralAdminToken, localBaseUrl } from './demo/index.js';
import { gatewayRole } from './gateway/role.js';
import { ingestRole } from './ingest/role.js';
import { systemClock } from './ports/clock.js';
import type { Component } from './ports/lifecycle.js';
import { topicSpecs } from './ports/topics.js';
import { processorRole } from './processor/role.js';
import { chooseAdapters, openTableFileWriter } from './runtime/adapters.js';
import {
  adminCheckFile,
  adminHashFile,
  readAdminCheck,
  resolveBootstrapAdmin,
  writeDurably,
} from './runtime/admin-token.js';
import { resolveCommandKey } from './runtime/command-key.js';
import type { Config, Role } from './runtime/config.js';
import { ConfigError } from './runtime/errors.js';
import { HttpServer } from './runtime/http.js';
import { Lifecycle } from './runtime/lifecycle.js';
import { resolveLogKey } from './runtime/log-key.js';
import type { Logger } from './runtime/logger.js';
import { createMetricsRegistry } from './runtime/metrics.js';
import { makePrivateDir } from './runtime/private-dir.js';
import type { ApiRoleContext, RoleFactory } from './runtime/role.js';

export const version = '0.1.0';

// main builds the registry view and the audit client with their write side; only the api role uses it.
const factories: Record<Exclude<Role, 'all'>, RoleFactory<ApiRoleContext>> = {
  api: apiRole,
  ingest: ingestRole,
  processor: processorRole,
  gateway: gatewayRole,
};

export interface Running {
  /** The port the HTTP server is bound to. */
  port: number;
  lifecycle: Lifecycle;
  stop(): Promise<void>;
  /** The dashboard's URL (`/` of the one HTTP server). */
  dashboardUrl: string;
  /**
   * Standalone only: the bootstrap admin token generated on this first run (its hash is kept under
   * the data directory). The one time it exists in plain text; the caller shows it once.
   */
  generatedAdminToken?: string;
}

/** Picks adapters and roles from the config, starts everything in order, and returns once ready. */
export async function startGlasshouse(config: Config, logger: Logger): Promise<Running> {
  const lifecycle = new Lifecycle(logger, config.shutdownTimeoutMs);
  // Standalone: no Kafka and no ClickHouse configured; everything (bus log, DuckDB, admin token hash) lives in the data dir.
  const standalone = !config.kafka && !config.clickhouse;
  if (!config.clickhouse || !config.kafka) await ensureWritableDir(config.dataDir);
  const metrics = createMetricsRegistry(config.role);
  const { bus, store, description } = await chooseAdapters(config, logger);
  const dataDir = resolve(config.dataDir);
  logger.info(
    { role: config.role, adapters: description, ...(config.clickhouse && config.kafka ? {} : { dataDir }) },
    `glasshouse ${version} starting (${description})`,
  );

  // Standalone: the DuckDB file's lock doubles as the data directory's lock. Taken before the bus
  // log is opened, it stops a second process on the same directory before it touches the log.
  if (standalone) lifecycle.add(store);
  lifecycle.add(bus);
  lifecycle.add(step('topics', () => bus.ensureTopics(topicSpecs)));
  if (!standalone) lifecycle.add(store);
  lifecycle.add(
    step('migrations', async () => {
      const report = await store.migrate();
      if (report.applied.length) logger.info({ applied: report.applied }, 'store migrations applied');
    }),
  );
  // Standalone without GLASSHOUSE_ADMIN_TOKEN: a token generated on the first run, its hash kept after.
  const admin = standalone
    ? await resolveBootstrapAdmin(config.adminToken, config.dataDir)
    : { token: config.adminToken, hash: undefined, generated: false };
  if (admin.hash !== undefined)
    logger.info({ file: adminHashFile(dataDir) }, 'admin token: the one printed on the first run');
  // The demo seeds through the admin API; on runs after the first only a hash is kept, so the demo
  // gets a random token of its own that lives in this process's memory only.
  const demoToken = config.demo && config.role === 'all' ? (admin.token ?? ephemeralAdminToken()) : undefined;
  // Roles that exchange commands (gateway/api → processor) must derive the same key.
  const commandKey = await resolveCommandKey({
    configured: config.commandKey,
    adminToken: config.adminToken,
    adminHashFile: admin.hash !== undefined || admin.generated ? adminHashFile(config.dataDir) : undefined,
  });
  if (commandKey.source === 'random' && config.role !== 'all')
    logger.warn(
      'no GLASSHOUSE_COMMAND_KEY or GLASSHOUSE_ADMIN_TOKEN: commands are signed with a key of this process only, so acknowledgements from other processes are refused',
    );
  const audit = new AuditClient({ bus, clock: systemClock, logger });
  // Every role reads the registry and may append to the audit trail; both are ready before any role starts.
  const registry = lifecycle.add(
    new BusRegistryView({
      bus,
      store,
      logger,
      adminToken: admin.token ?? demoToken,
      adminTokenHash: admin.hash,
      // Shared by every role that shares the command key, so a check made by the api role holds everywhere.
      precheckKey: derivePrecheckKey(commandKey.key),
      // Credentials issued before pre-checks existed get theirs on their first successful check here.
      keepSecretCheck: async (kind, id, version, secretCheck) => {
        await audit.submit(`${kind}:${id}`, { op: 'principal.check', kind, id, version, secretCheck });
      },
      ...(standalone
        ? {
            adminTokenCheck: await readAdminCheck(dataDir),
            saveAdminTokenCheck: (check: string) => writeDurably(adminCheckFile(dataDir), `${check}\n`),
          }
        : {}),
    }),
  );
  lifecycle.add(audit);
  // The audit log's key: configured, or kept under the data directory in standalone. A distributed
  // api role without GLASSHOUSE_LOG_KEY_FILE signs with a key of its process only (it warns).
  const logKey =
    config.auditLog.keyFile !== undefined || (standalone && (config.role === 'all' || config.role === 'api'))
      ? await resolveLogKey(config.auditLog.keyFile, dataDir)
      : undefined;
  if (logKey?.generated) logger.info({ file: logKey.file }, 'audit log key generated');
  const http = new HttpServer({ host: config.host, port: config.port, logger, metrics, lifecycle, version });
  const ctx: ApiRoleContext = {
    config,
    logger,
    metrics,
    clock: systemClock,
    bus,
    store,
    registry,
    audit,
    commandKey: commandKey.key,
    http,
    lifecycle,
    tableFiles: openTableFileWriter,
    ...(logKey ? { logKey: logKey.key } : {}),
  };
  const selected =
    config.role === 'all' ? (Object.keys(factories) as Array<keyof typeof factories>) : [config.role];
  for (const role of selected) await factories[role](ctx);
  // Last to start, first to stop: no request is accepted before every part is ready, and none after drain begins.
  lifecycle.add(http);
  if (config.demo) {
    // After the server: the demo uses the public API like any agency, and stops before the server drains.
    lifecycle.add(
      new DemoComponent({
        baseUrl: () => localBaseUrl(config.host, http.port()),
        adminToken: () => demoToken,
        logger,
        clock: systemClock,
        keyFile: DemoComponent.keyFileIn(config.dataDir),
      }),
    );
  }
  await lifecycle.start();
  return {
    port: http.port(),
    lifecycle,
    stop: () => lifecycle.stop(),
    dashboardUrl: localBaseUrl(config.host, http.port()),
    ...(admin.generated && admin.token !== undefined ? { generatedAdminToken: admin.token } : {}),
  };
}

/** A one-shot startup step as a component (e.g. migrations), so it runs in order with the rest. */
function step(name: string, run: () => Promise<void>): Component {
  let done = false;
  return {
    name,
    start: async () => {
      await run();
      done = true;
    },
    stop: async () => {},
    health: () => (done ? { state: 'ok' } : { state: 'error', detail: 'not run' }),
  };
}

async function ensureWritableDir(dir: string): Promise<void> {
  const path = resolve(dir);
  try {
    await makePrivateDir(path);
    await access(path, constants.W_OK);
  } catch (err) {
    throw new ConfigError(
      `GLASSHOUSE_DATA_DIR: cannot write to ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}
