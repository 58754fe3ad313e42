import type { FastifyInstance } from 'fastify';
import { toTimestamp } from '../../../schemas/common.js';
import { scorecardMethod } from '../../core/stats/index.js';
import { GlasshouseError } from '../../runtime/errors.js';
import type { ApiDeps } from '../deps.js';
import { acknowledgementPeriodMs, StatusTimelines, scorecardOf, scorecardPeriodMs } from '../scorecards.js';
import { slugParam } from './params.js';
import { profileOf } from './people.js';

/**
 * `GET /v1/sociotechnicians` (every profile with its summary score: the public scoreboard) and
 * `GET /v1/sociotechnicians/:id` (the profile, their modules and their scorecard).
 */
export function scorecardRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const timelines = new StatusTimelines(deps.store);
  const modulesOf = (id: string) => deps.registry.modules().filter((m) => m.owner === id);

  app.get('/v1/sociotechnicians', async () => {
    const now = deps.clock.now();
    const people = deps.registry.sociotechnicians().sort((a, b) => a.name.localeCompare(b.name));
    const items = [];
    for (const person of people) {
      const modules = modulesOf(person.id);
      const card = await scorecardOf(deps.store, timelines, modules, now);
      items.push({
        ...person,
        modules: modules.filter((m) => m.status === 'active').length,
        score: card.score,
        onTrackShare: card.onTrackShare,
        openAlerts: card.openAlerts,
        trend: card.trend.direction,
      });
    }
    return {
      items,
      period: { from: toTimestamp(now - scorecardPeriodMs), to: toTimestamp(now) },
      method: scorecardMethod(scorecardPeriodMs / 3_600_000, acknowledgementPeriodMs / 86_400_000),
    };
  });

  app.get<{ Params: { id: string } }>('/v1/sociotechnicians/:id', async (request) => {
    const id = slugParam(request.params.id, 'id');
    const profile = profileOf(deps, id);
    if (!profile) throw new GlasshouseError('not_found', `no sociotechnician "${id}"`, { status: 404 });
    const scorecard = await scorecardOf(deps.store, timelines, modulesOf(id), deps.clock.now());
    return { ...profile, scorecard };
  });
}
