import type { FastifyInstance } from 'fastify';
import { toTimestamp } from '../../../schemas/common.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { scorecardMethod } from '../../core/stats/index.js';
import { GlasshouseError } from '../../runtime/errors.js';
import type { ApiDeps } from '../deps.js';
import { moduleVersions } from '../module-versions.js';
import {
  acknowledgementPeriodMs,
  correctionsOf,
  StatusTimelines,
  scorecardOf,
  scorecardPeriodMs,
} from '../scorecards.js';
import { slugParam } from './params.js';
import { profileOf } from './people.js';

/** Flagged changes to these modules: proposals with flags, and flagged direct edits; newest first, at most 100. */
async function flaggedChanges(deps: ApiDeps, modules: readonly ModuleVersion[]) {
  const ids = new Set(modules.map((m) => m.id));
  const fromProposals = deps.registry
    .proposals()
    .filter((p) => ids.has(p.moduleId) && p.flags.length > 0)
    .map((p) => ({
      moduleId: p.moduleId,
      proposalId: p.id,
      version: p.appliedVersion ?? null,
      state: p.state,
      at: p.proposedAt,
      by: p.proposedBy,
      flags: p.flags,
    }));
  const versions = (await Promise.all(modules.map((m) => moduleVersions(deps, m.id)))).flat();
  const direct = versions
    .filter((v) => v.flags.length > 0 && v.proposalId === undefined)
    .map((v) => ({
      moduleId: v.id,
      proposalId: null,
      version: v.version,
      state: 'direct' as const,
      at: v.updatedAt,
      by: v.updatedBy,
      flags: v.flags,
    }));
  return [...fromProposals, ...direct].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, 100);
}

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
    const modules = modulesOf(id);
    const now = deps.clock.now();
    const [scorecard, corrections] = await Promise.all([
      scorecardOf(deps.store, timelines, modules, now),
      correctionsOf(deps.store, modules, now),
    ]);
    return {
      ...profile,
      scorecard: { ...scorecard, corrections },
      flaggedChanges: await flaggedChanges(deps, modules),
    };
  });
}
