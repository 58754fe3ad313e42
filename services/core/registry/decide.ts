import type { AuditEntry } from '../../../schemas/audit.js';
import { toTimestamp } from '../../../schemas/common.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import type { ParsedChangeRequest } from './changes.js';
import { decideProposal } from './decide-proposal.js';
import { auditFlags, changeFlags, type GoalFacts, sensitiveChanges } from './flags.js';
import { moduleChanges, moduleContent, nextModuleVersion } from './modules.js';
import { type ApprovalPolicy, easingFlags, needsApproval } from './proposals.js';
import type { RegistryRecord } from './records.js';
import type { RegistryState } from './state.js';

/** Why a request cannot be done; the route that made it maps the code to an HTTP status. */
export type RefusalCode =
  | 'unknown_owner'
  | 'already_exists'
  | 'not_found'
  | 'approval_required'
  | 'proposal_open'
  | 'no_change'
  | 'proposal_closed'
  | 'proposal_expired'
  | 'proposal_in_force'
  | 'self_approval'
  | 'stale_content'
  | 'already_approved'
  | 'not_proposer';

/** What a request does against the registry's current state. */
export type Decision =
  | {
      kind: 'changed';
      /** The audit entry without its chain fields (the sequencer adds seq, prevHash and hash). */
      draft: Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;
      /** The answer to the requester. */
      value: unknown;
      /** The registry records the change produces. */
      records: RegistryRecord[];
    }
  /** Nothing to change (e.g. a retried PUT): no entry, the current value as the answer. */
  | { kind: 'unchanged'; value: unknown }
  | { kind: 'refused'; code: RefusalCode; message: string; details?: unknown };

/** Who asks, when (epoch ms, the entry's time), and what the store says about the goals a module put touches. */
export interface DecisionContext {
  actor: string;
  atMs: number;
  /** Required when `goalFactsNeeded` says so; read from the store by the caller. */
  goalFacts?: GoalFacts;
  /** How changes are approved; without it, direct edits are allowed (as with `GLASSHOUSE_APPROVALS=0`). */
  approvals?: ApprovalPolicy;
}

/**
 * The module whose goal facts (from the store) deciding `request` needs: a module.put changing a
 * sensitive part of an existing module. Undefined when no facts are needed.
 */
export function goalFactsNeeded(
  state: RegistryState,
  request: ParsedChangeRequest,
): ModuleVersion | undefined {
  if (request.op !== 'module.put' && request.op !== 'proposal.create') return undefined;
  const before = state.module(request.module.id);
  if (!before) return undefined;
  const { rationale: _rationale, ...content } = request.module;
  const changes = sensitiveChanges(before, content);
  return changes.goals.length > 0 || changes.ownerChanged ? before : undefined;
}

/** Decides what one request does against the registry's current state. Pure: no clock, no I/O. */
export function decide(
  state: RegistryState,
  request: ParsedChangeRequest,
  context: DecisionContext,
): Decision {
  const { actor, atMs } = context;
  const at = toTimestamp(atMs);
  const none = (value: unknown): Decision => ({ kind: 'unchanged', value });
  switch (request.op) {
    case 'module.put': {
      const put = request.module;
      if (!state.sociotechnicianEntry(put.owner)) {
        return {
          kind: 'refused',
          code: 'unknown_owner',
          message: `owner "${put.owner}" is not a registered sociotechnician`,
          details: [
            {
              path: 'owner',
              message: `no sociotechnician "${put.owner}"; create it with PUT /v1/sociotechnicians/${put.owner}`,
            },
          ],
        };
      }
      const before = state.module(put.id);
      const { rationale: _rationale, ...content } = put;
      if (before && moduleChanges(before, content).length > 0) {
        // Whatever the policy: an approved proposal applies exactly what was approved, on its base version.
        const open = state.openProposal(put.id);
        if (open)
          return {
            kind: 'refused',
            code: 'proposal_open',
            message: `module "${put.id}" has an open proposal (${open.id}, ${open.state}): it changes only through it until it is applied, rejected, withdrawn or expired`,
            details: { proposalId: open.id, address: `/v1/proposals/${open.id}` },
          };
        if (context.approvals?.enabled && needsApproval(before, content))
          return {
            kind: 'refused',
            code: 'approval_required',
            message: `changes beyond title and summary need an approved proposal: POST /v1/modules/${put.id}/proposals`,
            details: { address: `/v1/modules/${put.id}/proposals` },
          };
      }
      const changes = sensitiveChanges(before, content);
      let flags: ReturnType<typeof changeFlags> = before ? easingFlags(before, content) : [];
      if (before && (changes.goals.length || changes.ownerChanged)) {
        if (!context.goalFacts) throw new Error('goalFacts are needed to decide this module.put');
        flags = [...flags, ...changeFlags(changes, context.goalFacts)];
      }
      const version = nextModuleVersion(before, put, { at, actor, flags });
      if (!version) return none(before);
      return {
        kind: 'changed',
        draft: {
          at,
          actor,
          action: 'module.put',
          subject: `module:${put.id}`,
          before: before ? { version: before.version, ...moduleContent(before) } : null,
          after: { version: version.version, ...moduleContent(version) },
          rationale: put.rationale,
          ...(flags.length ? { flags: auditFlags(flags) } : {}),
        },
        value: version,
        records: [{ type: 'module', module: version }],
      };
    }
    case 'sociotechnician.put': {
      const next = request.sociotechnician;
      const known = state.sociotechnicianEntry(next.id);
      if (known && JSON.stringify(known.sociotechnician) === JSON.stringify(next))
        return none(known.sociotechnician);
      const entry = { version: (known?.version ?? 0) + 1, updatedAt: at, sociotechnician: next };
      return {
        kind: 'changed',
        draft: {
          at,
          actor,
          action: 'sociotechnician.put',
          subject: `sociotechnician:${next.id}`,
          before: known?.sociotechnician ?? null,
          after: next,
          rationale: null,
        },
        value: next,
        records: [{ type: 'sociotechnician', entry }],
      };
    }
    case 'principal.create': {
      const known = state.principal(request.kind, request.id);
      if (known && known.principal.revokedAt === undefined) {
        return {
          kind: 'refused',
          code: 'already_exists',
          message: `${request.kind} "${request.id}" already exists; revoke it first to issue a new credential`,
        };
      }
      const principal = { id: request.id, name: request.name, createdAt: at };
      const entry = {
        kind: request.kind,
        version: (known?.version ?? 0) + 1,
        principal,
        secretHash: request.secretHash,
        ...(request.secretCheck === undefined ? {} : { secretCheck: request.secretCheck }),
      };
      return {
        kind: 'changed',
        draft: {
          at,
          actor,
          action: `${request.kind}.create`,
          subject: `${request.kind}:${request.id}`,
          before: known?.principal ?? null,
          after: principal,
          rationale: null,
        },
        value: principal,
        records: [{ type: 'principal', entry }],
      };
    }
    case 'principal.revoke': {
      const known = state.principal(request.kind, request.id);
      if (!known)
        return { kind: 'refused', code: 'not_found', message: `no ${request.kind} "${request.id}"` };
      if (known.principal.revokedAt !== undefined) return none(known.principal);
      const principal = { ...known.principal, revokedAt: at };
      return {
        kind: 'changed',
        draft: {
          at,
          actor,
          action: `${request.kind}.revoke`,
          subject: `${request.kind}:${request.id}`,
          before: known.principal,
          after: principal,
          rationale: null,
        },
        value: principal,
        records: [{ type: 'principal', entry: { ...known, version: known.version + 1, principal } }],
      };
    }
    case 'principal.check': {
      const known = state.principal(request.kind, request.id);
      if (
        !known ||
        known.version !== request.version ||
        known.principal.revokedAt !== undefined ||
        known.secretCheck !== undefined
      )
        return none(null);
      return {
        kind: 'changed',
        draft: {
          at,
          actor,
          action: `${request.kind}.precheck`,
          subject: `${request.kind}:${request.id}`,
          before: null,
          after: null,
          rationale:
            'the credential, issued before pre-checks existed, passed its first check since: its pre-check is kept',
        },
        value: null,
        records: [
          {
            type: 'principal',
            entry: { ...known, version: known.version + 1, secretCheck: request.secretCheck },
          },
        ],
      };
    }
    case 'proposal.create':
    case 'proposal.approve':
    case 'proposal.reject':
    case 'proposal.withdraw':
    case 'proposal.expire':
    case 'proposal.apply':
      return decideProposal(state, request, context);
    case 'audit.append': {
      const { op: _op, ...record } = request;
      const draft = { at, actor, ...record, before: record.before ?? null, after: record.after ?? null };
      return { kind: 'changed', draft, value: null, records: [] };
    }
  }
}
