import type { FastifyInstance } from 'fastify';
import { CorrectionDecision, HeldCorrectionQuery } from '../../../schemas/corrections.js';
import type { RegistryView } from '../../ports/registry.js';
import { requirePrincipal } from '../auth.js';
import { parseOr400 } from '../deps.js';
import type { HeldCorrections } from '../held-corrections.js';

/**
 * `GET /v1/corrections?state=&moduleId=&limit=` (public): late corrections held for approval and
 * the decisions on them, newest first. `POST /v1/corrections/:id/approve` and `/reject` (a named
 * admin, body `{rationale}`): the decision, audited; 404 unknown id, 409 decided the other way.
 */
export function correctionRoutes(
  app: FastifyInstance,
  deps: { registry: RegistryView; corrections: HeldCorrections },
): void {
  app.get('/v1/corrections', async (request) => {
    const query = parseOr400(HeldCorrectionQuery, request.query, 'the query');
    return { items: await deps.corrections.list(query) };
  });
  for (const [path, decision] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
  ] as const) {
    app.post<{ Params: { id: string } }>(`/v1/corrections/:id/${path}`, async (request) => {
      const principal = await requirePrincipal(deps.registry, request, 'admin');
      const body = parseOr400(CorrectionDecision, request.body, 'the body');
      return deps.corrections.decide(principal, request.params.id, decision, body.rationale);
    });
  }
}
