import { describe, expect, it } from 'vitest';
import { ModulePut } from '../../schemas/registry.js';
import type { ParsedChangeRequest } from '../../services/core/registry/changes.js';
import { decide, goalFactsNeeded } from '../../services/core/registry/decide.js';
import { RegistryState } from '../../services/core/registry/state.js';
import { exampleGoal, exampleModule } from '../support/examples.js';

const atMs = Date.parse('2026-01-01T00:00:00.000Z');
const context = { actor: 'admin:bootstrap', atMs };
const ada = { id: 'ada', name: 'Ada', role: 'Head of transit', contact: 'ada@example.org' };
const modulePut = (target: number): ParsedChangeRequest => ({
  op: 'module.put',
  module: ModulePut.parse(exampleModule({ goals: [exampleGoal({ target })], rationale: `target ${target}` })),
});

/** Applies what a decision produced, as the sequencer does once its entry is durable. */
function apply(state: RegistryState, request: ParsedChangeRequest, facts?: Parameters<typeof decide>[2]) {
  const decision = decide(state, request, { ...context, ...facts });
  if (decision.kind === 'changed') for (const record of decision.records) state.apply(record);
  return decision;
}

describe('decide (registry changes against the current state)', () => {
  it('refuses a module whose owner is not registered, then accepts it once the owner is', () => {
    const state = new RegistryState();
    expect(decide(state, modulePut(90), context)).toMatchObject({
      kind: 'refused',
      code: 'unknown_owner',
      details: [{ path: 'owner' }],
    });
    expect(apply(state, { op: 'sociotechnician.put', sociotechnician: ada })).toMatchObject({
      kind: 'changed',
      draft: { action: 'sociotechnician.put', subject: 'sociotechnician:ada', before: null },
    });
    expect(apply(state, modulePut(90))).toMatchObject({
      kind: 'changed',
      draft: { action: 'module.put', at: '2026-01-01T00:00:00.000Z', actor: 'admin:bootstrap' },
      value: { version: 1 },
    });
    // The same definition again changes nothing and answers the current version.
    expect(decide(state, modulePut(90), context)).toMatchObject({ kind: 'unchanged', value: { version: 1 } });
  });

  it("asks for the goals' facts only for a sensitive change to an existing module, and flags from them", () => {
    const state = new RegistryState();
    apply(state, { op: 'sociotechnician.put', sociotechnician: ada });
    expect(goalFactsNeeded(state, modulePut(90))).toBeUndefined();
    apply(state, modulePut(90));
    const raise = modulePut(95);
    const module = goalFactsNeeded(state, raise);
    expect(module).toMatchObject({ version: 1 });
    expect(() => decide(state, raise, context)).toThrow(/goalFacts/);
    const goalId = module!.goals[0]!.id;
    const decision = decide(state, raise, {
      ...context,
      goalFacts: { offTrack: new Set([goalId]), nearAlert: new Set() },
    });
    expect(decision).toMatchObject({ kind: 'changed', value: { version: 2 } });
    expect(decision.kind === 'changed' && decision.draft.flags?.length).toBeGreaterThan(0);
  });

  it('refuses a second credential for a live principal and revoking an unknown one', () => {
    const state = new RegistryState();
    const create: ParsedChangeRequest = {
      op: 'principal.create',
      kind: 'agency',
      id: 'transit',
      name: 'Transit',
      secretHash: 'scrypt$hash',
    };
    expect(apply(state, create)).toMatchObject({ kind: 'changed', draft: { action: 'agency.create' } });
    expect(decide(state, create, context)).toMatchObject({ kind: 'refused', code: 'already_exists' });
    expect(decide(state, { op: 'principal.revoke', kind: 'agency', id: 'nobody' }, context)).toMatchObject({
      kind: 'refused',
      code: 'not_found',
    });
    const revoke: ParsedChangeRequest = { op: 'principal.revoke', kind: 'agency', id: 'transit' };
    expect(apply(state, revoke)).toMatchObject({
      kind: 'changed',
      value: { revokedAt: '2026-01-01T00:00:00.000Z' },
    });
    expect(decide(state, revoke, context)).toMatchObject({ kind: 'unchanged' });
    // Revoked: a new credential may be issued.
    expect(decide(state, create, context)).toMatchObject({
      kind: 'changed',
      records: [{ entry: { version: 3 } }],
    });
  });
});
