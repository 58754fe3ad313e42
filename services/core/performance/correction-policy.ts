import { createHash } from 'node:crypto';
import { parseDuration } from '../../../schemas/common.js';
import type { ModuleVersion } from '../../../schemas/registry.js';

/** A module's correction window when it sets none. */
export const defaultCorrectionWindowMs = 30 * 86_400_000;

/** How long after an event was observed a correction of it applies without an admin's approval. */
export function correctionWindowMs(module: Pick<ModuleVersion, 'correctionWindow'>): number {
  return (module.correctionWindow && parseDuration(module.correctionWindow)) || defaultCorrectionWindowMs;
}

/**
 * True when a correction restates data older than the module's correction window at `nowMs`: the
 * version it replaces was observed before it, or the correction itself moves a value there. Such a
 * correction is held until a named admin approves it.
 */
export function needsApproval(
  module: Pick<ModuleVersion, 'correctionWindow'>,
  replacedObservedMs: number,
  correctionObservedMs: number,
  nowMs: number,
): boolean {
  return Math.min(replacedObservedMs, correctionObservedMs) < nowMs - correctionWindowMs(module);
}

/** The public id of a held correction: one per (module, agency, eventId), 32 hex characters. */
export function heldCorrectionId(moduleId: string, agencyId: string, eventId: string): string {
  return createHash('sha256').update(`${moduleId}\n${agencyId}\n${eventId}`).digest('hex').slice(0, 32);
}
