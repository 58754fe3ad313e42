import { z } from 'zod';
import { ApprovalBody } from '../../../schemas/proposals.js';
import { ModulePut, Sociotechnician } from '../../../schemas/registry.js';
import { PrincipalKindSchema } from './records.js';

/** An audit entry to append as given (e.g. an alert acknowledgement); the sequencer adds the chain fields. */
export const AppendRequest = z.strictObject({
  op: z.literal('audit.append'),
  action: z.string().min(1),
  subject: z.string().min(1),
  before: z.unknown(),
  after: z.unknown(),
  rationale: z.string().nullable(),
  flags: z.array(z.string()).optional(),
});

/**
 * What the one sequencer executes, in audit.log order: a registry change, or an audit entry to append.
 * Each one that changes something becomes one entry of the audit chain.
 */
export const ChangeRequest = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('module.put'), module: ModulePut }),
  z.strictObject({ op: z.literal('sociotechnician.put'), sociotechnician: Sociotechnician }),
  z.strictObject({
    op: z.literal('principal.create'),
    kind: PrincipalKindSchema,
    id: z.string(),
    name: z.string(),
    secretHash: z.string(),
    secretCheck: z.string().optional(),
  }),
  z.strictObject({ op: z.literal('principal.revoke'), kind: PrincipalKindSchema, id: z.string() }),
  /**
   * Adds the pre-check to a credential issued before it existed, after the holder's secret passed
   * scrypt; `version` is the entry it was checked against, so a revoked or re-issued one is left alone.
   */
  z.strictObject({
    op: z.literal('principal.check'),
    kind: PrincipalKindSchema,
    id: z.string(),
    version: z.number().int().min(1),
    secretCheck: z.string().min(1),
  }),
  AppendRequest,
  /** A proposed module change (`id` chosen by the api route). */
  z.strictObject({ op: z.literal('proposal.create'), id: z.string().min(1).max(64), module: ModulePut }),
  z.strictObject({
    op: z.literal('proposal.approve'),
    id: z.string(),
    contentHash: ApprovalBody.shape.contentHash,
    note: z.string().optional(),
  }),
  z.strictObject({ op: z.literal('proposal.reject'), id: z.string(), note: z.string() }),
  z.strictObject({ op: z.literal('proposal.withdraw'), id: z.string(), note: z.string().optional() }),
  /** Steps time alone takes (the api role's proposal clock submits them; a repeat changes nothing). */
  z.strictObject({ op: z.literal('proposal.expire'), id: z.string() }),
  z.strictObject({ op: z.literal('proposal.apply'), id: z.string() }),
]);
export type ChangeRequest = z.input<typeof ChangeRequest>;
export type ParsedChangeRequest = z.output<typeof ChangeRequest>;
