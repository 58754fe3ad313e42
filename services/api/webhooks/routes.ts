import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AlertKind } from '../../../schemas/alert.js';
import { toTimestamp } from '../../../schemas/common.js';
import { WebhookCreate, WebhookDelivery } from '../../../schemas/webhooks.js';
import { GlasshouseError } from '../../runtime/errors.js';
import { actorOf, requirePrincipal } from '../auth.js';
import { IntParam } from '../bounds.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { newWebhookSecret } from './signing.js';
import {
  activeWebhooks,
  findWebhook,
  publicWebhook,
  recentDeliveries,
  type StoredWebhook,
  saveWebhook,
} from './store.js';

const recentShown = 20;
const WebhookId = z.string().regex(/^wh-[a-f0-9]{16}$/, 'must be a webhook id such as wh-0123456789abcdef');
const DeliveriesQuery = z.strictObject({
  state: WebhookDelivery.shape.state.optional(),
  limit: IntParam(1, 1000).optional(),
});

/**
 * How the public audit trail names a webhook's URL: its scheme, its host name and the SHA-256 of the
 * whole URL (so an admin holding the URL can match it), never userinfo, port, path or query, which
 * carry receivers' tokens and internal layout.
 */
export function auditedTarget(url: string): { scheme: string; host: string; urlSha256: string } {
  const parsed = new URL(url);
  return {
    scheme: parsed.protocol.replace(/:$/, ''),
    host: parsed.hostname,
    urlSha256: createHash('sha256').update(url, 'utf8').digest('hex'),
  };
}

function webhookIdParam(value: string): string {
  return parseOr400(WebhookId, value, 'the webhook id');
}

async function existing(deps: ApiDeps, id: string): Promise<StoredWebhook> {
  const found = await findWebhook(deps.store, id);
  if (!found || found.deleted) throw new GlasshouseError('not_found', `no webhook "${id}"`, { status: 404 });
  return found.webhook;
}

/**
 * `POST /v1/webhooks`, `GET /v1/webhooks`, `GET /v1/webhooks/:id/deliveries`, `DELETE /v1/webhooks/:id`
 * (admin). Creation and deletion are audited (without the secret).
 */
export function webhookRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/v1/webhooks', { bodyLimit: 16 * 1024 }, async (request, reply) => {
    const principal = await requirePrincipal(deps.registry, request, 'admin');
    const body = parseOr400(WebhookCreate, request.body, 'the webhook');
    const webhook: StoredWebhook = {
      id: `wh-${randomBytes(8).toString('hex')}`,
      url: body.url,
      secret: body.secret ?? newWebhookSecret(),
      events: body.events ? [...new Set(body.events)] : [...AlertKind.options],
      format: body.format,
      createdAt: toTimestamp(deps.clock.now()),
      createdBy: actorOf(principal),
    };
    await deps.audit.submit(actorOf(principal), {
      op: 'audit.append',
      action: 'webhook.create',
      subject: `webhook:${webhook.id}`,
      before: null,
      after: {
        id: webhook.id,
        ...auditedTarget(webhook.url),
        events: webhook.events,
        format: webhook.format,
      },
      rationale: null,
    });
    await saveWebhook(deps.store, webhook, false, deps.clock.now());
    return reply.code(201).send({ webhook: publicWebhook(webhook, []), secret: webhook.secret });
  });

  app.get('/v1/webhooks', async (request) => {
    await requirePrincipal(deps.registry, request, 'admin');
    const webhooks = await activeWebhooks(deps.store);
    const items = await Promise.all(
      webhooks.map(async (w) => publicWebhook(w, await recentDeliveries(deps.store, w.id, recentShown))),
    );
    return { items };
  });

  app.get<{ Params: { id: string } }>('/v1/webhooks/:id/deliveries', async (request) => {
    await requirePrincipal(deps.registry, request, 'admin');
    const id = webhookIdParam(request.params.id);
    const query = parseOr400(DeliveriesQuery, request.query, 'the query');
    await existing(deps, id);
    return { items: await recentDeliveries(deps.store, id, query.limit ?? 100, query.state) };
  });

  app.delete<{ Params: { id: string } }>('/v1/webhooks/:id', async (request) => {
    const principal = await requirePrincipal(deps.registry, request, 'admin');
    const id = webhookIdParam(request.params.id);
    const webhook = await existing(deps, id);
    await deps.audit.submit(actorOf(principal), {
      op: 'audit.append',
      action: 'webhook.delete',
      subject: `webhook:${id}`,
      before: { id, ...auditedTarget(webhook.url), events: webhook.events },
      after: null,
      rationale: null,
    });
    await saveWebhook(deps.store, webhook, true, deps.clock.now());
    return { webhook: publicWebhook(webhook, await recentDeliveries(deps.store, id, recentShown)) };
  });
}
