import { knownEvents } from '../ports/event-queries.js';
import type { RoleFactory } from '../runtime/role.js';
import { defaultBodyOptions } from './body.js';
import { IngestMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { RecentEventIds } from './recent-event-ids.js';
import { ingestRoutes } from './routes.js';

/** A publish not confirmed within this long answers 503; below Fastify's 30 s request timeout. */
const publishTimeoutMs = 10_000;

/** The ingest role: `POST /v1/metrics` on the process's HTTP server, publishing to `metrics.raw`. */
export const ingestRole: RoleFactory = (ctx) => {
  const deps = {
    bus: ctx.bus,
    registry: ctx.registry,
    auth: ctx.registry,
    clock: ctx.clock,
    recent: new RecentEventIds(),
    metrics: new IngestMetrics(ctx.metrics),
    limiter: new RateLimiter(ctx.config.ingest.ratePerSecond, ctx.config.ingest.burst),
    body: defaultBodyOptions,
    publishTimeoutMs,
    known: (agencyId: string, refs: Array<{ moduleId: string; eventId: string }>) =>
      knownEvents(ctx.store, agencyId, refs),
  };
  ctx.http.app.register(ingestRoutes(deps));
};
