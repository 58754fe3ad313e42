import { ModuleVersion } from '../../schemas/registry.js';
import { constraintRule, goalRule, type RuleSpec } from '../core/performance/rules.js';
import { GlasshouseError } from '../runtime/errors.js';
import type { ApiDeps } from './deps.js';

/** Every stored version of a module, oldest first (plus the registry's latest if not stored yet). */
export async function moduleVersions(deps: ApiDeps, moduleId: string): Promise<ModuleVersion[]> {
  const rows = await deps.store.select('module_versions', {
    where: [{ column: 'module_id', op: '=', value: moduleId }],
    orderBy: [{ column: 'version', direction: 'asc' }],
    limit: 10_000,
  });
  const versions = rows.flatMap((row) => {
    const parsed = ModuleVersion.safeParse(row.body);
    return parsed.success ? [parsed.data] : [];
  });
  const latest = deps.registry.module(moduleId);
  if (latest && !versions.some((v) => v.version === latest.version)) versions.push(latest);
  return versions.sort((a, b) => a.version - b.version);
}

/** The module's latest version or a 404. */
export function moduleOr404(deps: Pick<ApiDeps, 'registry'>, moduleId: string): ModuleVersion {
  const module = deps.registry.module(moduleId);
  if (!module) throw new GlasshouseError('not_found', `no module "${moduleId}"`, { status: 404 });
  return module;
}

function ruleOf(module: ModuleVersion, ruleId: string): RuleSpec | undefined {
  const goal = module.goals.find((g) => g.id === ruleId);
  if (goal) return goalRule(goal);
  const constraint = module.constraints.find((c) => c.id === ruleId);
  return constraint ? constraintRule(constraint) : undefined;
}

/**
 * The rule (goal or constraint) in force at each time: that of the latest version made at or before
 * t that defines it, or of the earliest version that defines it for times before that. Undefined
 * from the function when no version defines the rule.
 */
export function rulesInForce(
  versions: readonly ModuleVersion[],
  ruleId: string,
): ((t: number) => RuleSpec) | undefined {
  const timeline = versions.flatMap((module) => {
    const rule = ruleOf(module, ruleId);
    // An approved change is in force from its effectiveAt (after its notice period), not from when recorded.
    return rule ? [{ since: Date.parse(module.effectiveAt ?? module.updatedAt), rule }] : [];
  });
  if (timeline.length === 0) return undefined;
  return (t) => {
    let current = timeline[0]!.rule;
    for (const entry of timeline) if (entry.since <= t) current = entry.rule;
    return current;
  };
}
