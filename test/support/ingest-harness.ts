import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { PolicyModuleInput } from '../../schemas/registry.js';
import { defaultBodyOptions } from '../../services/ingest/body.js';
import { IngestMetrics } from '../../services/ingest/metrics.js';
import { RateLimiter } from '../../services/ingest/rate-limit.js';
import { RecentEventIds } from '../../services/ingest/recent-event-ids.js';
import { type IngestRouteDeps, ingestRoutes } from '../../services/ingest/routes.js';
import type { Bus, IncomingRecord } from '../../services/ports/bus.js';
import type { Clock } from '../../services/ports/clock.js';
import { HttpServer } from '../../services/runtime/http.js';
import { Lifecycle } from '../../services/runtime/lifecycle.js';
import { FixtureRegistry } from './registry-fixture.js';

export const transitKey = 'transit-agency-key-0123456789';
export const permitsKey = 'permits-office-key-0123456789';
export const overseerKey = 'overseer-token-0123456789';

const goal = (id: string, metric: string) => ({
  id,
  metric,
  unit: '%',
  direction: 'increase' as const,
  target: 90,
  tolerance: 0.05,
  window: '1h',
  aggregation: 'mean' as const,
});

const modules: PolicyModuleInput[] = [
  {
    id: 'bus-punctuality',
    domain: 'transit',
    title: 'Bus punctuality',
    owner: 'ada',
    agencies: ['transit-agency'],
    goals: [goal('ontime', 'on_time_rate')],
    dimensions: [
      { name: 'line', description: 'Bus line', publish: 'open' },
      { name: 'd', description: 'Free text, for limit tests', publish: 'open' },
      { name: 'depot', description: 'Depot', values: ['north', 'south'], publish: 'aggregate' },
      { name: 'driverId', description: 'Driver', pattern: 'drv-[0-9]{1,6}', publish: 'never' },
    ],
    constraints: [
      { id: 'cost', metric: 'cost_per_trip', op: '<=', bound: 12, window: '24h', aggregation: 'mean' },
    ],
  },
  {
    id: 'tram-punctuality',
    domain: 'transit',
    title: 'Tram punctuality',
    owner: 'ada',
    agencies: ['transit-agency'],
    goals: [goal('ontime', 'on_time_rate')],
  },
  {
    id: 'permit-speed',
    domain: 'housing',
    title: 'Building permit speed',
    owner: 'grace',
    agencies: ['permits-office'],
    goals: [goal('days', 'decision_days')],
  },
  {
    id: 'old-scheme',
    domain: 'transit',
    title: 'Retired scheme',
    owner: 'ada',
    agencies: ['transit-agency'],
    status: 'retired',
    goals: [goal('ontime', 'on_time_rate')],
  },
];

/** The registry ingest tests run against: two agencies, an overseer, three active modules and a retired one. */
export function ingestRegistry(): FixtureRegistry {
  return new FixtureRegistry({
    modules,
    principals: [
      { kind: 'agency', id: 'transit-agency', name: 'Transit Agency', secret: transitKey },
      { kind: 'agency', id: 'permits-office', name: 'Permits Office', secret: permitsKey },
      { kind: 'overseer', id: 'oversight-desk', name: 'Oversight Desk', secret: overseerKey },
    ],
  });
}

export interface IngestServer {
  url: string;
  http: HttpServer;
  metrics: Registry;
  stop(): Promise<void>;
}

/** Runs `POST /v1/metrics` on the real HTTP server (port 0) over the given bus. */
export async function startIngestServer(
  bus: Bus,
  overrides: Partial<Pick<IngestRouteDeps, 'body' | 'publishTimeoutMs' | 'limiter' | 'recent'>> & {
    clock?: Clock;
  } = {},
): Promise<IngestServer> {
  const logger = pino({ level: 'silent' });
  const metrics = new Registry();
  const lifecycle = new Lifecycle(logger, 5_000);
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger, metrics, lifecycle, version: 'test' });
  const registry = ingestRegistry();
  http.app.register(
    ingestRoutes({
      bus,
      registry,
      auth: registry,
      clock: overrides.clock ?? { now: () => Date.now() },
      recent: overrides.recent ?? new RecentEventIds(),
      metrics: new IngestMetrics(metrics),
      limiter: overrides.limiter ?? new RateLimiter(1_000_000, 1_000_000),
      body: overrides.body ?? defaultBodyOptions,
      publishTimeoutMs: overrides.publishTimeoutMs ?? 10_000,
    }),
  );
  await http.start();
  return { url: `http://127.0.0.1:${http.port()}`, http, metrics, stop: () => http.stop() };
}

/** A well-formed event for `bus-punctuality` (unless overridden). */
export function event(eventId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId,
    moduleId: 'bus-punctuality',
    metric: 'on_time_rate',
    value: 91.5,
    observedAt: Date.now(),
    ...overrides,
  };
}

/** POSTs a body to /v1/metrics. */
export async function postMetrics(
  url: string,
  body: string | Record<string, unknown>,
  options: { key?: string | null; contentType?: string } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  const key = options.key === undefined ? transitKey : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${url}/v1/metrics`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Reads a topic from the beginning (broadcast) until `done(records)` holds or the timeout passes. */
export async function readTopicUntil(
  bus: Bus,
  topic: string,
  done: (records: IncomingRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  let wake: () => void = () => {};
  const consumption = await bus.consume({
    topic,
    group: null,
    fromBeginning: true,
    onBatch: async (batch) => {
      records.push(...batch.records);
      wake();
    },
  });
  try {
    const deadline = Date.now() + timeoutMs;
    while (!done(records)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out after ${timeoutMs} ms with ${records.length} records on ${topic}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return records;
  } finally {
    await consumption.stop();
  }
}
