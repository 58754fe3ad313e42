import type { FastifyInstance } from 'fastify';
import { csvColumns } from '../../../schemas/metric-event.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { csvRecord } from '../csv.js';
import type { ApiDeps } from '../deps.js';
import { moduleOr404 } from '../module-versions.js';
import { slugParam } from './params.js';

/**
 * The CSV an agency fills in for one module: the upload header, then one row per metric the module
 * watches with its eventId, moduleId and metric filled in and value and observedAt left blank (a
 * template uploaded unfilled is refused row by row, never counted as zeros).
 */
export function csvTemplate(module: ModuleVersion): string {
  const metrics = [...new Set([...module.goals, ...module.constraints].map((rule) => rule.metric))];
  return [
    csvRecord(csvColumns),
    ...metrics.map((metric) => csvRecord([`${module.id}-${metric}-0001`, module.id, metric, '', ''])),
  ].join('');
}

/** `GET /v1/modules/:id/csv-template`: the module's CSV template, as a download. */
export function csvTemplateRoutes(app: FastifyInstance, deps: Pick<ApiDeps, 'registry'>): void {
  app.get<{ Params: { id: string } }>('/v1/modules/:id/csv-template', async (request, reply) => {
    const id = slugParam(request.params.id, 'id');
    const module = moduleOr404(deps, id);
    return reply
      .header('content-type', 'text/csv; charset=utf-8; header=present')
      .header('content-disposition', `attachment; filename="${id}-template.csv"`)
      .send(csvTemplate(module));
  });
}
