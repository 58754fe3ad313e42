import type { AlertEvent } from '../../schemas/alert.js';

/** An alert version in plain words, for people reading e-mail or chat. */
export interface AlertWords {
  /** One line: state, severity, what and where. */
  title: string;
  /** Short paragraphs: what was measured against what, the alert's own message, acknowledgement. */
  lines: string[];
  /** The module's page on the dashboard. */
  link: string;
  /** Label/value pairs (for message cards). */
  facts: Array<{ name: string; value: string }>;
}

const kindWords: Record<AlertEvent['kind'], string> = {
  goal_deviation: 'goal missed',
  constraint_violation: 'limit breached',
  stagnation: 'no progress',
  data_gap: 'stopped reporting',
  anomaly: 'unusual figures',
};

const stateWords: Record<AlertEvent['state'], string> = {
  pending: 'Pending',
  firing: 'Firing',
  resolved: 'Resolved',
};

/** The dashboard link of a module, under the site's public address. */
export function moduleLink(publicUrl: string, moduleId: string): string {
  return new URL(`/#/module/${encodeURIComponent(moduleId)}`, publicUrl).toString();
}

function figure(n: number | null): string {
  return n === null ? 'none' : String(Math.round(n * 1000) / 1000);
}

/** Words for one alert version; `publicUrl` is the site's address (links point there). */
export function alertWords(alert: AlertEvent, publicUrl: string): AlertWords {
  const acknowledged = alert.acknowledgedBy ? ', acknowledged' : '';
  const title = `${stateWords[alert.state]} (${alert.severity}${acknowledged}): ${kindWords[alert.kind]} in ${alert.moduleId}, rule ${alert.ruleId}`;
  const shortfall =
    alert.shortfall === null ? '' : ` (shortfall ${Math.round(alert.shortfall * 1000) / 10}%)`;
  const lines = [
    `Module ${alert.moduleId}, owned by ${alert.owner}: ${kindWords[alert.kind]} on rule ${alert.ruleId}.`,
    `Observed ${figure(alert.observed)} against a target of ${figure(alert.target)}${shortfall}.`,
    alert.message,
    alert.state === 'resolved'
      ? `Opened ${alert.openedAt}, resolved ${alert.resolvedAt ?? alert.updatedAt}.`
      : `Opened ${alert.openedAt}, last changed ${alert.updatedAt}.`,
  ];
  if (alert.acknowledgedBy)
    lines.push(`Acknowledged by ${alert.acknowledgedBy}${alert.note ? `: “${alert.note}”` : '.'}`);
  const link = moduleLink(publicUrl, alert.moduleId);
  const facts = [
    { name: 'State', value: stateWords[alert.state] },
    { name: 'Severity', value: alert.severity },
    { name: 'Module', value: alert.moduleId },
    { name: 'Rule', value: alert.ruleId },
    { name: 'Observed', value: figure(alert.observed) },
    { name: 'Target', value: figure(alert.target) },
    { name: 'Alert', value: `${alert.alertId} version ${alert.version}` },
  ];
  return { title, lines, link, facts };
}
