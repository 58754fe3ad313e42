import { z } from 'zod';
import { Duration, Slug, Timestamp } from './common.js';
import { ChangeFlag, PolicyModule } from './registry.js';

const Sha256 = z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex characters (SHA-256)');
const Note = z.string().trim().max(2000, 'must be at most 2000 characters');

/**
 * Where a proposal stands: `proposed` until enough distinct admins approve it, then `approved` (public,
 * waiting out its notice period), then `applied`. `rejected`, `withdrawn` and `expired` end it unapplied.
 */
export const ProposalState = z.enum(['proposed', 'approved', 'applied', 'rejected', 'withdrawn', 'expired']);
export type ProposalState = z.infer<typeof ProposalState>;

/** States in which a proposal can still change (and blocks another proposal for its module). */
export const openProposalStates: readonly ProposalState[] = ['proposed', 'approved'];

/** One approval: who, when, with what note (always for the proposal's one `contentHash`). */
export const ProposalApproval = z.strictObject({
  by: z.string(),
  at: Timestamp,
  note: z.string().optional(),
});

/** One field the proposal changes, against the module version it was made from. */
export const ProposalChange = z.strictObject({
  path: z.string(),
  before: z.unknown(),
  after: z.unknown(),
});

/**
 * A proposed change that takes effect only once approved by admins other than its author and the
 * people it concerns, and after a public notice period. `kind` says what it changes; today only
 * `module` (the complete next version of a module in `module`).
 */
export const Proposal = z.strictObject({
  id: z.string().min(1),
  kind: z.enum(['module']),
  moduleId: Slug,
  state: ProposalState,
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of `module`: what an approval binds to. */
  contentHash: Sha256,
  module: PolicyModule,
  rationale: z.string(),
  /** The module version the proposal was made from (0: none). */
  baseVersion: z.number().int().min(0),
  changes: z.array(ProposalChange),
  proposedBy: z.string(),
  proposedAt: Timestamp,
  expiresAt: Timestamp,
  requiredApprovals: z.number().int().min(1),
  approvals: z.array(ProposalApproval),
  flags: z.array(ChangeFlag),
  /** How long it is public between approval and effect. */
  noticePeriod: Duration,
  /** Approval time + notice period, once approved. */
  effectiveAt: Timestamp.nullable(),
  /** Who ended it (rejected, withdrawn), when, and why. */
  closedBy: z.string().optional(),
  closedAt: Timestamp.optional(),
  note: z.string().optional(),
  /** The module version it became, once applied. */
  appliedVersion: z.number().int().min(1).optional(),
  /** Counts the proposal's steps (1 when proposed): the newest revision is its current state. */
  revision: z.number().int().min(1),
});
export type Proposal = z.output<typeof Proposal>;

/** `POST /v1/proposals/:pid/approvals` body. */
export const ApprovalBody = z.strictObject({ contentHash: Sha256, note: Note.optional() });
/** `POST /v1/proposals/:pid/rejections` body. */
export const RejectionBody = z.strictObject({ note: Note.min(1, 'must not be empty') });
/** `POST /v1/proposals/:pid/withdraw` body (optional). */
export const WithdrawBody = z.strictObject({ note: Note.optional() });
/** `GET /v1/proposals` query. */
export const ProposalListQuery = z.strictObject({
  state: ProposalState.optional(),
  moduleId: Slug.optional(),
});

/** `GET /v1/proposals` answer. */
export const ProposalList = z.strictObject({ items: z.array(Proposal) });
