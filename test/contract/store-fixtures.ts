import type { Condition } from '../../services/ports/store.js';
import type { Row, TableName } from '../../services/ports/tables.js';

/** Strings that break naive SQL quoting, JSON encoders, text formats or C-string APIs. */
export const hostileStrings: readonly string[] = [
  '',
  "'",
  "''",
  '\\',
  "\\'",
  "'; DROP TABLE metric_events; --",
  "x' OR '1'='1",
  '\0',
  'a\0b\0',
  '\n\r\t\b\f\v',
  '\x01\x1f\x7f',
  '\\N',
  'NULL',
  '\\x41\\0\\n',
  '`backtick` "double" $$dollar$$',
  '{p:String} ? :name %s %_*',
  '\u2028\u2029',
  '😀 emoji, 中文, é and e\u0301',
  '\u202eRTL override\uFEFF',
  `${"'\\".repeat(5_000)}${'long '.repeat(4_000)}`,
];

/** Unique per call, so tests sharing one database never see each other's rows. */
export function uniqueId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

// audit_log is keyed by seq alone: hand out distinct, large values (near 2^53) per process.
let seqCounter = Number.MAX_SAFE_INTEGER - 1_000_000_000 + Math.floor(Math.random() * 900_000_000);
function nextSeq(): number {
  seqCounter += 1;
  return seqCounter;
}

/** The condition that selects exactly the rows `sampleRows(p)` wrote to `table`. */
export function prefixFilter(table: TableName, p: string): Condition[] {
  switch (table) {
    case 'alerts':
      return [{ column: 'alert_id', op: '=', value: p }];
    case 'registry_entities':
      return [{ column: 'id', op: '=', value: p }];
    case 'audit_log':
      return [{ column: 'actor', op: '=', value: p }];
    case 'dead_letters':
      return [{ column: 'id', op: 'in', value: [`${p}_0`, `${p}_1`] }];
    case 'audit_checkpoints':
      return [{ column: 'origin', op: '=', value: p }];
    case 'otlp_series':
      return [{ column: 'agency_id', op: '=', value: p }];
    default:
      return [{ column: 'module_id', op: '=', value: p }];
  }
}

/** Floats whose text forms are hard to parse exactly. */
const trickyFloats = [
  0.1,
  1 / 3,
  -2.5e-300,
  1.7976931348623157e308,
  4.518501476353705e57,
  -7.280319619677774e-165,
  123.456,
];

/** Two or three rows for every table, all under one key prefix `p`, covering every column type's edges. */
export function sampleRows(p: string): { [T in TableName]: Row<T>[] } {
  const f = (i: number) => trickyFloats[i % trickyFloats.length]!;
  const seqs = [nextSeq(), nextSeq()];
  return {
    metric_events: [0, 1, 2].map((i) => ({
      module_id: p,
      agency_id: 'agency',
      event_id: `e${i}`,
      metric: 'on_time_rate',
      value: f(i),
      observed_ms: 1_700_000_000_000 + i,
      received_ms: 1_700_000_000_500 + i,
      dimensions: i === 0 ? {} : { route: `r${i}`, note: hostileStrings[i]! },
      late: i === 2,
      module_version: 4_294_967_295 - i,
      supersedes: '',
      retract: false,
      note: '',
    })),
    rollups: [0, 1].map((i) => ({
      module_id: p,
      rule_id: 'ontime',
      metric: 'on_time_rate',
      width_ms: 60_000,
      bucket_ms: 1_700_000_040_000 + i * 60_000,
      module_version: 3,
      count: 10 + i,
      sum: f(i + 3),
      min: f(i + 2),
      max: f(i + 4),
      last_value: f(i + 5),
      last_ms: 1_700_000_059_999,
      last_event_id: `e${i}`,
      sketch: 'AAECAwQ=',
      updated_ms: -1,
    })),
    performance_updates: [0, 1].map((i) => ({
      module_id: p,
      goal_id: 'ontime',
      as_of_ms: 1_700_000_000_000 + i * 1000,
      module_version: 1,
      status: i ? 'at_risk' : 'on_track',
      value: f(i + 1),
      body: { trend: f(i), nested: { list: [1, 'two', null, true] } },
      published_ms: 1_700_000_000_100 + i * 1000,
    })),
    alerts: [1, 2].map((version) => ({
      alert_id: p,
      version,
      module_id: 'bus',
      rule_id: 'ontime',
      kind: 'goal_deviation',
      state: version === 1 ? 'pending' : 'firing',
      opened_ms: 1_700_000_000_000,
      updated_ms: 1_700_000_000_000 + version,
      body: { message: `v${version}`, observed: 71.5 },
    })),
    module_versions: [1, 2].map((version) => ({
      module_id: p,
      version,
      updated_ms: 1_700_000_000_000 + version,
      body: { title: 'Bus punctuality', goals: [{ id: 'ontime', target: 90 }] },
    })),
    registry_entities: ['agency', 'overseer'].map((kind, i) => ({
      kind,
      id: p,
      version: i + 1,
      updated_ms: 1_700_000_000_000,
      deleted: i === 1,
      body: { name: 'Transit agency', keyHash: 'abc' },
    })),
    audit_log: [0, 1].map((i) => ({
      seq: seqs[i]!,
      at_ms: 1_700_000_000_000,
      actor: p,
      action: 'module.put',
      subject: 'bus',
      hash: 'f'.repeat(64),
      body: { before: null, after: { v: i } },
    })),
    audit_checkpoints: [0, 1].map((i) => ({
      origin: p,
      size: seqs[i]!,
      signed_ms: 1_700_000_000_000,
      cosignatures: i,
      note: `${p}\n${seqs[i]}\n${'A'.repeat(43)}=\n\n— ${p} ${hostileStrings[i]!}\n`,
    })),
    held_corrections: [0, 1].map((i) => ({
      id: `${p}_${i}`,
      module_id: p,
      agency_id: 'agency',
      event_id: `c${i}`,
      metric: 'on_time_rate',
      supersedes: `e${i}`,
      replaces: `e${i}`,
      target_observed_ms: 1_600_000_000_000 + i,
      held_ms: 1_700_000_000_000 + i,
      state: i ? 'approved' : 'held',
      version: i + 1,
      decided_by: i ? 'ada' : '',
      decided_ms: i ? 1_700_000_001_000 : 0,
      rationale: hostileStrings[i]!,
      event: { eventId: `c${i}`, supersedes: `e${i}`, value: f(i), note: hostileStrings[i + 2]! },
    })),
    otlp_series: [0, 1].map((i) => ({
      agency_id: p,
      series_id: `${p}_${hostileStrings[i]!}`,
      start_ns: '1700000000000000000',
      time_ns: `17000000${i}0000000000`,
      time_ms: 1_700_000_000_000 + i,
      value: trickyFloats[i]!,
      base: trickyFloats[2 + i]!,
    })),
    dead_letters: [0, 1].map((i) => ({
      id: `${p}_${i}`,
      source_topic: 'metrics.raw',
      source_partition: i,
      source_offset: '9223372036854775807',
      reason: 'invalid_json',
      received_ms: 1_700_000_000_000,
      headers: { 'glasshouse-agency': 'a' },
      payload: hostileStrings[5 + i]!,
      replayed_ms: 0,
    })),
  };
}
