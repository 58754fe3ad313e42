import { gunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IngestResponse } from '../../../schemas/metric-event.js';
import { maxEventsPerRequest } from '../../../schemas/metric-event.js';
import { type MappedPoint, mapExport } from '../../core/otlp/map.js';
import { cumulativeDelta, type SeriesState } from '../../core/otlp/series.js';
import type { RegistryView } from '../../ports/registry.js';
import { GlasshouseError, UnavailableError, ValidationError } from '../../runtime/errors.js';
import { errorAnswer } from '../../runtime/http.js';
import { type BodyOptions, readBody, tooLarge } from '../body.js';
import type { RateLimiter } from '../rate-limit.js';
import { agencyHooks, rateLimited } from '../routes.js';
import { type SubmitDeps, submitEvents } from '../submit.js';
import {
  decodeExportRequest,
  encodeExportResponse,
  type OtlpEncoding,
  type PartialSuccess,
} from './codec.js';
import type { SeriesStates } from './series-store.js';

export interface OtlpRouteDeps extends SubmitDeps {
  auth: Pick<RegistryView, 'authenticate'>;
  modules: Pick<RegistryView, 'modules'>;
  limiter: RateLimiter;
  body: BodyOptions;
  series: SeriesStates;
  /** Largest body once gzip is undone (413 above it). */
  decodedLimitBytes: number;
}

interface OtlpBody {
  encoding: OtlpEncoding;
  bytes: Buffer;
}

export const otlpMetricsPath = '/v1/otlp/v1/metrics';

const contentTypes: Record<OtlpEncoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/**
 * `POST /v1/otlp/v1/metrics`, the OTLP/HTTP metrics receiver (OTLP 1.x), in its own Fastify scope:
 * the agency's key as for `/v1/metrics` (401/403, then 429 on an empty bucket), protobuf or JSON
 * (415 otherwise), gzip or identity (413 past the limit, before or after inflating), 400 for a body
 * that is not an `ExportMetricsServiceRequest`. The data points the agency's modules map become
 * metric events that go through the same per-event validation, duplicate check and publish as
 * `/v1/metrics` (503 when the bus cannot confirm); what no module takes, or validation refuses, is
 * counted in `partialSuccess` with the reasons.
 */
export function otlpRoutes(deps: OtlpRouteDeps) {
  return async (scope: FastifyInstance): Promise<void> => {
    scope.removeAllContentTypeParsers();
    for (const encoding of ['protobuf', 'json'] as const) {
      scope.addContentTypeParser(contentTypes[encoding], (request, payload, done) => {
        readBody(request, payload, deps.body)
          .then((bytes) => inflate(request, bytes, deps.decodedLimitBytes))
          .then(
            (bytes) => done(null, { encoding, bytes } satisfies OtlpBody),
            (err: Error) => done(err, undefined),
          );
      });
    }
    agencyHooks(scope, deps);
    scope.post(otlpMetricsPath, async (request, reply) => {
      const agency = request.agency!;
      const body = request.body as OtlpBody | undefined;
      if (!body) {
        throw new GlasshouseError(
          'unsupported_media_type',
          'send application/x-protobuf or application/json',
          {
            status: 415,
          },
        );
      }
      const exported = decodeExportRequest(body.bytes, body.encoding);
      const modules = deps.modules.modules().filter((m) => m.otlp?.length && m.agencies.includes(agency.id));
      const { points, refused } = mapExport(exported, modules);
      if (points.length > maxEventsPerRequest) {
        refused.set(
          `more than ${maxEventsPerRequest} data points in one export`,
          points.length - maxEventsPerRequest,
        );
        points.length = maxEventsPerRequest;
      }
      if (points.length > 0) {
        const admit = deps.limiter.take(agency.id, points.length, deps.clock.now());
        if (!admit.ok) return rateLimited(reply, admit.retryAfterMs);
      }
      try {
        const answer = await takePoints(deps, agency.id, points, refused);
        return reply
          .code(200)
          .header('content-type', contentTypes[body.encoding])
          .send(encodeExportResponse(partialSuccess(refused, answer), body.encoding));
      } catch (err) {
        const { status, body: error } = errorAnswer(err);
        if (status === 503) reply.header('retry-after', '1');
        request.log.warn({ err, agency: agency.id }, 'otlp ingest failed');
        return reply.code(status).send(error);
      }
    });
  };
}

/**
 * Turns the mapped points into events (cumulative sums into deltas from the stored series state),
 * submits them like `/v1/metrics` does and, once the bus confirmed them, stores the series' new
 * state. Were that store write to fail, the exporter's retry would compute the same deltas again
 * with the same eventIds: duplicates, never a second count.
 */
async function takePoints(
  deps: OtlpRouteDeps,
  agencyId: string,
  points: MappedPoint[],
  refused: Map<string, number>,
): Promise<IngestResponse> {
  const cumulative = points.filter((p) => p.kind === 'cumulative');
  let states: Map<string, SeriesState>;
  try {
    states = await deps.series.load(agencyId, [...new Set(cumulative.map((p) => p.seriesId))]);
  } catch (err) {
    throw new UnavailableError('store_unavailable', 'the series state could not be read; retry later', err);
  }
  const changed = new Map<string, SeriesState>();
  const events: Record<string, unknown>[] = [];
  // Oldest first within a series, so several points of one series in one export chain their deltas.
  const ordered = [...points].sort((a, b) =>
    a.seriesId !== b.seriesId
      ? a.seriesId < b.seriesId
        ? -1
        : 1
      : Number(BigInt(a.timeNs) - BigInt(b.timeNs)),
  );
  for (const point of ordered) {
    let value = point.value;
    if (point.kind === 'cumulative') {
      const verdict = cumulativeDelta(states.get(point.seriesId), point);
      if (!verdict.ok) {
        refused.set(reasons[verdict.reason], (refused.get(reasons[verdict.reason]) ?? 0) + 1);
        continue;
      }
      value = verdict.delta;
      states.set(point.seriesId, verdict.next);
      changed.set(point.seriesId, verdict.next);
    }
    events.push({
      eventId: point.eventId,
      moduleId: point.moduleId,
      metric: point.metric,
      value,
      observedAt: point.observedAt,
      ...(point.dimensions ? { dimensions: point.dimensions } : {}),
    });
  }
  const answer =
    events.length > 0
      ? await submitEvents(deps, agencyId, events)
      : { accepted: 0, duplicates: 0, rejected: [] };
  try {
    await deps.series.save(agencyId, changed);
  } catch (err) {
    throw new UnavailableError('store_unavailable', 'the series state could not be stored; retry later', err);
  }
  return answer;
}

const reasons = {
  stale_point: 'a cumulative point older than the series’ last one',
  negative_cumulative: 'a monotonic sum with a negative value',
} as const;

function partialSuccess(refused: Map<string, number>, answer: IngestResponse): PartialSuccess | undefined {
  for (const rejection of answer.rejected) {
    const reason = rejection.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    refused.set(reason, (refused.get(reason) ?? 0) + 1);
  }
  let rejectedDataPoints = 0;
  for (const n of refused.values()) rejectedDataPoints += n;
  if (rejectedDataPoints === 0) return undefined;
  const errorMessage = [...refused]
    .slice(0, 10)
    .map(([reason, n]) => `${n} × ${reason}`)
    .join('; ');
  return { rejectedDataPoints, errorMessage };
}

/** Undoes `Content-Encoding: gzip` within the limit; other encodings are 415. */
function inflate(request: FastifyRequest, bytes: Buffer, limit: number): Promise<Buffer> {
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity') return Promise.resolve(bytes);
  if (encoding !== 'gzip') {
    return Promise.reject(
      new GlasshouseError(
        'unsupported_media_type',
        `Content-Encoding "${encoding}" is not supported: send gzip or none`,
        {
          status: 415,
        },
      ),
    );
  }
  return new Promise((resolve, reject) => {
    gunzip(bytes, { maxOutputLength: limit }, (err, out) => {
      if (!err) resolve(out);
      else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') reject(tooLarge(limit));
      else
        reject(
          new ValidationError(`the gzip body could not be read: ${err.message}`, undefined, 'malformed_body'),
        );
    });
  });
}
