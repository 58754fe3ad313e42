import { formatDuration, parseDuration, toTimestamp } from '../../../schemas/common.js';
import type { Proposal } from '../../../schemas/proposals.js';
import type { ParsedChangeRequest } from './changes.js';
import type { Decision, DecisionContext } from './decide.js';
import { auditFlags, changeFlags, sensitiveChanges } from './flags.js';
import { moduleContent } from './modules.js';
import {
  adminIdOf,
  appliedVersion,
  contentHash,
  easingFlags,
  isOpen,
  noticeMs,
  proposalChanges,
  requiredApprovals,
} from './proposals.js';
import type { RegistryState } from './state.js';

type ProposalRequest = Extract<
  ParsedChangeRequest,
  { op: `proposal.${'create' | 'approve' | 'reject' | 'withdraw' | 'expire' | 'apply'}` }
>;

/** Defaults for a decision made without a policy (tests of other requests): 7 days to approve, 72 h notice. */
const defaultPolicy = { enabled: true, ttlMs: 7 * 86_400_000, noticeMs: 72 * 3_600_000 };

/** What a proposal step says in the audit log: the proposal, its content hash, and where it stands. */
function stepRecord(proposal: Proposal, extra: Record<string, unknown> = {}) {
  return {
    proposalId: proposal.id,
    moduleId: proposal.moduleId,
    contentHash: proposal.contentHash,
    state: proposal.state,
    ...extra,
  };
}

/** A proposal step: the next revision of the proposal, its audit entry and its registry record. */
function step(
  context: DecisionContext,
  action: string,
  before: Proposal,
  after: Proposal,
  extra: Record<string, unknown>,
  rationale: string | null,
): Decision {
  return {
    kind: 'changed',
    draft: {
      at: toTimestamp(context.atMs),
      actor: context.actor,
      action,
      subject: `proposal:${after.id}`,
      before: stepRecord(before),
      after: stepRecord(after, extra),
      rationale,
      ...(action === 'proposal.approved' && after.flags.length ? { flags: auditFlags(after.flags) } : {}),
    },
    value: after,
    records: [{ type: 'proposal', proposal: after }],
  };
}

function notOpen(proposal: Proposal, what: string): Decision {
  return {
    kind: 'refused',
    code: 'proposal_closed',
    message: `proposal ${proposal.id} is ${proposal.state}; it can no longer be ${what}`,
  };
}

/** Decides one proposal request (core/registry/decide.ts routes them here). Pure. */
export function decideProposal(
  state: RegistryState,
  request: ProposalRequest,
  context: DecisionContext,
): Decision {
  const { actor, atMs } = context;
  const at = toTimestamp(atMs);
  const policy = context.approvals ?? defaultPolicy;
  if (request.op === 'proposal.create') {
    const { rationale, ...module } = request.module;
    const before = state.module(module.id);
    if (!before)
      return {
        kind: 'refused',
        code: 'not_found',
        message: `no module "${module.id}"; a new module is created with PUT /v1/modules/${module.id}`,
      };
    if (!state.sociotechnicianEntry(module.owner))
      return {
        kind: 'refused',
        code: 'unknown_owner',
        message: `owner "${module.owner}" is not a registered sociotechnician`,
        details: [{ path: 'owner', message: `no sociotechnician "${module.owner}"` }],
      };
    const open = state.openProposal(module.id);
    if (open)
      return {
        kind: 'refused',
        code: 'proposal_open',
        message: `module "${module.id}" already has an open proposal (${open.id}, ${open.state}); withdraw or reject it first`,
        details: { proposalId: open.id, address: `/v1/proposals/${open.id}` },
      };
    const changes = proposalChanges(before, module);
    if (changes.length === 0)
      return {
        kind: 'refused',
        code: 'no_change',
        message: `the proposed module is the same as version ${before.version}`,
      };
    const sensitive = sensitiveChanges(before, module);
    let flags = easingFlags(before, module);
    if (sensitive.goals.length || sensitive.ownerChanged) {
      if (!context.goalFacts) throw new Error('goalFacts are needed to decide this proposal');
      flags = [...flags, ...changeFlags(sensitive, context.goalFacts)];
    }
    const proposal: Proposal = {
      id: request.id,
      kind: 'module',
      moduleId: module.id,
      state: 'proposed',
      contentHash: contentHash(module),
      module,
      rationale,
      baseVersion: before.version,
      changes,
      proposedBy: actor,
      proposedAt: at,
      expiresAt: toTimestamp(atMs + policy.ttlMs),
      requiredApprovals: requiredApprovals(flags),
      approvals: [],
      flags,
      noticePeriod: formatDuration(noticeMs(policy, before, module)),
      effectiveAt: null,
      revision: 1,
    };
    return {
      kind: 'changed',
      draft: {
        at,
        actor,
        action: 'proposal.proposed',
        subject: `proposal:${proposal.id}`,
        before: { version: before.version, ...moduleContent(before) },
        after: stepRecord(proposal, {
          module,
          changes,
          requiredApprovals: proposal.requiredApprovals,
          expiresAt: proposal.expiresAt,
          noticePeriod: proposal.noticePeriod,
        }),
        rationale,
        ...(flags.length ? { flags: auditFlags(flags) } : {}),
      },
      value: proposal,
      records: [{ type: 'proposal', proposal }],
    };
  }

  const proposal = state.proposal(request.id);
  if (!proposal) return { kind: 'refused', code: 'not_found', message: `no proposal "${request.id}"` };
  const next = (changes: Partial<Proposal>): Proposal => ({
    ...proposal,
    ...changes,
    revision: proposal.revision + 1,
  });
  const effectiveMs = proposal.effectiveAt ? Date.parse(proposal.effectiveAt) : undefined;
  // Once the notice period is over the change is in force (the engine switched at effectiveAt), even
  // if the proposal clock has not recorded it yet: nobody can stop it any more.
  const inForce = effectiveMs !== undefined && atMs >= effectiveMs;
  const expired = proposal.state === 'proposed' && atMs >= Date.parse(proposal.expiresAt);

  switch (request.op) {
    case 'proposal.approve': {
      if (proposal.state !== 'proposed') return notOpen(proposal, 'approved');
      if (expired)
        return {
          kind: 'refused',
          code: 'proposal_expired',
          message: `proposal ${proposal.id} expired at ${proposal.expiresAt}`,
        };
      const adminId = adminIdOf(actor);
      const owners = [state.module(proposal.moduleId)?.owner, proposal.module.owner];
      if (actor === proposal.proposedBy || (adminId !== undefined && owners.includes(adminId)))
        return {
          kind: 'refused',
          code: 'self_approval',
          message:
            actor === proposal.proposedBy
              ? 'nobody approves their own proposal'
              : `the module's current or proposed owner (${adminId}) cannot approve a change to it`,
        };
      if (request.contentHash !== proposal.contentHash)
        return {
          kind: 'refused',
          code: 'stale_content',
          message: `the approval names content ${request.contentHash}, but proposal ${proposal.id} is ${proposal.contentHash}; read it again and approve what it says`,
          details: { contentHash: proposal.contentHash },
        };
      if (proposal.approvals.some((approval) => approval.by === actor))
        return {
          kind: 'refused',
          code: 'already_approved',
          message: `${actor} already approved proposal ${proposal.id}; it needs a different approver`,
        };
      const approvals = [
        ...proposal.approvals,
        { by: actor, at, ...(request.note ? { note: request.note } : {}) },
      ];
      const approved = approvals.length >= proposal.requiredApprovals;
      const noticePeriodMs = parseDuration(proposal.noticePeriod) ?? 0;
      const after = next({
        approvals,
        ...(approved ? { state: 'approved' as const, effectiveAt: toTimestamp(atMs + noticePeriodMs) } : {}),
      });
      return step(
        context,
        'proposal.approved',
        proposal,
        after,
        {
          approvals: approvals.length,
          requiredApprovals: proposal.requiredApprovals,
          effectiveAt: after.effectiveAt,
        },
        request.note ?? null,
      );
    }
    case 'proposal.reject':
    case 'proposal.withdraw': {
      const withdraw = request.op === 'proposal.withdraw';
      if (expired)
        return {
          kind: 'refused',
          code: 'proposal_expired',
          message: `proposal ${proposal.id} expired at ${proposal.expiresAt}`,
        };
      if (!isOpen(proposal)) return notOpen(proposal, withdraw ? 'withdrawn' : 'rejected');
      if (inForce)
        return {
          kind: 'refused',
          code: 'proposal_in_force',
          message: `proposal ${proposal.id} took effect at ${proposal.effectiveAt}; propose another change instead`,
        };
      if (withdraw && actor !== proposal.proposedBy)
        return {
          kind: 'refused',
          code: 'not_proposer',
          message: `only the proposer (${proposal.proposedBy}) can withdraw proposal ${proposal.id}`,
        };
      const after = next({
        state: withdraw ? 'withdrawn' : 'rejected',
        closedBy: actor,
        closedAt: at,
        ...(request.note ? { note: request.note } : {}),
      });
      return step(
        context,
        withdraw ? 'proposal.withdrawn' : 'proposal.rejected',
        proposal,
        after,
        {},
        request.note ?? null,
      );
    }
    case 'proposal.expire': {
      if (!expired) return { kind: 'unchanged', value: proposal };
      const after = next({ state: 'expired', closedAt: at });
      return step(context, 'proposal.expired', proposal, after, { expiresAt: proposal.expiresAt }, null);
    }
    case 'proposal.apply': {
      if (proposal.state !== 'approved' || !inForce) return { kind: 'unchanged', value: proposal };
      const current = state.module(proposal.moduleId);
      const version = appliedVersion(proposal, atMs);
      if (current && current.version >= version.version) {
        // Its version number is taken (which the open-proposal lock prevents): it cannot apply as approved.
        return notOpen(proposal, 'applied');
      }
      const after = next({ state: 'applied', appliedVersion: version.version });
      return {
        kind: 'changed',
        draft: {
          at,
          actor,
          action: 'proposal.applied',
          subject: `module:${proposal.moduleId}`,
          before: current ? { version: current.version, ...moduleContent(current) } : null,
          after: {
            version: version.version,
            ...moduleContent(version),
            proposalId: proposal.id,
            contentHash: proposal.contentHash,
            effectiveAt: proposal.effectiveAt,
            approvedBy: proposal.approvals.map((approval) => approval.by),
          },
          rationale: proposal.rationale,
          ...(proposal.flags.length ? { flags: auditFlags(proposal.flags) } : {}),
        },
        value: after,
        records: [
          { type: 'module', module: version },
          { type: 'proposal', proposal: after },
        ],
      };
    }
  }
}
