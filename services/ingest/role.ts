import { knownEvents } from '../ports/event-queries.js';
import type { RoleFactory } from '../runtime/role.js';
import { defaultBodyOptions } from './body.js';
import { IngestMetrics } from './metrics.js';
import { otlpRoutes } from './otlp/routes.js';
import { SeriesStates } from './otlp/series-store.js';
import { RateLimiter } from './rate-limit.js';
import { RecentEventIds } from './recent-event-ids.js';
import { ingestRoutes } from './routes.js';

/** An OTLP body may inflate (gzip) to at most this many bytes; protobuf and JSON both fit ~1000 points many times. */
const otlpDecodedLimitBytes = 8 * 1024 * 1024;

/** A publish not confirmed within this long answers 503; below Fastify's 30 s request timeout. */
const publishTimeoutMs = 10_000;

/**
 * The ingest role: `POST /v1/metrics` and the OTLP receiver `POST /v1/otlp/v1/metrics` on the
 * process's HTTP server, publishing to `metrics.raw` (one rate limit and duplicate memory for both).
 */
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
  ctx.http.app.register(
    otlpRoutes({
      ...deps,
      modules: ctx.registry,
      series: new SeriesStates(ctx.store),
      decodedLimitBytes: otlpDecodedLimitBytes,
    }),
  );
};
