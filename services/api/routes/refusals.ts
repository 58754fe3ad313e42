import type { RefusalCode } from '../../core/registry/decide.js';
import { ChangeRefused } from '../../ports/audit.js';
import { GlasshouseError } from '../../runtime/errors.js';

/** The HTTP status of each reason the registry refuses a change (core/registry/decide.ts). */
const refusalStatus: Record<RefusalCode, number> = {
  unknown_owner: 400,
  not_found: 404,
  already_exists: 409,
  approval_required: 409,
  proposal_open: 409,
  no_change: 409,
  proposal_closed: 409,
  proposal_expired: 409,
  proposal_in_force: 409,
  self_approval: 403,
  stale_content: 409,
  already_approved: 409,
  not_proposer: 403,
};

/** Rethrows a refused change as the error answer its code maps to; any other error as it is. */
export function answerRefusal(err: unknown): never {
  if (!(err instanceof ChangeRefused)) throw err;
  const status = (refusalStatus as Record<string, number | undefined>)[err.code] ?? 409;
  throw new GlasshouseError(err.code, err.message, {
    status,
    ...(err.details === undefined ? {} : { details: err.details }),
  });
}
