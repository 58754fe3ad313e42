import type { FastifyInstance } from 'fastify';
import { Slug } from '../../../schemas/common.js';
import { type Principal, PrincipalCreate, SociotechnicianPut } from '../../../schemas/registry.js';
import { bootstrapAdmin, hashSecret, issueSecret } from '../../core/auth/secrets.js';
import type { PrincipalKind } from '../../ports/registry.js';
import { ValidationError } from '../../runtime/errors.js';
import { actorOf, requirePrincipal } from '../auth.js';
import { type ApiDeps, parseOr400, write } from '../deps.js';

const smallBody = 16 * 1024;

function slugParam(value: string, name: string): string {
  const parsed = Slug.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(`the ${name} is not valid`, [
      { path: name, message: parsed.error.issues[0]!.message },
    ]);
  return parsed.data;
}

/** A sociotechnician's public profile with the modules they are accountable for. */
export function profileOf(deps: ApiDeps, id: string) {
  const person = deps.registry.sociotechnician(id);
  if (!person) return undefined;
  const modules = deps.registry
    .modules()
    .filter((module) => module.owner === id)
    .map(({ id: moduleId, title, domain, status, version }) => ({
      id: moduleId,
      title,
      domain,
      status,
      version,
    }));
  return { ...person, modules };
}

/** Admin ids a named admin may not take: the audit actor `admin:bootstrap` is the bootstrap admin's alone. */
const reservedAdminIds = new Set([bootstrapAdmin.id]);

/** Where each credential kind is issued and what its answer calls the holder and the secret. */
const principalRoutes: Array<{ kind: PrincipalKind; path: string; holder: string; secret: string }> = [
  { kind: 'agency', path: '/v1/agencies', holder: 'agency', secret: 'key' },
  { kind: 'overseer', path: '/v1/overseers', holder: 'overseer', secret: 'token' },
  { kind: 'admin', path: '/v1/admins', holder: 'admin', secret: 'token' },
];

/** Sociotechnician profile writes and the credentials of agencies, overseers and admins. */
export function peopleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // GET /v1/sociotechnicians and /v1/sociotechnicians/:id (profiles with scorecards): routes/scorecards.ts.
  app.put<{ Params: { id: string } }>(
    '/v1/sociotechnicians/:id',
    { bodyLimit: smallBody },
    async (request) => {
      const id = slugParam(request.params.id, 'id');
      const principal = await requirePrincipal(deps.registry, request, 'admin');
      const body = parseOr400(SociotechnicianPut, request.body, 'the profile');
      const result = await write(deps, actorOf(principal), {
        op: 'sociotechnician.put',
        sociotechnician: { ...body, id },
      });
      return result.value;
    },
  );

  for (const { kind, path, holder, secret } of principalRoutes) {
    app.post(path, { bodyLimit: smallBody }, async (request, reply) => {
      const principal = await requirePrincipal(deps.registry, request, 'admin');
      const body = parseOr400(PrincipalCreate, request.body, `the ${holder}`);
      if (kind === 'admin' && reservedAdminIds.has(body.id)) {
        throw new ValidationError(
          `admin id "${body.id}" is reserved`,
          [{ path: 'id', message: `"${body.id}" names the bootstrap admin; choose another id` }],
          'reserved_id',
        );
      }
      const issued = issueSecret(kind, body.id);
      const secretHash = await hashSecret(issued);
      const result = await write(deps, actorOf(principal), {
        op: 'principal.create',
        kind,
        id: body.id,
        name: body.name,
        secretHash,
        secretCheck: deps.registry.secretCheck(issued),
      });
      return reply.code(201).send({ [holder]: result.value as Principal, [secret]: issued });
    });

    app.delete<{ Params: { id: string } }>(`${path}/:id`, async (request) => {
      const id = slugParam(request.params.id, 'id');
      const principal = await requirePrincipal(deps.registry, request, 'admin');
      const result = await write(deps, actorOf(principal), { op: 'principal.revoke', kind, id });
      return { [holder]: result.value as Principal };
    });
  }
}
