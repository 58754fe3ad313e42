import type { ChangeFlag, ModulePut, ModuleVersion, PolicyModule } from '../../../schemas/registry.js';
import { diffValues } from './diff.js';

const versionFields = [
  'version',
  'updatedAt',
  'updatedBy',
  'rationale',
  'flags',
  'proposalId',
  'effectiveAt',
] as const;

/** A module version without its version metadata: what an administrator defined. */
export function moduleContent(version: ModuleVersion): PolicyModule {
  const content: Record<string, unknown> = { ...version };
  for (const field of versionFields) delete content[field];
  return content as PolicyModule;
}

/** The fields that differ between a module's current version and a proposed definition. */
export function moduleChanges(before: ModuleVersion | undefined, proposed: PolicyModule): string[] {
  if (!before) return [];
  return diffValues(moduleContent(before), proposed).map((difference) => difference.path);
}

export interface VersionStamp {
  at: string;
  actor: string;
  flags: ChangeFlag[];
}

/**
 * The next version of a module after a PUT, or undefined when the definition is unchanged (a
 * retried PUT must not mint a second version). Version numbers start at 1 and never skip.
 */
export function nextModuleVersion(
  before: ModuleVersion | undefined,
  put: ModulePut,
  stamp: VersionStamp,
): ModuleVersion | undefined {
  const { rationale, ...content } = put;
  if (before && moduleChanges(before, content).length === 0) return undefined;
  return {
    ...content,
    version: (before?.version ?? 0) + 1,
    updatedAt: stamp.at,
    updatedBy: stamp.actor,
    rationale,
    flags: stamp.flags,
  };
}
