import type { KeyObject } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AuditClient } from '../../services/api/audit-client.js';
import { BusRegistryView } from '../../services/api/registry-view.js';
import { apiRole } from '../../services/api/role.js';
import type { Bus } from '../../services/ports/bus.js';
import { type Clock, systemClock } from '../../services/ports/clock.js';
import type { Store } from '../../services/ports/store.js';
import { topicSpecs } from '../../services/ports/topics.js';
import { openTableFileWriter } from '../../services/runtime/adapters.js';
import { loadConfig } from '../../services/runtime/config.js';
import { HttpServer } from '../../services/runtime/http.js';
import { Lifecycle } from '../../services/runtime/lifecycle.js';
import type { ApiRoleContext } from '../../services/runtime/role.js';
import { testCommandKey } from './command-key.js';

export interface RunningApi {
  url: string;
  registry: BusRegistryView;
  audit: AuditClient;
  lifecycle: Lifecycle;
  /** JSON request helper: answers status and parsed body. */
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string },
    // biome-ignore lint/suspicious/noExplicitAny: answers are JSON that each test inspects as it expects
  ): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * One api replica as main wires it (registry view, audit client, api role, HTTP on an ephemeral
 * port) over a bus and store the caller owns and has started. Several replicas may share one bus
 * (in-process) or each have their own client of one Kafka cluster.
 */
export async function startApi(options: {
  bus: Bus;
  store: Store;
  adminToken: string;
  /** Extra GLASSHOUSE_* variables for the config (e.g. webhook retry timing). */
  env?: Record<string, string>;
  /** The key acknowledgement commands are signed with (default: the shared test key). */
  commandKey?: Buffer;
  /** The audit log's signing key (default: one of this replica only). */
  logKey?: KeyObject;
  /** The replica's clock (default: the system clock). */
  clock?: Clock;
}): Promise<RunningApi> {
  const { bus, store, adminToken } = options;
  const clock = options.clock ?? systemClock;
  await bus.ensureTopics(topicSpecs);
  const logger = pino({ level: process.env.GLASSHOUSE_TEST_LOG ?? 'silent' });
  const config = {
    ...loadConfig({ ...options.env, GLASSHOUSE_ADMIN_TOKEN: adminToken }),
    port: 0,
    role: 'api' as const,
  };
  const metrics = new Registry();
  const lifecycle = new Lifecycle(logger, 10_000);
  const registry = lifecycle.add(new BusRegistryView({ bus, store, logger, adminToken }));
  const audit = lifecycle.add(new AuditClient({ bus, clock, logger }));
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger, metrics, lifecycle, version: 'test' });
  const ctx: ApiRoleContext = {
    config,
    logger,
    metrics,
    clock,
    bus,
    store,
    registry,
    audit,
    commandKey: options.commandKey ?? testCommandKey,
    http,
    lifecycle,
    tableFiles: openTableFileWriter,
    ...(options.logKey ? { logKey: options.logKey } : {}),
  };
  await apiRole(ctx);
  lifecycle.add(http);
  await lifecycle.start();
  const url = `http://127.0.0.1:${http.port()}`;
  return {
    url,
    registry,
    audit,
    lifecycle,
    async call(method, path, { token, body, raw } = {}) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(url + path, {
        method,
        headers,
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    stop: () => lifecycle.stop(),
  };
}
