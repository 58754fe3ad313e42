import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseDuration, Slug, toTimestamp } from '../../../schemas/common.js';
import type { BreakdownAnswer } from '../../../schemas/queries.js';
import { dimensionNamePattern } from '../../../schemas/registry.js';
import {
  cellStatistic,
  describeBreakdown,
  protectBreakdown,
  quantileOf,
} from '../../core/disclosure/breakdown.js';
import { defaultDisclosureRules } from '../../core/disclosure/protect.js';
import { dimensionDeclaration } from '../../core/validation/index.js';
import { dayMs } from '../../ports/daily.js';
import { GlasshouseError, ValidationError } from '../../runtime/errors.js';
import { TimeParam } from '../bounds.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { moduleOr404 } from '../module-versions.js';
import { slugParam } from './params.js';

const BreakdownQuery = z.strictObject({
  goal: Slug,
  by: z.string().regex(dimensionNamePattern, 'must be a dimension name'),
  from: TimeParam.optional(),
  to: TimeParam.optional(),
});

/** Longest range of one breakdown, in days. */
export const maxBreakdownDays = 366;

/**
 * `GET /v1/modules/:id/breakdown?goal=&by=&from=&to=`: the goal's metric per value of a declared
 * dimension, per closed UTC day, each day protected on its own (core/disclosure). The store
 * aggregates; only one row per day and value reaches this process.
 */
export function breakdownRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string } }>(
    '/v1/modules/:id/breakdown',
    async (request): Promise<BreakdownAnswer> => {
      const id = slugParam(request.params.id, 'id');
      const query = parseOr400(BreakdownQuery, request.query, 'the query');
      const module = moduleOr404(deps, id);
      const goal = module.goals.find((g) => g.id === query.goal);
      if (!goal)
        throw new GlasshouseError('not_found', `module "${id}" has no goal "${query.goal}"`, { status: 404 });
      const declaration = dimensionDeclaration(module, query.by);
      if (!declaration || declaration.publish === 'never') {
        throw new ValidationError(`module "${id}" has no dimension "${query.by}" to break down by`, [
          {
            path: 'by',
            message: declaration
              ? 'this dimension is declared "never": it is not stored'
              : `declared dimensions: ${(module.dimensions ?? []).map((d) => d.name).join(', ') || 'none'}`,
          },
        ]);
      }
      const now = deps.clock.now();
      // A day is closed once it has ended and the module's allowed lateness has passed.
      const lateness = parseDuration(module.allowedLateness) ?? 0;
      const closedUntil = Math.floor((now - lateness) / dayMs) * dayMs;
      const to = Math.min(closedUntil, Math.floor((query.to ?? now) / dayMs) * dayMs);
      const from = Math.ceil((query.from ?? to - 30 * dayMs) / dayMs) * dayMs;
      if ((to - from) / dayMs > maxBreakdownDays) {
        throw new GlasshouseError(
          'limit_exceeded',
          `a breakdown covers at most ${maxBreakdownDays} days: narrow from/to`,
          {
            status: 400,
            details: { limit: 'breakdownDays', max: maxBreakdownDays, requested: (to - from) / dayMs },
          },
        );
      }
      const rules = { ...defaultDisclosureRules, ...module.disclosure };
      const statistic = cellStatistic(goal.aggregation);
      const quantile = quantileOf(statistic);
      const rows =
        from < to
          ? await deps.store.daily({
              moduleId: id,
              metric: goal.metric,
              fromMs: from,
              toMs: to,
              dimension: query.by,
              ...(quantile === undefined ? {} : { quantile }),
            })
          : [];
      const days = protectBreakdown({
        rows,
        fromMs: from,
        toMs: Math.max(from, to),
        dayMs,
        declaredValues: declaration.values,
        statistic,
        rules,
      });
      return {
        moduleId: id,
        goalId: goal.id,
        metric: goal.metric,
        dimension: query.by,
        statistic,
        unit: goal.unit,
        minCell: rules.minCell,
        base: rules.base,
        from: toTimestamp(from),
        to: toTimestamp(Math.max(from, to)),
        days: days.map((d) =>
          d.withheld
            ? { day: toTimestamp(d.dayMs).slice(0, 10), withheld: true, total: null, cells: [] }
            : { day: toTimestamp(d.dayMs).slice(0, 10), withheld: false, total: d.total, cells: d.cells },
        ),
        method: describeBreakdown(rules, statistic),
      };
    },
  );
}
