import type { FileColumn, FileValue } from '../../ports/table-files.js';

/** A table of a data package: its columns, with the Frictionless type and a description of each. */
export interface PackageTable {
  name: string;
  title: string;
  description: string;
  columns: Array<FileColumn & { description: string; json?: true }>;
  primaryKey: string[];
}

/** The Table Schema of a table (Frictionless Data Table Schema v1). */
export function tableSchema(table: PackageTable) {
  return {
    fields: table.columns.map((c) => ({
      name: c.name,
      type: c.json ? 'object' : c.type === 'timestamp' ? 'datetime' : c.type,
      ...(c.type === 'timestamp' ? { format: 'default' } : {}),
      description: c.description,
    })),
    primaryKey: table.primaryKey,
    missingValues: [''],
  };
}

export const eventsTable: PackageTable = {
  name: 'events',
  title: 'Raw events',
  description:
    'Every stored report of the module (one per agency and eventId, late ones included and flagged), with the dimensions the module declares open; dimensions declared aggregate or never are not included.',
  columns: [
    { name: 'agencyId', type: 'string', description: 'The reporting agency' },
    { name: 'eventId', type: 'string', description: "The agency's id for the report" },
    { name: 'metric', type: 'string', description: 'What was measured' },
    { name: 'value', type: 'number', description: 'The measured value' },
    { name: 'observedAt', type: 'timestamp', description: 'When it was observed (UTC)' },
    { name: 'receivedAt', type: 'timestamp', description: 'When Glasshouse received it (UTC)' },
    {
      name: 'late',
      type: 'boolean',
      description: 'Received behind the watermark: counted in history, not in the live window',
    },
    {
      name: 'moduleVersion',
      type: 'integer',
      description: 'The module version in force when it was received',
    },
    { name: 'dimensions', type: 'string', json: true, description: 'The open dimensions, a JSON object' },
  ],
  primaryKey: ['agencyId', 'eventId'],
};

export const dailyTable: PackageTable = {
  name: 'daily',
  title: 'Daily rollups per goal',
  description:
    "Per goal and UTC day, the goal's metric over that day's stored reports (late ones included): count, sum, minimum, maximum, mean, and the goal's aggregation (rate: sum per second of the day; p50 and p95: the value at index floor(q*(n-1)) of the sorted values).",
  columns: [
    { name: 'goalId', type: 'string', description: 'The goal' },
    { name: 'metric', type: 'string', description: "The goal's metric" },
    { name: 'aggregation', type: 'string', description: "The goal's aggregation" },
    { name: 'day', type: 'date', description: 'The UTC day' },
    { name: 'count', type: 'integer', description: 'Reports that day' },
    { name: 'sum', type: 'number', description: 'Sum of their values' },
    { name: 'min', type: 'number', description: 'Smallest value' },
    { name: 'max', type: 'number', description: 'Largest value' },
    { name: 'mean', type: 'number', description: 'Mean value' },
    { name: 'value', type: 'number', description: "The goal's aggregation over the day" },
  ],
  primaryKey: ['goalId', 'day'],
};

export const alertsTable: PackageTable = {
  name: 'alerts',
  title: 'Alert versions',
  description:
    'Every version of every alert of the module: opened, firing, acknowledged (with the note), resolved.',
  columns: [
    { name: 'alertId', type: 'string', description: 'The alert' },
    { name: 'version', type: 'integer', description: 'Version of the alert' },
    { name: 'ruleId', type: 'string', description: 'The goal or constraint' },
    {
      name: 'kind',
      type: 'string',
      description: 'goal_deviation, constraint_violation, stagnation, data_gap or anomaly',
    },
    { name: 'severity', type: 'string', description: 'warning or critical' },
    { name: 'state', type: 'string', description: 'pending, firing or resolved' },
    { name: 'openedAt', type: 'timestamp', description: 'When the episode started (event time)' },
    { name: 'updatedAt', type: 'timestamp', description: 'When this version was made' },
    { name: 'resolvedAt', type: 'timestamp', description: 'When it resolved' },
    { name: 'observed', type: 'number', description: 'The observed value' },
    { name: 'target', type: 'number', description: 'The target or bound' },
    { name: 'shortfall', type: 'number', description: 'The shortfall' },
    { name: 'message', type: 'string', description: 'What happened, in words' },
    { name: 'acknowledgedBy', type: 'string', description: 'The overseer who acknowledged it' },
    { name: 'note', type: 'string', description: "The overseer's note" },
  ],
  primaryKey: ['alertId', 'version'],
};

export const registryTable: PackageTable = {
  name: 'registry',
  title: 'Registry history',
  description:
    'Every version of the module definition: goals, owner, agencies, declared dimensions, and why it changed.',
  columns: [
    { name: 'version', type: 'integer', description: 'Module version' },
    { name: 'updatedAt', type: 'timestamp', description: 'When it took effect' },
    { name: 'updatedBy', type: 'string', description: 'Who changed it' },
    { name: 'rationale', type: 'string', description: 'Why (public, audited)' },
    { name: 'definition', type: 'string', json: true, description: 'The module version, a JSON object' },
  ],
  primaryKey: ['version'],
};

/** A row as the table's columns in order. */
export type TableRow = FileValue[];
