import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Proposal } from '../../schemas/proposals.js';
import { ModulePut } from '../../schemas/registry.js';
import type { ParsedChangeRequest } from '../../services/core/registry/changes.js';
import { type Decision, decide } from '../../services/core/registry/decide.js';
import { RegistryState } from '../../services/core/registry/state.js';
import { exampleGoal, exampleModule } from '../support/examples.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const hour = 3_600_000;
const policy = { enabled: true, ttlMs: 7 * 24 * hour, noticeMs: 72 * hour };
const noFacts = { offTrack: new Set<string>(), nearAlert: new Set<string>() };

function put(overrides: Record<string, unknown> = {}, goal: Record<string, unknown> = {}) {
  return ModulePut.parse(exampleModule({ goals: [exampleGoal(goal)], rationale: 'because', ...overrides }));
}

/** A registry with ada and bob as sociotechnicians and the example module (owner ada, target 90). */
function registry() {
  const state = new RegistryState();
  const run = (request: ParsedChangeRequest, actor = 'admin:carol', atMs = T0): Decision => {
    const decision = decide(state, request, { actor, atMs, approvals: policy, goalFacts: noFacts });
    if (decision.kind === 'changed') for (const record of decision.records) state.apply(record);
    return decision;
  };
  for (const id of ['ada', 'bob'])
    run({ op: 'sociotechnician.put', sociotechnician: { id, name: id.toUpperCase() } });
  run({ op: 'module.put', module: put() });
  return { state, run };
}

function proposalOf(decision: Decision): Proposal {
  if (decision.kind !== 'changed') throw new Error(`expected a change, got ${JSON.stringify(decision)}`);
  return decision.value as Proposal;
}

describe('proposals (core/registry/decide-proposal.ts)', () => {
  it('refuses a direct edit of a goal, allows one of the title, and proposes the goal change with its content hash', () => {
    const { run } = registry();
    expect(run({ op: 'module.put', module: put({}, { target: 95 }) })).toMatchObject({
      kind: 'refused',
      code: 'approval_required',
    });
    expect(run({ op: 'module.put', module: put({ title: 'Buses on time' }) })).toMatchObject({
      kind: 'changed',
      value: { version: 2, title: 'Buses on time' },
    });
    const decision = run({
      op: 'proposal.create',
      id: 'p1',
      module: put({ title: 'Buses on time' }, { target: 95 }),
    });
    const proposal = proposalOf(decision);
    const { rationale: _r, ...content } = put({ title: 'Buses on time' }, { target: 95 });
    // RFC 8785 of the module: keys sorted, no whitespace (this module has no non-ASCII or odd numbers).
    const canonical = JSON.stringify(content, Object.keys(flatKeys(content)).sort());
    expect(proposal).toMatchObject({
      id: 'p1',
      kind: 'module',
      state: 'proposed',
      proposedBy: 'admin:carol',
      baseVersion: 2,
      requiredApprovals: 1,
      approvals: [],
      flags: [],
      effectiveAt: null,
      expiresAt: new Date(T0 + 7 * 24 * hour).toISOString(),
      changes: [{ path: 'goals.0.target', before: 90, after: 95 }],
    });
    expect(proposal.contentHash).toBe(createHash('sha256').update(canonical).digest('hex'));
    expect(decision.kind === 'changed' && decision.draft).toMatchObject({
      action: 'proposal.proposed',
      actor: 'admin:carol',
      subject: 'proposal:p1',
      after: { proposalId: 'p1', contentHash: proposal.contentHash },
    });
    // One open proposal per module; direct edits wait for it.
    expect(run({ op: 'proposal.create', id: 'p2', module: put({}, { target: 96 }) })).toMatchObject({
      kind: 'refused',
      code: 'proposal_open',
    });
    expect(run({ op: 'module.put', module: put({ title: 'Other' }) })).toMatchObject({
      kind: 'refused',
      code: 'proposal_open',
    });
  });

  it('refuses approval by the proposer, the current owner and the proposed owner, and a stale content hash', () => {
    const { run } = registry();
    const proposal = proposalOf(
      run({ op: 'proposal.create', id: 'p1', module: put({ owner: 'bob' }, { target: 95 }) }),
    );
    const approve = (actor: string, contentHash = proposal.contentHash) =>
      run({ op: 'proposal.approve', id: 'p1', contentHash }, actor, T0 + hour);
    expect(approve('admin:carol')).toMatchObject({ kind: 'refused', code: 'self_approval' });
    expect(approve('admin:ada')).toMatchObject({ kind: 'refused', code: 'self_approval' });
    expect(approve('admin:bob')).toMatchObject({ kind: 'refused', code: 'self_approval' });
    expect(approve('admin:dan', 'f'.repeat(64))).toMatchObject({ kind: 'refused', code: 'stale_content' });
    const approved = proposalOf(approve('admin:dan'));
    expect(approved).toMatchObject({
      state: 'approved',
      approvals: [{ by: 'admin:dan' }],
      effectiveAt: new Date(T0 + hour + 72 * hour).toISOString(),
    });
    expect(approve('admin:erin')).toMatchObject({ kind: 'refused', code: 'proposal_closed' });
  });

  it("takes the module's own notice period when it is longer than the deployment's", () => {
    const { run } = registry();
    const proposal = proposalOf(
      run({ op: 'proposal.create', id: 'p1', module: put({ noticePeriod: '7d' }, { target: 95 }) }),
    );
    expect(proposal.noticePeriod).toBe('7d');
    const approved = proposalOf(
      run({ op: 'proposal.approve', id: 'p1', contentHash: proposal.contentHash }, 'admin:dan', T0),
    );
    expect(approved.effectiveAt).toBe(new Date(T0 + 7 * 24 * hour).toISOString());
  });

  it('needs two distinct approvers for a flagged change (target lowered, tolerance widened, window lengthened)', () => {
    const { run } = registry();
    const proposal = proposalOf(
      run({
        op: 'proposal.create',
        id: 'p1',
        module: put({}, { target: 85, tolerance: 0.1, window: '2h' }),
      }),
    );
    expect(proposal.flags.map((flag) => flag.code)).toEqual([
      'target_eased',
      'tolerance_widened',
      'window_lengthened',
    ]);
    expect(proposal.requiredApprovals).toBe(2);
    const approve = (actor: string) =>
      run({ op: 'proposal.approve', id: 'p1', contentHash: proposal.contentHash }, actor, T0 + hour);
    expect(proposalOf(approve('admin:dan'))).toMatchObject({ state: 'proposed', effectiveAt: null });
    expect(approve('admin:dan')).toMatchObject({ kind: 'refused', code: 'already_approved' });
    expect(proposalOf(approve('admin:erin'))).toMatchObject({
      state: 'approved',
      approvals: [{ by: 'admin:dan' }, { by: 'admin:erin' }],
    });
  });

  it('expires an unapproved proposal at expiresAt (not before), and then refuses to approve it', () => {
    const { run } = registry();
    const proposal = proposalOf(run({ op: 'proposal.create', id: 'p1', module: put({}, { target: 95 }) }));
    const expiresMs = Date.parse(proposal.expiresAt);
    expect(run({ op: 'proposal.expire', id: 'p1' }, 'system:glasshouse', expiresMs - 1)).toMatchObject({
      kind: 'unchanged',
    });
    expect(
      run({ op: 'proposal.approve', id: 'p1', contentHash: proposal.contentHash }, 'admin:dan', expiresMs),
    ).toMatchObject({ kind: 'refused', code: 'proposal_expired' });
    const expired = run({ op: 'proposal.expire', id: 'p1' }, 'system:glasshouse', expiresMs);
    expect(expired).toMatchObject({
      kind: 'changed',
      value: { state: 'expired' },
      draft: { action: 'proposal.expired', after: { proposalId: 'p1', contentHash: proposal.contentHash } },
    });
    // A second expiry (another api replica) changes nothing.
    expect(run({ op: 'proposal.expire', id: 'p1' }, 'system:glasshouse', expiresMs + 1).kind).toBe(
      'unchanged',
    );
  });

  it('lets only the proposer withdraw, lets others reject, both only before the change is in force', () => {
    const { run } = registry();
    proposalOf(run({ op: 'proposal.create', id: 'p1', module: put({}, { target: 95 }) }));
    expect(run({ op: 'proposal.withdraw', id: 'p1' }, 'admin:dan')).toMatchObject({
      kind: 'refused',
      code: 'not_proposer',
    });
    expect(proposalOf(run({ op: 'proposal.withdraw', id: 'p1', note: 'wrong module' }))).toMatchObject({
      state: 'withdrawn',
      closedBy: 'admin:carol',
      note: 'wrong module',
    });
    const second = proposalOf(run({ op: 'proposal.create', id: 'p2', module: put({}, { target: 95 }) }));
    run({ op: 'proposal.approve', id: 'p2', contentHash: second.contentHash }, 'admin:dan', T0);
    const effective = T0 + 72 * hour;
    expect(run({ op: 'proposal.reject', id: 'p2', note: 'too late' }, 'admin:erin', effective)).toMatchObject(
      {
        kind: 'refused',
        code: 'proposal_in_force',
      },
    );
    expect(
      proposalOf(run({ op: 'proposal.reject', id: 'p2', note: 'objection' }, 'admin:erin', effective - 1)),
    ).toMatchObject({ state: 'rejected', closedBy: 'admin:erin' });
  });

  it('applies an approved proposal once, at effectiveAt, as a version naming it', () => {
    const { state, run } = registry();
    const proposal = proposalOf(run({ op: 'proposal.create', id: 'p1', module: put({}, { target: 95 }) }));
    run({ op: 'proposal.approve', id: 'p1', contentHash: proposal.contentHash }, 'admin:dan', T0);
    const effective = T0 + 72 * hour;
    expect(run({ op: 'proposal.apply', id: 'p1' }, 'system:glasshouse', effective - 1).kind).toBe(
      'unchanged',
    );
    const applied = run({ op: 'proposal.apply', id: 'p1' }, 'system:glasshouse', effective + 5);
    expect(applied).toMatchObject({
      kind: 'changed',
      value: { state: 'applied', appliedVersion: 2 },
      draft: {
        action: 'proposal.applied',
        subject: 'module:bus-punctuality',
        after: { version: 2, proposalId: 'p1', contentHash: proposal.contentHash, approvedBy: ['admin:dan'] },
      },
    });
    expect(state.module('bus-punctuality')).toMatchObject({
      version: 2,
      proposalId: 'p1',
      effectiveAt: new Date(effective).toISOString(),
      goals: [{ target: 95 }],
    });
    expect(run({ op: 'proposal.apply', id: 'p1' }, 'system:glasshouse', effective + 10).kind).toBe(
      'unchanged',
    );
    expect(state.module('bus-punctuality')?.version).toBe(2);
  });

  it('keeps direct edits when approvals are off, flagging an eased target', () => {
    const state = new RegistryState();
    const ctx = {
      actor: 'admin:carol',
      atMs: T0,
      goalFacts: noFacts,
      approvals: { ...policy, enabled: false },
    };
    for (const request of [
      { op: 'sociotechnician.put', sociotechnician: { id: 'ada', name: 'Ada' } },
      { op: 'module.put', module: put() },
    ] as ParsedChangeRequest[]) {
      const decision = decide(state, request, ctx);
      if (decision.kind === 'changed') for (const record of decision.records) state.apply(record);
    }
    expect(decide(state, { op: 'module.put', module: put({}, { target: 80 }) }, ctx)).toMatchObject({
      kind: 'changed',
      value: { version: 2, flags: [{ code: 'target_eased', ruleId: 'ontime' }] },
      draft: { flags: ['target_eased:ontime'] },
    });
    // A proposal made there still applies exactly what was approved: no direct edit while it is open.
    const made = decide(state, { op: 'proposal.create', id: 'p1', module: put({}, { target: 95 }) }, ctx);
    if (made.kind === 'changed') for (const record of made.records) state.apply(record);
    expect(decide(state, { op: 'module.put', module: put({}, { target: 80 }) }, ctx)).toMatchObject({
      kind: 'refused',
      code: 'proposal_open',
    });
  });
});

/** Every key at any depth, so JSON.stringify's replacer list keeps them all (sorted: RFC 8785 for plain ASCII). */
function flatKeys(value: unknown, into: Record<string, true> = {}): Record<string, true> {
  if (Array.isArray(value)) for (const item of value) flatKeys(item, into);
  else if (value && typeof value === 'object')
    for (const [key, inner] of Object.entries(value)) {
      into[key] = true;
      flatKeys(inner, into);
    }
  return into;
}
