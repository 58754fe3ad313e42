import type { TopicSpec } from './bus.js';

/** Logical topic names (DESIGN.md "Topics"); a deployment prefix is added by the bus adapters. */
export const Topics = {
  /** Agency metric events, key moduleId. */
  metricsRaw: 'metrics.raw',
  /** Events that failed validation or authorisation, with the reason. */
  metricsDlq: 'metrics.dlq',
  /** Registry versions, key moduleId, compacted: the latest version of every module survives. */
  registryModules: 'registry.modules',
  /** PerformanceUpdate per goal evaluation, key moduleId. */
  performanceUpdates: 'performance.updates',
  /** AlertEvent versions, key moduleId (so one module's alert versions stay in order). */
  alertsEvents: 'alerts.events',
  /** Audit entries; one partition, because the log order is the audit sequence. */
  auditLog: 'audit.log',
} as const;

export type TopicKey = keyof typeof Topics;
export type LogicalTopic = (typeof Topics)[TopicKey];

/**
 * Every Glasshouse topic with its partition count. Partitions bound processor parallelism
 * (one consumer per partition), so metrics.raw gets the most; audit.log must stay at one.
 * Applied idempotently with `Bus.ensureTopics(topicSpecs)`: existing topics are left alone.
 */
export const topicSpecs: TopicSpec[] = [
  { name: Topics.metricsRaw, partitions: 6 },
  { name: Topics.metricsDlq, partitions: 1 },
  { name: Topics.registryModules, partitions: 1, compacted: true },
  { name: Topics.performanceUpdates, partitions: 6 },
  { name: Topics.alertsEvents, partitions: 3 },
  { name: Topics.auditLog, partitions: 1 },
];

const LEGAL = /^[A-Za-z0-9._-]+$/;

/**
 * The physical topic name for a logical one: `<prefix>.<logical>`, or the logical name when the
 * prefix is empty. Throws on names Kafka would reject (bad characters, longer than 249).
 */
export function topicName(prefix: string, logical: string): string {
  if (!LEGAL.test(logical))
    throw new Error(`invalid topic name "${logical}": use letters, digits, ".", "_", "-"`);
  if (prefix !== '' && !LEGAL.test(prefix)) {
    throw new Error(`invalid topic prefix "${prefix}": use letters, digits, ".", "_", "-"`);
  }
  const name = prefix === '' ? logical : prefix.endsWith('.') ? prefix + logical : `${prefix}.${logical}`;
  if (name.length > 249) throw new Error(`topic name "${name}" is longer than Kafka's 249 characters`);
  return name;
}
