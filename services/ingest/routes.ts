import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal, RegistryView } from '../ports/registry.js';
import { GlasshouseError } from '../runtime/errors.js';
import { errorAnswer } from '../runtime/http.js';
import { type BodyOptions, type IngestBody, installBodyParsers } from './body.js';
import type { RateLimiter } from './rate-limit.js';
import { type SubmitDeps, submitEvents } from './submit.js';

export interface IngestRouteDeps extends SubmitDeps {
  auth: Pick<RegistryView, 'authenticate'>;
  limiter: RateLimiter;
  body: BodyOptions;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The agency behind the bearer key, set by the ingest route's auth hook. */
    agency?: Principal;
  }
}

/**
 * The hooks every agency endpoint's scope shares: the key (401/403) and an empty rate bucket (429)
 * before the body is read, and the answer counted; an answer given before the body was read in
 * full closes the connection rather than drain it.
 */
export function agencyHooks(
  scope: FastifyInstance,
  deps: Pick<IngestRouteDeps, 'auth' | 'limiter' | 'clock' | 'metrics'>,
): void {
  scope.decorateRequest('agency', undefined);
  scope.addHook('onRequest', async (request, reply) => {
    const agency = await authenticate(deps.auth, request);
    const admit = deps.limiter.hasTokens(agency.id, deps.clock.now());
    if (!admit.ok) return rateLimited(reply, admit.retryAfterMs);
    request.agency = agency;
  });
  scope.addHook('onSend', async (request, reply) => {
    if (reply.statusCode === 408 || reply.statusCode === 413 || !request.raw.complete)
      reply.header('connection', 'close');
    deps.metrics.requests.inc({ status: String(reply.statusCode) });
  });
}

/**
 * `POST /v1/metrics` (DESIGN.md, "Ingest"), in its own Fastify scope so its body parsers apply to
 * it alone. Order: key (401/403) and an empty bucket (429) before the body is read; content type
 * (415), size (413), time (408) and syntax (400) while reading; then the per-event rate limit, the
 * per-event verdicts, and the publish (202 once confirmed, 503 otherwise).
 */
export function ingestRoutes(deps: IngestRouteDeps) {
  return async (scope: FastifyInstance): Promise<void> => {
    installBodyParsers(scope, deps.body);
    agencyHooks(scope, deps);
    scope.post('/v1/metrics', async (request, reply) => {
      const agency = request.agency!;
      const body = request.body as IngestBody | undefined;
      if (!body || !Array.isArray(body.events)) {
        throw new GlasshouseError(
          'unsupported_media_type',
          'send application/json, application/x-ndjson or text/csv',
          { status: 415 },
        );
      }
      const { events } = body;
      const admit = deps.limiter.take(agency.id, events.length, deps.clock.now());
      if (!admit.ok) return rateLimited(reply, admit.retryAfterMs);
      try {
        return reply.code(202).send(await submitEvents(deps, agency.id, events, body.lines));
      } catch (err) {
        const { status, body } = errorAnswer(err);
        if (status === 503) reply.header('retry-after', '1');
        request.log.warn({ err, agency: agency.id }, 'ingest publish failed');
        return reply.code(status).send(body);
      }
    });
  };
}

/** The agency behind `Authorization: Bearer <key>`: 401 without a known key, 403 for another kind of key. */
export async function authenticate(
  auth: Pick<RegistryView, 'authenticate'>,
  request: FastifyRequest,
): Promise<Principal> {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
  if (!match)
    throw new GlasshouseError('unauthorized', 'send Authorization: Bearer <agency key>', { status: 401 });
  const principal = await auth.authenticate(match[1]!, request.ip);
  if (!principal) throw new GlasshouseError('unauthorized', 'unknown or revoked key', { status: 401 });
  if (principal.kind !== 'agency')
    throw new GlasshouseError('forbidden', 'only an agency key may report metrics', { status: 403 });
  return principal;
}

/** The 429 answer, with Retry-After in whole seconds. */
export function rateLimited(reply: FastifyReply, retryAfterMs: number): FastifyReply {
  return reply
    .code(429)
    .header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))))
    .send({
      error: {
        code: 'rate_limited',
        message: 'this agency is over its event rate; retry after the given seconds',
      },
    });
}
