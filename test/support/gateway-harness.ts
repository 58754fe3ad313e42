import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { vi } from 'vitest';
import WebSocket from 'ws';
import { AlertEvent } from '../../schemas/alert.js';
import type { AuditEntry } from '../../schemas/audit.js';
import { PerformanceUpdate, type PerformanceUpdateMs, storedUpdate } from '../../schemas/performance.js';
import type { LiveLimits } from '../../services/gateway/limits.js';
import { type Gateway, wireGateway } from '../../services/gateway/role.js';
import type { AuditRecord, AuditTrail } from '../../services/ports/audit.js';
import type { Bus } from '../../services/ports/bus.js';
import { systemClock } from '../../services/ports/clock.js';
import type { RegistryView } from '../../services/ports/registry.js';
import type { Store } from '../../services/ports/store.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { loadConfig } from '../../services/runtime/config.js';
import { HttpServer } from '../../services/runtime/http.js';
import { Lifecycle } from '../../services/runtime/lifecycle.js';
import type { RoleContext } from '../../services/runtime/role.js';
import { testCommandKey } from './command-key.js';

/** An audit trail that keeps records in memory, so tests can see what was audited. */
export class RecordingAudit implements AuditTrail {
  readonly records: AuditRecord[] = [];
  async append(record: AuditRecord): Promise<AuditEntry> {
    this.records.push(record);
    const seq = this.records.length;
    return {
      seq,
      at: new Date().toISOString(),
      ...record,
      rationale: record.rationale,
      before: record.before ?? null,
      after: record.after ?? null,
      prevHash: '0'.repeat(64),
      hash: '0'.repeat(64),
    };
  }
}

// The gateway only reads storage (its start snapshot, alerts it does not hold); by default an empty one.
const emptyStore: Store = {
  name: 'store',
  start: async () => {},
  stop: async () => {},
  health: () => ({ state: 'ok' }),
  migrate: async () => ({ applied: [], current: [] }),
  insert: async () => {
    throw new Error('the gateway does not write to the store');
  },
  select: async () => [],
  maxPerGroup: async () => new Map(),
  daily: async () => [],
  countPerGroup: async () => new Map(),
  expire: async (table, beforeMs) => ({ table, beforeMs, rows: 0, partitions: [] }),
};

export interface RunningGateway {
  port: number;
  url: string;
  gateway: Gateway;
  audit: RecordingAudit;
  metrics: Registry;
  /** The Prometheus text of this gateway's registry. */
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the gateway role alone on an ephemeral port, over a bus the caller owns (and starts). */
export async function startGateway(options: {
  bus: Bus;
  registry: RegistryView;
  limits?: Partial<LiveLimits>;
  /** The store the gateway reads at start and for acknowledgements (default: an empty one). */
  store?: Store;
  /** How long an acknowledgement waits for its version (default 10 s). */
  ackWaitMs?: number;
  allowedOrigins?: string[];
  /** Extra routes on the same server, registered before it listens (e.g. API fixtures for the dashboard). */
  routes?: (app: FastifyInstance) => void;
  /** The key acknowledgement commands are signed with (default: the shared test key). */
  commandKey?: Buffer;
}): Promise<RunningGateway> {
  await options.bus.ensureTopics(topicSpecs);
  const logger = pino({ level: process.env.GLASSHOUSE_TEST_LOG ?? 'silent' });
  const config = { ...loadConfig({}), port: 0, allowedOrigins: options.allowedOrigins };
  const metrics = new Registry();
  const lifecycle = new Lifecycle(logger, 5_000);
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger, metrics, lifecycle, version: 'test' });
  const audit = new RecordingAudit();
  const ctx: RoleContext = {
    config,
    logger,
    metrics,
    clock: systemClock,
    bus: options.bus,
    store: options.store ?? emptyStore,
    registry: options.registry,
    audit,
    commandKey: options.commandKey ?? testCommandKey,
    http,
    lifecycle,
  };
  const gateway = await wireGateway(ctx, {
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.ackWaitMs === undefined ? {} : { ackWaitMs: options.ackWaitMs }),
  });
  options.routes?.(http.app);
  lifecycle.add(http);
  await lifecycle.start();
  const port = http.port();
  return {
    port,
    url: `ws://127.0.0.1:${port}/v1/live`,
    gateway,
    audit,
    metrics,
    metricsText: () => metrics.metrics(),
    stop: () => lifecycle.stop(),
  };
}

type Message = Record<string, unknown> & { type: string };

/** A test client for `/v1/live`: records every message and close, and waits on conditions. */
export class LiveClient {
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Message);
      this.wake();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<LiveClient> {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused with ${res.statusCode}`)),
      );
    });
    return new LiveClient(socket);
  }

  send(body: unknown): void {
    this.socket.send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  /** Waits until `predicate` holds for the recorded messages; fails after `timeoutMs`. */
  async until<T>(
    what: string,
    predicate: (messages: Message[]) => T | undefined | false,
    timeoutMs = 5_000,
  ): Promise<T> {
    const check = () => predicate(this.messages);
    const first = check();
    if (first) return first;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; last messages: ${JSON.stringify(this.messages.slice(-3))}`,
          ),
        );
      }, timeoutMs);
      const waiter = () => {
        const value = check();
        if (value) {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(value);
        }
      };
      this.waiters.add(waiter);
    });
  }

  /** The first message of `type` (and matching `extra`) at or after index `from`. */
  async next(
    type: string,
    extra: (m: Message) => boolean = () => true,
    from = 0,
    timeoutMs?: number,
  ): Promise<Message> {
    return this.until(
      `a ${type} message`,
      (ms) => ms.slice(from).find((m) => m.type === type && extra(m)),
      timeoutMs,
    );
  }

  async closedWith(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return this.until('the socket to close', () => this.closed, timeoutMs);
  }

  close(): void {
    this.socket.terminate();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Waits until `check` returns a truthy value; fails after `timeoutMs`. */
export function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await check();
      if (!value) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/** A valid PerformanceUpdate for the sample registry's `bus-punctuality/ontime`, with overrides. */
export function sampleUpdate(overrides: Partial<PerformanceUpdate> = {}): PerformanceUpdate {
  return PerformanceUpdate.parse({
    moduleId: 'bus-punctuality',
    moduleVersion: 1,
    goalId: 'ontime',
    ruleKind: 'goal',
    metric: 'on_time_rate',
    aggregation: 'mean',
    window: '1h',
    asOf: new Date().toISOString(),
    value: 91,
    count: 120,
    target: 90,
    shortfall: 0,
    status: 'on_track',
    stagnating: false,
    trend: 0.5,
    ...overrides,
  });
}

/** A valid firing AlertEvent for `bus-punctuality/ontime`, with overrides. */
export function sampleAlert(overrides: Partial<AlertEvent> = {}): AlertEvent {
  const now = new Date().toISOString();
  return AlertEvent.parse({
    alertId: 'a'.repeat(32),
    version: 1,
    moduleId: 'bus-punctuality',
    moduleVersion: 1,
    ruleId: 'ontime',
    kind: 'goal_deviation',
    severity: 'critical',
    state: 'firing',
    owner: 'ada',
    openedAt: now,
    updatedAt: now,
    observed: 62,
    target: 90,
    shortfall: 0.31,
    message: 'On-time rate 62% is below the 90% target (more than 5% short) for 5 minutes',
    ...overrides,
  });
}

/** An update as the processor publishes it: asOf in epoch ms (`asOfMs`). */
export function updateRecord(u: PerformanceUpdate): PerformanceUpdateMs {
  return storedUpdate(u, Date.parse(u.asOf));
}

/**
 * Publishes updates and alert versions the way the processor does (JSON, key moduleId; an update's
 * asOf in epoch ms, as `asOfMs`).
 */
export async function publishLive(bus: Bus, items: Array<PerformanceUpdate | AlertEvent>): Promise<void> {
  for (const item of items) {
    const alert = 'alertId' in item;
    await bus.publish(alert ? Topics.alertsEvents : Topics.performanceUpdates, [
      { key: item.moduleId, value: JSON.stringify(alert ? item : updateRecord(item)) },
    ]);
  }
}
