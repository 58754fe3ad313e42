import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { formatDuration, parseDuration, toTimestamp } from '../../../schemas/common.js';
import type { ComparisonAnswer } from '../../../schemas/queries.js';
import type { Goal, ModuleVersion } from '../../../schemas/registry.js';
import { type ComparisonSide, comparePairs, comparisonAlpha, summarize } from '../../core/stats/index.js';
import { GlasshouseError } from '../../runtime/errors.js';
import { DurationParam, limitExceeded, queryLimits, TimeParam } from '../bounds.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { slugParam } from './params.js';

const ComparisonQuery = z.strictObject({
  window: DurationParam.pipe(z.number().min(1000, 'must be at least 1s')).optional(),
  to: TimeParam.optional(),
});

const dayMs = 86_400_000;

const method =
  'For every goal metric that at least two modules of the group measure (each module contributes its first ' +
  'goal on that metric), the stored raw events of that metric (late ones included) observed in the window are ' +
  "compared with Welch's unequal-variances t-test on their values (two-sided; Student t CDF through the " +
  'regularized incomplete beta function). Window: ?window= if given, else the longest window of the compared ' +
  `goals, else 24h; at most ${formatDuration(queryLimits.comparisonWindowMs)}; it ends at ?to= or now. ` +
  `Each of the k pairs of a metric is judged at alpha = ${comparisonAlpha} / k (Bonferroni). "Better" follows ` +
  'the goal direction: higher mean for increase, lower for decrease, closer to its own target for maintain. ' +
  'A sample needs at least 2 events. Recompute from GET /v1/modules/{id}/events.';

/** Metrics measured by a goal of at least two modules, with each module's first goal on it. */
function sharedMetrics(
  modules: readonly ModuleVersion[],
): Map<string, Array<{ module: ModuleVersion; goal: Goal }>> {
  const byMetric = new Map<string, Array<{ module: ModuleVersion; goal: Goal }>>();
  for (const module of modules) {
    const seen = new Set<string>();
    for (const goal of module.goals) {
      if (seen.has(goal.metric)) continue;
      seen.add(goal.metric);
      const list = byMetric.get(goal.metric) ?? [];
      list.push({ module, goal });
      byMetric.set(goal.metric, list);
    }
  }
  for (const [metric, list] of byMetric) if (list.length < 2) byMetric.delete(metric);
  return byMetric;
}

/** `GET /v1/comparisons/:group[?window=&to=]`: alternatives side by side with a significance test. */
export function comparisonRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { group: string } }>(
    '/v1/comparisons/:group',
    async (request): Promise<ComparisonAnswer> => {
      const group = slugParam(request.params.group, 'group');
      const query = parseOr400(ComparisonQuery, request.query, 'the query');
      const modules = deps.registry
        .modules()
        .filter((m) => m.comparisonGroup === group)
        .sort((a, b) => a.id.localeCompare(b.id));
      if (modules.length === 0)
        throw new GlasshouseError('not_found', `no module is in comparison group "${group}"`, {
          status: 404,
        });
      const shared = sharedMetrics(modules);
      const longest = Math.max(
        0,
        ...[...shared.values()].flatMap((list) => list.map(({ goal }) => parseDuration(goal.window) ?? 0)),
      );
      const windowMs = query.window ?? (longest || dayMs);
      if (windowMs > queryLimits.comparisonWindowMs) {
        throw limitExceeded(
          'comparisonWindowMs',
          queryLimits.comparisonWindowMs,
          windowMs,
          'the window is too long (in ms)',
        );
      }
      const to = query.to ?? deps.clock.now();
      const from = to - windowMs;
      const metrics: ComparisonAnswer['metrics'] = [];
      for (const [metric, list] of shared) {
        const sides: ComparisonSide[] = [];
        const samples: ComparisonAnswer['metrics'][number]['samples'] = [];
        for (const { module, goal } of list) {
          const rows = await deps.store.select('metric_events', {
            where: [
              { column: 'module_id', op: '=', value: module.id },
              { column: 'metric', op: '=', value: metric },
              { column: 'observed_ms', op: '>=', value: from },
              { column: 'observed_ms', op: '<', value: to },
            ],
            limit: queryLimits.comparisonEvents + 1,
          });
          if (rows.length > queryLimits.comparisonEvents) {
            throw limitExceeded(
              'comparisonEvents',
              queryLimits.comparisonEvents,
              rows.length,
              `module "${module.id}" has too many "${metric}" events in the window: pass a shorter ?window= (at least this many)`,
            );
          }
          const sample = summarize(rows.map((row) => row.value));
          sides.push({
            moduleId: module.id,
            label: module.title,
            direction: goal.direction,
            target: goal.target,
            sample,
          });
          samples.push({
            moduleId: module.id,
            goalId: goal.id,
            n: sample.n,
            mean: sample.n > 0 ? sample.mean : null,
            sd: sample.n > 1 ? Math.sqrt(sample.variance) : null,
          });
        }
        const first = list[0]!.goal;
        metrics.push({
          metric,
          unit: first.unit,
          direction: first.direction,
          samples,
          pairs: comparePairs(sides).map((pair) => ({
            a: pair.a,
            b: pair.b,
            t: pair.welch && Number.isFinite(pair.welch.t) ? pair.welch.t : null,
            df: pair.welch?.df ?? null,
            p: pair.welch?.p ?? null,
            alpha: pair.alpha,
            significant: pair.significant,
            better: pair.better,
            verdict: pair.verdict,
          })),
        });
      }
      return {
        group,
        window: { from: toTimestamp(from), to: toTimestamp(to), length: formatDuration(windowMs) },
        modules: modules.map(({ id, title, owner, status }) => ({ id, title, owner, status })),
        metrics,
        method,
      };
    },
  );
}
