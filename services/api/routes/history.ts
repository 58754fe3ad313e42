import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { formatDuration, Slug, toTimestamp } from '../../../schemas/common.js';
import type { HistoryAnswer } from '../../../schemas/queries.js';
import { historyPoints } from '../../core/stats/index.js';
import { maxSelectRows } from '../../ports/store.js';
import { GlasshouseError } from '../../runtime/errors.js';
import { checkRange, DurationParam, limitExceeded, queryLimits, TimeParam } from '../bounds.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { moduleOr404, moduleVersions, rulesInForce } from '../module-versions.js';
import { slugParam } from './params.js';

const HistoryQuery = z.strictObject({
  goal: Slug.optional(),
  from: TimeParam.optional(),
  to: TimeParam.optional(),
  step: DurationParam.pipe(z.number().min(1000, 'must be at least 1s')).optional(),
});

const dayMs = 86_400_000;

const method =
  'Each point covers [t, t + step), t a multiple of step since the epoch, and merges the stored rollup buckets ' +
  "(the goal's window / 60 wide, late events included) whose start falls in it: value = the goal's aggregation " +
  'over those events (rate: sum per second of the step); count = their number. status applies the goal as it ' +
  'was in force at t (target, direction, tolerance), requiring minSamples × min(1, step / window) events ' +
  '(rounded up, at least 1). Steps without events are omitted. Recompute from GET /v1/modules/{id}/events.';

/** `GET /v1/modules/:id/history?goal=&from=&to=&step=`: a goal's time series from stored rollups. */
export function historyRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string } }>('/v1/modules/:id/history', async (request): Promise<HistoryAnswer> => {
    const id = slugParam(request.params.id, 'id');
    const query = parseOr400(HistoryQuery, request.query, 'the query');
    const module = moduleOr404(deps, id);
    const goalId = query.goal ?? module.goals[0]!.id;
    const versions = await moduleVersions(deps, id);
    const ruleAt = rulesInForce(versions, goalId);
    if (!ruleAt) {
      throw new GlasshouseError('not_found', `module "${id}" has no goal or constraint "${goalId}"`, {
        status: 404,
      });
    }
    const to = query.to ?? deps.clock.now();
    const from = query.from ?? to - dayMs;
    checkRange(from, to, 'historyRangeMs');
    const current = ruleAt(to);
    const step =
      query.step ??
      Math.max(
        1000,
        current.geometry.widthMs,
        Math.ceil((to - from) / queryLimits.historyPoints / 1000) * 1000,
      );
    const start = Math.floor(from / step) * step;
    const points = Math.ceil((to - start) / step);
    if (points > queryLimits.historyPoints) {
      throw limitExceeded(
        'historyPoints',
        queryLimits.historyPoints,
        points,
        'too many points: widen step or narrow from/to',
      );
    }
    const rows = await deps.store.select('rollups', {
      where: [
        { column: 'module_id', op: '=', value: id },
        { column: 'rule_id', op: '=', value: goalId },
        { column: 'bucket_ms', op: '>=', value: start },
        { column: 'bucket_ms', op: '<', value: to },
      ],
      limit: Math.min(maxSelectRows, queryLimits.historyBuckets + 1),
    });
    if (rows.length > queryLimits.historyBuckets || rows.length === maxSelectRows) {
      throw limitExceeded(
        'historyBuckets',
        queryLimits.historyBuckets,
        rows.length,
        'too many stored buckets in the range: narrow from/to',
      );
    }
    return {
      moduleId: id,
      goalId,
      aggregation: current.aggregation,
      from: toTimestamp(start),
      to: toTimestamp(to),
      step: formatDuration(step),
      points: historyPoints(rows, step, ruleAt).map((p) => ({ ...p, t: toTimestamp(p.t) })),
      method,
    };
  });
}
