import { parseDuration, toTimestamp } from '../../../schemas/common.js';
import { openProposalStates, type Proposal } from '../../../schemas/proposals.js';
import type { ChangeFlag, ModuleVersion, PolicyModule } from '../../../schemas/registry.js';
import { canonicalHash } from '../audit/chain.js';
import { diffValues } from './diff.js';
import { moduleContent } from './modules.js';

/** Module fields an admin may change without approval (wording, not the bar or the accountability). */
export const freeModuleFields: ReadonlySet<string> = new Set(['title', 'summary']);

/** The actor of steps nobody takes by hand (expiry, taking effect). */
export const systemActor = 'system:glasshouse';

/** How proposals are governed in a deployment (`GLASSHOUSE_APPROVALS`, `_PROPOSAL_TTL`, `_NOTICE_PERIOD`). */
export interface ApprovalPolicy {
  /** False for single-admin deployments: direct edits as before, nothing approved independently. */
  enabled: boolean;
  /** How long a proposal waits for its approvals before it expires. */
  ttlMs: number;
  /** The least time an approved change is public before it takes effect. */
  noticeMs: number;
}

/** The hash an approval must name: SHA-256 of the proposed module's RFC 8785 canonical JSON. */
export function contentHash(module: PolicyModule): string {
  return canonicalHash(module);
}

/** Whether changing `before` into `next` needs an approved proposal: anything beyond title and summary. */
export function needsApproval(before: ModuleVersion, next: PolicyModule): boolean {
  return diffValues(moduleContent(before), next).some(
    (difference) => !freeModuleFields.has(difference.path.split('.')[0]!),
  );
}

/** The fields a proposal changes against the version it was made from, each with both sides. */
export function proposalChanges(before: ModuleVersion, next: PolicyModule): Proposal['changes'] {
  return diffValues(moduleContent(before), next);
}

/**
 * Flags for a change that makes a goal easier to meet: its target moved away from the direction of
 * progress (lowered for `increase`, raised for `decrease`), its tolerance widened, its window
 * lengthened (a longer window hides a recent slide), or the goal removed altogether.
 */
export function easingFlags(before: ModuleVersion, next: PolicyModule): ChangeFlag[] {
  const flags: ChangeFlag[] = [];
  const now = new Map(next.goals.map((goal) => [goal.id, goal]));
  for (const old of before.goals) {
    const goal = now.get(old.id);
    if (!goal) {
      flags.push({ code: 'goal_removed', ruleId: old.id, message: `goal ${old.id} removed` });
      continue;
    }
    const direction = goal.direction === old.direction ? goal.direction : undefined;
    if (
      (direction === 'increase' && goal.target < old.target) ||
      (direction === 'decrease' && goal.target > old.target)
    ) {
      flags.push({
        code: 'target_eased',
        ruleId: old.id,
        message: `goal ${old.id}: target ${old.target} → ${goal.target} (easier to meet)`,
      });
    }
    if (goal.tolerance > old.tolerance) {
      flags.push({
        code: 'tolerance_widened',
        ruleId: old.id,
        message: `goal ${old.id}: tolerance ${old.tolerance} → ${goal.tolerance}`,
      });
    }
    if ((parseDuration(goal.window) ?? 0) > (parseDuration(old.window) ?? 0)) {
      flags.push({
        code: 'window_lengthened',
        ruleId: old.id,
        message: `goal ${old.id}: window ${old.window} → ${goal.window}`,
      });
    }
  }
  return flags;
}

/** The approvals a change needs: two distinct approvers when it is flagged, else one. */
export function requiredApprovals(flags: readonly ChangeFlag[]): number {
  return flags.length > 0 ? 2 : 1;
}

/** The notice period of a change: the deployment's, or the longer one the module sets (before or after). */
export function noticeMs(policy: ApprovalPolicy, before: ModuleVersion, next: PolicyModule): number {
  const own = [before.noticePeriod, next.noticePeriod].map((text) => (text ? (parseDuration(text) ?? 0) : 0));
  return Math.max(policy.noticeMs, ...own);
}

/** True while a proposal can still be approved, rejected or withdrawn. */
export function isOpen(proposal: Proposal): boolean {
  return openProposalStates.includes(proposal.state);
}

/** The admin id of an actor (`admin:<id>`), or undefined for other actors. */
export function adminIdOf(actor: string): string | undefined {
  return actor.startsWith('admin:') ? actor.slice('admin:'.length) : undefined;
}

/**
 * The module version an approved proposal becomes: the proposed content, numbered after the version it
 * was made from, in force from `effectiveAt`. `atMs` is when the registry records it.
 */
export function appliedVersion(proposal: Proposal, atMs: number): ModuleVersion {
  return {
    ...proposal.module,
    version: proposal.baseVersion + 1,
    updatedAt: toTimestamp(atMs),
    updatedBy: proposal.proposedBy,
    rationale: proposal.rationale,
    flags: proposal.flags,
    proposalId: proposal.id,
    ...(proposal.effectiveAt ? { effectiveAt: proposal.effectiveAt } : {}),
  };
}
