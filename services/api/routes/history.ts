import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { formatDuration, Slug, toTimestamp } from '../../../schemas/common.js';
import type { HistoryAnswer, RevisionList } from '../../../schemas/queries.js';
import { historyPoints } from '../../core/stats/index.js';
import { revisedBuckets, rowsAsOf, type StoredEvent } from '../../core/stats/vintages.js';
import { maxSelectRows } from '../../ports/store.js';
import { GlasshouseError } from '../../runtime/errors.js';
import { checkRange, DurationParam, limitExceeded, queryLimits, TimeParam } from '../bounds.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { moduleOr404, moduleVersions, rulesInForce } from '../module-versions.js';
import { correctionsOf, storedEvent } from '../revisions.js';
import { slugParam } from './params.js';

const HistoryQuery = z.strictObject({
  goal: Slug.optional(),
  from: TimeParam.optional(),
  to: TimeParam.optional(),
  step: DurationParam.pipe(z.number().min(1000, 'must be at least 1s')).optional(),
  asOf: TimeParam.optional(),
});

const dayMs = 86_400_000;

const method =
  'Each point covers [t, t + step), t a multiple of step since the epoch, and merges the stored rollup buckets ' +
  "(the goal's window / 60 wide, late events included) whose start falls in it: value = the goal's aggregation " +
  'over those events (rate: sum per second of the step); count = their number. status applies the goal as it ' +
  'was in force at t (target, direction, tolerance), requiring minSamples × min(1, step / window) events ' +
  '(rounded up, at least 1). Steps without events are omitted. Recompute from GET /v1/modules/{id}/events. ' +
  'asOf=T answers what was published at T: a bucket that a correction received after T changed is recomputed ' +
  'from the raw events received by T, without the versions that corrections received by T replaced. A point ' +
  'whose value or count differs from what was first published carries revised: true and firstPublished ' +
  '(the point before the first correction that changed it); GET /v1/modules/{id}/revisions lists the corrections.';

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
    const asOf = query.asOf ?? deps.clock.now();
    // Corrections: the buckets of the current width they changed, and when each was first changed.
    const { corrections, replaced } = await correctionsOf(deps.store, id, current.metric);
    const widthMs = current.geometry.widthMs;
    const all = corrections.map(storedEvent);
    const replacedOf = (c: (typeof all)[number]) => {
      const row = replaced.get(`${c.agencyId} ${c.supersedes}`);
      return row ? storedEvent(row) : undefined;
    };
    const firstRevised = new Map(
      [...revisedBuckets(all, replacedOf, widthMs)].filter(([b]) => b >= start && b < to),
    );
    let vintageRows = rows;
    const revisedPoints = new Map<number, { value: number | null; count: number }>();
    if (firstRevised.size > 0) {
      const events: StoredEvent[] = [];
      for (const bucketMs of firstRevised.keys()) {
        const raw = await deps.store.select('metric_events', {
          where: [
            { column: 'module_id', op: '=', value: id },
            { column: 'metric', op: '=', value: current.metric },
            { column: 'observed_ms', op: '>=', value: bucketMs },
            { column: 'observed_ms', op: '<', value: bucketMs + widthMs },
          ],
          limit: maxSelectRows,
        });
        events.push(...raw.map(storedEvent));
      }
      const rule = {
        moduleId: id,
        ruleId: goalId,
        metric: current.metric,
        widthMs,
        withSketch: current.withSketch,
      };
      const later = new Set(
        [...firstRevised.keys()].filter((b) =>
          all.some((c) => c.receivedMs > asOf && revisedBuckets([c], replacedOf, widthMs).has(b)),
        ),
      );
      vintageRows = rowsAsOf(rows, later, events, all, asOf, rule);
      // First published: each step that a correction received by asOf changed, before the first of them.
      const steps = new Map<number, number>();
      for (const [b, first] of firstRevised) {
        if (first > asOf) continue;
        const t = Math.floor(b / step) * step;
        steps.set(t, Math.min(steps.get(t) ?? Number.POSITIVE_INFINITY, first));
      }
      for (const [t, first] of steps) {
        const inStep = new Set([...firstRevised.keys()].filter((b) => Math.floor(b / step) * step === t));
        const before = rowsAsOf(
          vintageRows.filter((r) => Math.floor(r.bucket_ms / step) * step === t),
          inStep,
          events,
          all,
          first - 1,
          rule,
        );
        const point = historyPoints(before, step, ruleAt).find((p) => p.t === t);
        revisedPoints.set(t, { value: point?.value ?? null, count: point?.count ?? 0 });
      }
    }
    const answered = historyPoints(vintageRows, step, ruleAt).map((p) => {
      const first = revisedPoints.get(p.t);
      const revised = first && (first.value !== p.value || first.count !== p.count);
      return {
        ...p,
        t: toTimestamp(p.t),
        ...(revised ? { revised: true as const, firstPublished: first } : {}),
      };
    });
    return {
      moduleId: id,
      goalId,
      aggregation: current.aggregation,
      from: toTimestamp(start),
      to: toTimestamp(to),
      step: formatDuration(step),
      asOf: toTimestamp(asOf),
      points: answered,
      method,
    };
  });

  app.get<{ Params: { id: string } }>('/v1/modules/:id/revisions', async (request): Promise<RevisionList> => {
    const id = slugParam(request.params.id, 'id');
    moduleOr404(deps, id);
    const { corrections, replaced } = await correctionsOf(deps.store, id);
    return {
      items: corrections.map((c) => {
        const old = replaced.get(`${c.agency_id} ${c.supersedes}`);
        return {
          eventId: c.event_id,
          agency: c.agency_id,
          metric: c.metric,
          supersedes: c.supersedes,
          retract: c.retract,
          at: toTimestamp(c.received_ms),
          old: old ? { value: old.value, observedAt: toTimestamp(old.observed_ms) } : null,
          new: c.retract ? null : { value: c.value, observedAt: toTimestamp(c.observed_ms) },
          note: c.note,
        };
      }),
    };
  });
}
