import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { toTimestamp } from '../../../schemas/common.js';
import { type Subscription, SubscriptionCreate } from '../../../schemas/subscriptions.js';
import type { Principal } from '../../ports/registry.js';
import { GlasshouseError } from '../../runtime/errors.js';
import { actorOf } from '../auth.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { slugParam } from '../routes/params.js';
import { activeSubscriptions, saveSubscription } from './store.js';

const SubscriptionId = z
  .string()
  .regex(/^sub-[a-f0-9]{16}$/, 'must be a subscription id such as sub-0123456789abcdef');

/** An admin, or the overseer the path names (an overseer manages its own subscriptions only). */
async function adminOrOverseer(
  deps: ApiDeps,
  request: FastifyRequest,
  overseerId: string,
): Promise<Principal> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
  if (!match)
    throw new GlasshouseError(
      'unauthorized',
      'this call needs "Authorization: Bearer <admin or overseer token>"',
      {
        status: 401,
      },
    );
  const principal = await deps.registry.authenticate(match[1]!, request.ip);
  if (!principal)
    throw new GlasshouseError('unauthorized', 'the credential is unknown, wrong or revoked', { status: 401 });
  if (principal.kind === 'admin' || (principal.kind === 'overseer' && principal.id === overseerId))
    return principal;
  throw new GlasshouseError(
    'forbidden',
    `only an admin or overseer "${overseerId}" may manage these subscriptions`,
    {
      status: 403,
    },
  );
}

/** What the public audit trail says of a subscription: never the address, only its SHA-256. */
function audited(s: Subscription) {
  const { address, ...rest } = s;
  return { ...rest, addressSha256: createHash('sha256').update(address.toLowerCase(), 'utf8').digest('hex') };
}

/**
 * `POST /v1/overseers/:id/subscriptions` (201 with the subscription), `GET` (the list) and
 * `DELETE /v1/overseers/:id/subscriptions/:subscriptionId`: an overseer's e-mail notifications,
 * managed by an admin or that overseer. Creation and deletion are audited (the address hashed).
 */
export function subscriptionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { id: string } }>(
    '/v1/overseers/:id/subscriptions',
    { bodyLimit: 16 * 1024 },
    async (request, reply) => {
      const overseerId = slugParam(request.params.id, 'id');
      const principal = await adminOrOverseer(deps, request, overseerId);
      const body = parseOr400(SubscriptionCreate, request.body, 'the subscription');
      const subscription: Subscription = {
        id: `sub-${randomBytes(8).toString('hex')}`,
        overseerId,
        ...body,
        createdAt: toTimestamp(deps.clock.now()),
      };
      await deps.audit.submit(actorOf(principal), {
        op: 'audit.append',
        action: 'subscription.create',
        subject: `subscription:${subscription.id}`,
        before: null,
        after: audited(subscription),
        rationale: null,
      });
      await saveSubscription(deps.store, subscription, false, deps.clock.now());
      return reply.code(201).send({ subscription });
    },
  );

  app.get<{ Params: { id: string } }>('/v1/overseers/:id/subscriptions', async (request) => {
    const overseerId = slugParam(request.params.id, 'id');
    await adminOrOverseer(deps, request, overseerId);
    return { items: await activeSubscriptions(deps.store, overseerId) };
  });

  app.delete<{ Params: { id: string; subscriptionId: string } }>(
    '/v1/overseers/:id/subscriptions/:subscriptionId',
    async (request) => {
      const overseerId = slugParam(request.params.id, 'id');
      const principal = await adminOrOverseer(deps, request, overseerId);
      const id = parseOr400(SubscriptionId, request.params.subscriptionId, 'the subscription id');
      const subscription = (await activeSubscriptions(deps.store, overseerId)).find((s) => s.id === id);
      if (!subscription) throw new GlasshouseError('not_found', `no subscription "${id}"`, { status: 404 });
      await deps.audit.submit(actorOf(principal), {
        op: 'audit.append',
        action: 'subscription.delete',
        subject: `subscription:${id}`,
        before: audited(subscription),
        after: null,
        rationale: null,
      });
      await saveSubscription(deps.store, subscription, true, deps.clock.now());
      return { subscription };
    },
  );
}
