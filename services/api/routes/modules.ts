import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Slug } from '../../../schemas/common.js';
import type { PerformanceUpdate } from '../../../schemas/performance.js';
import { ModulePut, ModuleVersion } from '../../../schemas/registry.js';
import { GlasshouseError, ValidationError } from '../../runtime/errors.js';
import { actorOf, requirePrincipal } from '../auth.js';
import { type ApiDeps, parseOr400, write } from '../deps.js';
import { latestPerformance } from '../facts.js';

/** Module bodies are small; a larger one is a mistake or an attack. */
export const moduleBodyLimit = 256 * 1024;

const ModuleQuery = z.strictObject({
  version: z
    .string()
    .regex(/^[1-9]\d{0,8}$/, 'must be a positive whole number')
    .transform(Number)
    .optional(),
});
const ListQuery = z.strictObject({ domain: Slug.optional(), owner: Slug.optional() });

/**
 * A module as answered: the version, with each goal's latest PerformanceUpdate as `current` when
 * known, its open proposals (`pendingChanges`: public before they take effect) and whether changes
 * to it are independently approved in this deployment (`changesApproved`).
 */
async function withCurrent(deps: ApiDeps, module: ModuleVersion) {
  const currents = await Promise.all(
    module.goals.map((goal) => latestPerformance(deps.store, module.id, goal.id)),
  );
  const open = deps.registry.openProposal(module.id);
  return {
    ...module,
    changesApproved: deps.approvals.enabled,
    pendingChanges: open ? [open] : [],
    goals: module.goals.map((goal, index) => {
      const current: PerformanceUpdate | undefined = currents[index];
      return current ? { ...goal, current } : goal;
    }),
  };
}

export function moduleId(value: string): string {
  const parsed = Slug.safeParse(value);
  if (!parsed.success)
    throw new ValidationError('the module id is not valid', [
      { path: 'id', message: parsed.error.issues[0]!.message },
    ]);
  return parsed.data;
}

/** `GET /v1/modules`, `GET /v1/modules/:id[?version=N]`, `PUT /v1/modules/:id`. */
export function moduleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/modules', async (request) => {
    const query = parseOr400(ListQuery, request.query, 'the query');
    const modules = deps.registry
      .modules()
      .filter(
        (module) =>
          (query.domain === undefined || module.domain === query.domain) &&
          (query.owner === undefined || module.owner === query.owner),
      );
    return { items: await Promise.all(modules.map((module) => withCurrent(deps, module))) };
  });

  app.get<{ Params: { id: string } }>('/v1/modules/:id', async (request) => {
    const id = moduleId(request.params.id);
    const query = parseOr400(ModuleQuery, request.query, 'the query');
    const latest = deps.registry.module(id);
    if (query.version === undefined || query.version === latest?.version) {
      if (!latest) throw new GlasshouseError('not_found', `no module "${id}"`, { status: 404 });
      return withCurrent(deps, latest);
    }
    const [row] = await deps.store.select('module_versions', {
      where: [
        { column: 'module_id', op: '=', value: id },
        { column: 'version', op: '=', value: query.version },
      ],
      limit: 1,
    });
    const parsed = row ? ModuleVersion.safeParse(row.body) : undefined;
    if (!parsed?.success)
      throw new GlasshouseError('not_found', `module "${id}" has no version ${query.version}`, {
        status: 404,
      });
    return parsed.data;
  });

  app.put<{ Params: { id: string } }>('/v1/modules/:id', { bodyLimit: moduleBodyLimit }, async (request) => {
    const id = moduleId(request.params.id);
    const principal = await requirePrincipal(deps.registry, request, 'admin');
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ValidationError('the body must be a JSON object: the module plus "rationale"');
    }
    const put = parseOr400(ModulePut, 'id' in body ? body : { ...body, id }, 'the module');
    if (put.id !== id)
      throw new ValidationError('the body id differs from the path', [
        { path: 'id', message: `must be "${id}" as in the path` },
      ]);
    const result = await write(deps, actorOf(principal), { op: 'module.put', module: put });
    return withCurrent(deps, result.value as ModuleVersion);
  });
}
