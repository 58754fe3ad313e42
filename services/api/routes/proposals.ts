import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  ApprovalBody,
  type Proposal,
  ProposalListQuery,
  RejectionBody,
  WithdrawBody,
} from '../../../schemas/proposals.js';
import { ModulePut } from '../../../schemas/registry.js';
import { bootstrapAdmin } from '../../core/auth/secrets.js';
import type { Principal } from '../../ports/registry.js';
import { GlasshouseError, ValidationError } from '../../runtime/errors.js';
import { actorOf, requirePrincipal } from '../auth.js';
import { type ApiDeps, parseOr400, write } from '../deps.js';
import { moduleBodyLimit, moduleId } from './modules.js';

const ProposalId = z.string().regex(/^p[0-9a-f]{16}$/, 'must be a proposal id like p0123456789abcdef');

function proposalId(value: string): string {
  const parsed = ProposalId.safeParse(value);
  if (!parsed.success)
    throw new ValidationError('the proposal id is not valid', [
      { path: 'id', message: parsed.error.issues[0]!.message },
    ]);
  return parsed.data;
}

/**
 * Proposals are made and judged by people: a named admin (`POST /v1/admins`), never the bootstrap
 * token, which nobody in particular holds.
 */
async function namedAdmin(deps: ApiDeps, request: FastifyRequest): Promise<Principal> {
  const principal = await requirePrincipal(deps.registry, request, 'admin');
  if (principal.id === bootstrapAdmin.id)
    throw new GlasshouseError(
      'named_admin_required',
      'proposals are made and approved by named admins (POST /v1/admins), so the audit log names a person',
      { status: 403 },
    );
  return principal;
}

function objectBody(body: unknown): object {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new ValidationError('the body must be a JSON object');
  return body;
}

/**
 * `POST /v1/modules/:id/proposals`, `POST /v1/proposals/:pid/approvals|rejections|withdraw` (named
 * admins), `GET /v1/proposals[?state=&moduleId=]` and `GET /v1/proposals/:pid` (public). The sequencer
 * decides every step (core/registry/decide-proposal.ts); the proposal clock expires and applies them.
 */
export function proposalRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { id: string } }>(
    '/v1/modules/:id/proposals',
    { bodyLimit: moduleBodyLimit },
    async (request, reply) => {
      const id = moduleId(request.params.id);
      const principal = await namedAdmin(deps, request);
      const body = objectBody(request.body);
      const put = parseOr400(ModulePut, 'id' in body ? body : { ...body, id }, 'the proposed module');
      if (put.id !== id)
        throw new ValidationError('the body id differs from the path', [
          { path: 'id', message: `must be "${id}" as in the path` },
        ]);
      const pid = `p${randomBytes(8).toString('hex')}`;
      const result = await write(deps, actorOf(principal), { op: 'proposal.create', id: pid, module: put });
      reply.code(201);
      return result.value as Proposal;
    },
  );

  app.post<{ Params: { pid: string } }>('/v1/proposals/:pid/approvals', async (request) => {
    const id = proposalId(request.params.pid);
    const principal = await namedAdmin(deps, request);
    const body = parseOr400(ApprovalBody, objectBody(request.body), 'the approval');
    const result = await write(deps, actorOf(principal), {
      op: 'proposal.approve',
      id,
      contentHash: body.contentHash,
      ...(body.note ? { note: body.note } : {}),
    });
    return result.value as Proposal;
  });

  app.post<{ Params: { pid: string } }>('/v1/proposals/:pid/rejections', async (request) => {
    const id = proposalId(request.params.pid);
    const principal = await namedAdmin(deps, request);
    const body = parseOr400(RejectionBody, objectBody(request.body), 'the rejection');
    const result = await write(deps, actorOf(principal), { op: 'proposal.reject', id, note: body.note });
    return result.value as Proposal;
  });

  app.post<{ Params: { pid: string } }>('/v1/proposals/:pid/withdraw', async (request) => {
    const id = proposalId(request.params.pid);
    const principal = await namedAdmin(deps, request);
    const body = parseOr400(WithdrawBody, objectBody(request.body), 'the withdrawal');
    const result = await write(deps, actorOf(principal), {
      op: 'proposal.withdraw',
      id,
      ...(body.note ? { note: body.note } : {}),
    });
    return result.value as Proposal;
  });

  app.get('/v1/proposals', async (request) => {
    const query = parseOr400(ProposalListQuery, request.query, 'the query');
    const items = deps.registry
      .proposals()
      .filter(
        (p) =>
          (query.state === undefined || p.state === query.state) &&
          (query.moduleId === undefined || p.moduleId === query.moduleId),
      );
    return { items };
  });

  app.get<{ Params: { pid: string } }>('/v1/proposals/:pid', async (request) => {
    const id = proposalId(request.params.pid);
    const proposal = deps.registry.proposal(id);
    if (!proposal) throw new GlasshouseError('not_found', `no proposal "${id}"`, { status: 404 });
    return proposal;
  });
}
