import type { ChangeFlag, Goal } from '../../../schemas/registry.js';
import { diffValues } from './diff.js';

/** Goal fields whose change moves the bar a module is judged against. */
export const sensitiveGoalFields = [
  'metric',
  'direction',
  'target',
  'tolerance',
  'window',
  'aggregation',
  'hold',
] as const;

/** How far back an alert makes a change suspicious. */
export const alertProximityMs = 24 * 3_600_000;

interface ModuleShape {
  owner: string;
  goals: ReadonlyArray<Pick<Goal, 'id' | (typeof sensitiveGoalFields)[number]>>;
}

/** What a module change touches that deserves scrutiny. */
export interface SensitiveChanges {
  /** Goals whose sensitive fields changed, or that were removed, with the fields (or `removed`). */
  goals: Array<{ goalId: string; fields: string[] }>;
  ownerChanged: boolean;
}

/** Compares two versions of a module: which existing goals moved their bar, and whether the owner changed. */
export function sensitiveChanges(before: ModuleShape | undefined, after: ModuleShape): SensitiveChanges {
  if (!before) return { goals: [], ownerChanged: false };
  const next = new Map(after.goals.map((goal) => [goal.id, goal]));
  const goals: SensitiveChanges['goals'] = [];
  for (const old of before.goals) {
    const now = next.get(old.id);
    if (!now) {
      goals.push({ goalId: old.id, fields: ['removed'] });
      continue;
    }
    const fields = sensitiveGoalFields.filter((field) => diffValues(old[field], now[field]).length > 0);
    if (fields.length) goals.push({ goalId: old.id, fields: [...fields] });
  }
  return { goals, ownerChanged: before.owner !== after.owner };
}

/** What the store says about a module's goals at the moment of the change. */
export interface GoalFacts {
  /** Goal ids whose latest status is off_track. */
  offTrack: ReadonlySet<string>;
  /** Rule ids with an alert open now or active within the last 24 h. */
  nearAlert: ReadonlySet<string>;
}

/**
 * Transparency flags for a change ("influence leaves fingerprints"): moving a goal's bar while the
 * goal is off track or within 24 h of one of its alerts, or changing the owner while any goal is.
 */
export function changeFlags(changes: SensitiveChanges, facts: GoalFacts): ChangeFlag[] {
  const flags: ChangeFlag[] = [];
  for (const { goalId, fields } of changes.goals) {
    const what = fields.join(', ');
    if (facts.offTrack.has(goalId)) {
      flags.push({
        code: 'changed_while_off_track',
        ruleId: goalId,
        message: `goal ${goalId} changed (${what}) while off track`,
      });
    }
    if (facts.nearAlert.has(goalId)) {
      flags.push({
        code: 'changed_near_alert',
        ruleId: goalId,
        message: `goal ${goalId} changed (${what}) within 24 h of one of its alerts`,
      });
    }
  }
  if (changes.ownerChanged) {
    if (facts.offTrack.size) {
      const ids = [...facts.offTrack].sort().join(', ');
      flags.push({ code: 'owner_changed_while_off_track', message: `owner changed while ${ids} off track` });
    }
    if (facts.nearAlert.size) {
      const ids = [...facts.nearAlert].sort().join(', ');
      flags.push({
        code: 'owner_changed_near_alert',
        message: `owner changed within 24 h of alerts on ${ids}`,
      });
    }
  }
  return flags;
}

/** The flags as the audit entry carries them: `code` or `code:ruleId`. */
export function auditFlags(flags: readonly ChangeFlag[]): string[] {
  return flags.map((flag) => (flag.ruleId ? `${flag.code}:${flag.ruleId}` : flag.code));
}
