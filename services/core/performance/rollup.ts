import type { Row } from '../../ports/tables.js';
import { emptySummary, mergeSummary, type Summary } from './aggregate.js';
import { QuantileSketch, type SketchJson } from './sketch.js';

export type RollupRow = Row<'rollups'>;

/** Identifies the rule a rollup row belongs to. */
export interface RollupKey {
  moduleId: string;
  ruleId: string;
  metric: string;
  widthMs: number;
  moduleVersion: number;
}

/**
 * The `sketch` column: engine state beyond the plain columns, as JSON (or '' when there is none).
 * `q` is the quantile sketch of every stored event (percentile rules only); `live` is present only
 * when late events make the stored bucket differ from the live one, and holds the live part, so a
 * restart rebuilds the live window without the late events.
 */
interface StateBlob {
  q?: SketchJson;
  live?: SummaryJson;
}

interface SummaryJson {
  c: number;
  s: number;
  mn: number | null;
  mx: number | null;
  lv: number;
  lm: number | null;
  li: string;
  q?: SketchJson;
}

/** A stored bucket as a `rollups` row. The plain columns always describe every stored event, late ones included. */
export function toRollupRow(
  key: RollupKey,
  bucketMs: number,
  stored: Summary,
  live: Summary | undefined,
  updatedMs: number,
): RollupRow {
  const blob: StateBlob = {};
  if (stored.sketch) blob.q = stored.sketch.toJson();
  if (live) blob.live = summaryToJson(live);
  return {
    module_id: key.moduleId,
    rule_id: key.ruleId,
    metric: key.metric,
    width_ms: key.widthMs,
    bucket_ms: bucketMs,
    module_version: key.moduleVersion,
    count: stored.count,
    sum: stored.sum,
    min: stored.count > 0 ? stored.min : 0,
    max: stored.count > 0 ? stored.max : 0,
    last_value: stored.lastValue,
    last_ms: stored.count > 0 ? stored.lastMs : 0,
    last_event_id: stored.lastEventId,
    sketch: blob.q || blob.live ? JSON.stringify(blob) : '',
    updated_ms: updatedMs,
  };
}

/** True when the row carries a quantile sketch (it was written by a percentile rule). Throws on a malformed row. */
/** The row's key (module, rule, width, bucket) as one string, for maps of rows. */
export function rollupKeyOf(r: RollupRow): string {
  return `${r.module_id}\u0000${r.rule_id}\u0000${r.width_ms}\u0000${r.bucket_ms}`;
}

export function rollupHasSketch(row: RollupRow): boolean {
  return parseBlob(row.sketch).q !== undefined;
}

/** Reads a `rollups` row back: the stored summary and, when it differs, the live one. Throws on a malformed row. */
export function fromRollupRow(row: RollupRow, withSketch: boolean): { stored: Summary; live?: Summary } {
  const blob = parseBlob(row.sketch);
  const stored: Summary = {
    count: row.count,
    sum: row.sum,
    min: row.count > 0 ? row.min : Number.POSITIVE_INFINITY,
    max: row.count > 0 ? row.max : Number.NEGATIVE_INFINITY,
    lastValue: row.last_value,
    lastMs: row.count > 0 ? row.last_ms : Number.NEGATIVE_INFINITY,
    lastEventId: row.last_event_id,
  };
  if (withSketch) stored.sketch = blob.q ? QuantileSketch.fromJson(blob.q) : new QuantileSketch();
  if (!blob.live) return { stored };
  return { stored, live: summaryFromJson(blob.live, withSketch) };
}

/**
 * Merges a partial row (events of a bucket the engine no longer holds) into the stored row with the
 * same key, or returns it as is when nothing is stored yet. The processor reads, merges, writes; the
 * merged row carries the later `updated_ms`, so it wins over the row it was merged from (tables.ts:
 * the newest row wins).
 */
export function mergeRollupRows(stored: RollupRow | undefined, delta: RollupRow): RollupRow {
  if (!stored) return delta;
  const withSketch = stored.sketch.includes('"q"') || delta.sketch.includes('"q"');
  const a = fromRollupRow(stored, withSketch).stored;
  mergeSummary(a, fromRollupRow(delta, withSketch).stored);
  const key: RollupKey = {
    moduleId: stored.module_id,
    ruleId: stored.rule_id,
    metric: stored.metric,
    widthMs: stored.width_ms,
    moduleVersion: Math.max(stored.module_version, delta.module_version),
  };
  return toRollupRow(key, stored.bucket_ms, a, undefined, Math.max(stored.updated_ms, delta.updated_ms));
}

function parseBlob(text: string): StateBlob {
  if (text === '') return {};
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null) throw new TypeError('rollup sketch: not an object');
  return parsed as StateBlob;
}

function summaryToJson(summary: Summary): SummaryJson {
  const empty = summary.count === 0;
  const json: SummaryJson = {
    c: summary.count,
    s: summary.sum,
    mn: empty ? null : summary.min,
    mx: empty ? null : summary.max,
    lv: summary.lastValue,
    lm: empty ? null : summary.lastMs,
    li: summary.lastEventId,
  };
  if (summary.sketch) json.q = summary.sketch.toJson();
  return json;
}

function summaryFromJson(json: SummaryJson, withSketch: boolean): Summary {
  const summary = emptySummary(false);
  summary.count = json.c;
  summary.sum = json.s;
  if (json.c > 0) {
    summary.min = json.mn ?? Number.POSITIVE_INFINITY;
    summary.max = json.mx ?? Number.NEGATIVE_INFINITY;
    summary.lastMs = json.lm ?? Number.NEGATIVE_INFINITY;
    summary.lastValue = json.lv;
    summary.lastEventId = json.li;
  }
  if (withSketch) summary.sketch = json.q ? QuantileSketch.fromJson(json.q) : new QuantileSketch();
  return summary;
}
