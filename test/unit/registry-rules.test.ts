import { describe, expect, it } from 'vitest';
import { ModulePut, type ModuleVersion } from '../../schemas/registry.js';
import { diffValues } from '../../services/core/registry/diff.js';
import { auditFlags, changeFlags, sensitiveChanges } from '../../services/core/registry/flags.js';
import { moduleChanges, nextModuleVersion } from '../../services/core/registry/modules.js';
import { RegistryState } from '../../services/core/registry/state.js';
import { exampleGoal, exampleModule } from '../support/examples.js';

const put = (over: Record<string, unknown> = {}, goal: Record<string, unknown> = {}) =>
  ModulePut.parse(exampleModule({ goals: [exampleGoal(goal)], rationale: 'initial definition', ...over }));
const stamp = { at: '2026-01-01T00:00:00.000Z', actor: 'admin:bootstrap', flags: [] };

describe('diffValues', () => {
  it('lists changed leaves by dotted path and treats absent as undefined', () => {
    expect(diffValues({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] }, d: undefined })).toEqual([
      { path: 'b.c.1', before: 2, after: 3 },
    ]);
    expect(diffValues({ a: [1] }, { a: [1, 2] })).toEqual([{ path: 'a', before: [1], after: [1, 2] }]);
    expect(diffValues(1, 1)).toEqual([]);
  });
});

describe('module versions', () => {
  it('starts at 1, increments, and mints nothing for an unchanged definition', () => {
    const v1 = nextModuleVersion(undefined, put(), stamp)!;
    expect(v1).toMatchObject({
      version: 1,
      rationale: 'initial definition',
      updatedBy: 'admin:bootstrap',
      flags: [],
    });
    expect('rationale' in v1 && v1.goals[0]!.target).toBe(90);
    expect(nextModuleVersion(v1, put({ rationale: 'again' }), stamp)).toBeUndefined();
    const v2 = nextModuleVersion(v1, put({ rationale: 'raise the bar' }, { target: 95 }), stamp)!;
    expect(v2.version).toBe(2);
    expect(moduleChanges(v1, put({}, { target: 95 }))).toEqual(['goals.0.target', 'rationale']);
  });
});

describe('goal-change transparency flags', () => {
  const before = nextModuleVersion(undefined, put(), stamp) as ModuleVersion;
  const none = { offTrack: new Set<string>(), nearAlert: new Set<string>() };

  it('finds moved bars, removed goals and owner changes, ignoring cosmetic edits', () => {
    expect(sensitiveChanges(before, put({ title: 'Renamed' }, { unit: 'percent' }))).toEqual({
      goals: [],
      ownerChanged: false,
    });
    expect(sensitiveChanges(before, put({}, { target: 80, hold: '10m' }))).toEqual({
      goals: [{ goalId: 'ontime', fields: ['target', 'hold'] }],
      ownerChanged: false,
    });
    const other = put({
      goals: [
        {
          id: 'other',
          metric: 'x',
          unit: '',
          direction: 'increase',
          target: 1,
          tolerance: 0,
          window: '1h',
          aggregation: 'mean',
        },
      ],
    });
    expect(sensitiveChanges(before, other).goals).toEqual([{ goalId: 'ontime', fields: ['removed'] }]);
    expect(sensitiveChanges(before, put({ owner: 'bob' })).ownerChanged).toBe(true);
    expect(sensitiveChanges(undefined, put())).toEqual({ goals: [], ownerChanged: false });
  });

  it('flags a moved bar only while off track or near an alert', () => {
    const moved = sensitiveChanges(before, put({}, { target: 70 }));
    expect(changeFlags(moved, none)).toEqual([]);
    const offTrack = changeFlags(moved, { offTrack: new Set(['ontime']), nearAlert: new Set() });
    expect(offTrack).toMatchObject([{ code: 'changed_while_off_track', ruleId: 'ontime' }]);
    const both = changeFlags(moved, { offTrack: new Set(['ontime']), nearAlert: new Set(['ontime']) });
    expect(auditFlags(both)).toEqual(['changed_while_off_track:ontime', 'changed_near_alert:ontime']);
    expect(changeFlags(moved, { offTrack: new Set(['elsewhere']), nearAlert: new Set() })).toEqual([]);
  });

  it('flags an owner change while any goal is off track or near an alert', () => {
    const owner = sensitiveChanges(before, put({ owner: 'bob' }));
    expect(changeFlags(owner, none)).toEqual([]);
    expect(
      auditFlags(changeFlags(owner, { offTrack: new Set(['ontime']), nearAlert: new Set(['ontime']) })),
    ).toEqual(['owner_changed_while_off_track', 'owner_changed_near_alert']);
  });
});

describe('RegistryState', () => {
  it('keeps the newest version per entity whatever the delivery order', () => {
    const state = new RegistryState();
    const v1 = nextModuleVersion(undefined, put(), stamp)!;
    const v2 = nextModuleVersion(v1, put({}, { target: 95 }), stamp)!;
    expect(state.apply({ type: 'module', module: v2 })).toEqual({
      changed: true,
      type: 'module',
      moduleId: v2.id,
    });
    expect(state.apply({ type: 'module', module: v1 })).toEqual({ changed: false });
    expect(state.apply({ type: 'module', module: v2 })).toEqual({ changed: false });
    expect(state.module(v1.id)?.version).toBe(2);
    const principal = { id: 'transit', name: 'Transit', createdAt: stamp.at };
    state.apply({ type: 'principal', entry: { kind: 'agency', version: 1, principal, secretHash: 'h' } });
    state.apply({
      type: 'principal',
      entry: {
        kind: 'agency',
        version: 2,
        principal: { ...principal, revokedAt: stamp.at },
        secretHash: 'h',
      },
    });
    expect(state.principal('agency', 'transit')?.principal.revokedAt).toBe(stamp.at);
    expect(state.principal('overseer', 'transit')).toBeUndefined();
    expect(state.apply({ type: 'marker', nonce: 'x' })).toEqual({ changed: false });
  });
});
