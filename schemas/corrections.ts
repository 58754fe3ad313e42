import { z } from 'zod';
import { Slug, Timestamp } from './common.js';

/**
 * The `metrics.raw` header that marks a correction as approved by an admin: the api role re-publishes
 * a held correction with it, signed like a command (`<'correction.approve'>\n<moduleId>\n<value>`
 * under the key the roles share), and the processor applies a correction that carries a valid one
 * whatever its age. Anything else in it is ignored: the correction is held again.
 */
export const approvalHeader = 'glasshouse-approval';

/** The name an approval signature is made under (core/validation/command-signature.ts). */
export const approvalCommand = 'correction.approve';

export const CorrectionState = z.enum(['held', 'approved', 'rejected']);
export type CorrectionState = z.infer<typeof CorrectionState>;

/** A correction held for an admin's approval, as `GET /v1/corrections` lists it. */
export const HeldCorrection = z.strictObject({
  id: z.string(),
  moduleId: Slug,
  agency: Slug,
  eventId: z.string(),
  metric: Slug,
  /** The eventId the correction named, and the version it replaces (the newest of its chain). */
  supersedes: z.string(),
  replaces: z.string(),
  retract: z.boolean(),
  /** The replacement value (absent for a retraction). */
  value: z.number().optional(),
  note: z.string(),
  /** When the event it corrects was observed: longer ago than the module's correctionWindow. */
  targetObservedAt: Timestamp,
  heldAt: Timestamp,
  state: CorrectionState,
  /** The named admin who approved or rejected it, when, and why. */
  decidedBy: z.string().optional(),
  decidedAt: Timestamp.optional(),
  rationale: z.string().optional(),
});
export type HeldCorrection = z.infer<typeof HeldCorrection>;

/** `GET /v1/corrections?state=&moduleId=`: held corrections, newest first. */
export const HeldCorrectionQuery = z.strictObject({
  state: CorrectionState.optional(),
  moduleId: Slug.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const HeldCorrectionList = z.strictObject({ items: z.array(HeldCorrection) });
export type HeldCorrectionList = z.infer<typeof HeldCorrectionList>;

/** `POST /v1/corrections/:id/approve` and `/reject` (named admin): why, public in the audit log. */
export const CorrectionDecision = z.strictObject({ rationale: z.string().trim().min(1).max(2000) });
export type CorrectionDecision = z.infer<typeof CorrectionDecision>;
