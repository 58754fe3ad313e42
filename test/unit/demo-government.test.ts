import { describe, expect, it } from 'vitest';
import { ModulePut, PrincipalCreate, Sociotechnician } from '../../schemas/registry.js';
import { agencies, domains, modules, sociotechnicians } from '../../services/demo/government.js';

describe('the demo government', () => {
  const parsed = modules.map((m) => ModulePut.parse(m));

  it('has the promised size: 5 domains, ~12 modules, 6-8 people, 4-5 agencies', () => {
    expect(domains.sort()).toEqual(['environment', 'health', 'housing', 'permits', 'transit']);
    expect(modules.length).toBe(12);
    expect(sociotechnicians.length).toBeGreaterThanOrEqual(6);
    expect(sociotechnicians.length).toBeLessThanOrEqual(8);
    expect(agencies.length).toBeGreaterThanOrEqual(4);
    expect(agencies.length).toBeLessThanOrEqual(5);
  });

  it('is valid against the public contracts and marked as demo everywhere', () => {
    for (const module of parsed) expect(module.demo).toBe(true);
    for (const person of sociotechnicians) {
      expect(Sociotechnician.parse(person)).toEqual(person);
      expect(person.bio).toMatch(/fictional/i);
    }
    for (const agency of agencies) {
      expect(PrincipalCreate.parse({ id: agency.id, name: agency.name })).toBeTruthy();
      expect(agency.name).toMatch(/\(demo\)$/);
      expect(agency.feed.agency).toBe(agency.id);
    }
    expect(new Set(modules.map((m) => m.id)).size).toBe(modules.length);
  });

  it('only names owners and agencies that it seeds', () => {
    const people = new Set(sociotechnicians.map((p) => p.id));
    const agencyIds = new Set(agencies.map((a) => a.id));
    for (const module of parsed) {
      expect(people.has(module.owner), module.id).toBe(true);
      expect(module.agencies.length).toBeGreaterThan(0);
      for (const agency of module.agencies) expect(agencyIds.has(agency), module.id).toBe(true);
    }
  });

  it('has two comparison groups of 2-3 alternatives that share a goal', () => {
    const groups = new Map<string, typeof parsed>();
    for (const module of parsed) {
      if (module.comparisonGroup)
        groups.set(module.comparisonGroup, [...(groups.get(module.comparisonGroup) ?? []), module]);
    }
    expect(groups.size).toBe(2);
    for (const members of groups.values()) {
      expect(members.length).toBeGreaterThanOrEqual(2);
      expect(members.length).toBeLessThanOrEqual(3);
      const shared = members[0]!.goals.filter((g) =>
        members.every((m) => m.goals.some((o) => o.id === g.id && o.metric === g.metric)),
      );
      expect(shared.length).toBeGreaterThan(0);
    }
  });

  it('uses short windows and holds, so every status shows within minutes', () => {
    for (const module of parsed) {
      for (const goal of module.goals) {
        expect(['1m', '2m', '5m']).toContain(goal.window);
        expect(['30s', '1m']).toContain(goal.hold);
      }
    }
    expect(parsed.filter((m) => m.maxSilence).length).toBeGreaterThan(0);
  });

  it('feeds every goal and constraint metric, and only from an allowed agency', () => {
    const fed = new Set<string>();
    for (const agency of agencies) {
      for (const stream of agency.feed.streams) {
        const module = parsed.find((m) => m.id === stream.moduleId);
        expect(module, stream.moduleId).toBeDefined();
        expect(module!.agencies).toContain(agency.id);
        const metrics = [...module!.goals, ...module!.constraints].map((r) => r.metric);
        expect(metrics, `${stream.moduleId}/${stream.metric}`).toContain(stream.metric);
        fed.add(`${stream.moduleId}/${stream.metric}`);
      }
    }
    for (const module of parsed) {
      for (const rule of [...module.goals, ...module.constraints])
        expect(fed.has(`${module.id}/${rule.metric}`), `${module.id}/${rule.metric}`).toBe(true);
    }
  });

  it('has exactly one agency that goes silent, and it reports for modules with maxSilence', () => {
    const silent = agencies.filter((a) => a.feed.silentAfterMs !== undefined);
    expect(silent.map((a) => a.id)).toEqual(['environment-agency']);
    expect(silent[0]!.feed.silentAfterMs).toBe(90_000);
    for (const module of parsed.filter((m) => m.agencies.includes('environment-agency')))
      expect(module.maxSilence).toBeDefined();
  });
});
