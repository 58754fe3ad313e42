import type { ClickHouseClient } from '@clickhouse/client';
import type {
  BucketGeometry,
  BucketPair,
  GroundTruth,
  RuleBuckets,
  WindowAggregates,
  WindowQuery,
} from '../../ports/ground-truth.js';
import { bucketPairOf, windowAggregatesOf } from '../sql/ground-truth-rows.js';
import { sqlNumber, sqlString } from '../sql/literals.js';
import { classifyClickHouseError } from './errors.js';
import { physicalTable } from './tables.js';

const str = (v: string) => sqlString(v, 'clickhouse');
const num = (v: number) => sqlNumber(v, 'clickhouse');

/** Start of the bucket of width `w` holding `t` (a floor that also holds for negative times). */
const bucketOf = (t: string, w: string) => `(${t} - ((${t} % ${w}) + ${w}) % ${w})`;

/**
 * The module's raw events of one metric, corrected: one per key (FINAL), without retractions and
 * without the versions a stored correction replaced (named in its `supersedes`).
 */
function corrected(moduleId: string, metric: string, columns: string): string {
  const m = str(moduleId);
  return (
    `SELECT ${columns} FROM metric_events FINAL WHERE module_id = ${m} AND metric = ${str(metric)} ` +
    "AND retract = 0 AND concat(agency_id, ' ', event_id) NOT IN (SELECT concat(agency_id, ' ', supersedes) " +
    `FROM metric_events WHERE module_id = ${m} AND supersedes != '')`
  );
}

/**
 * The ground truth in ClickHouse SQL (18.16 and current): raw events read with FINAL (duplicates are
 * identical replays, so any one of a key will do) and corrected (no retraction, no version a stored
 * correction replaced), rollups with FINAL (the newest row wins; one left without events is none).
 * Aggregation happens in the server; only one row per bucket comes back, streamed.
 */
export class ClickHouseGroundTruth implements GroundTruth {
  constructor(private readonly client: ClickHouseClient) {}

  async bucketGeometry(windowMs: number): Promise<BucketGeometry> {
    // `if` evaluates both branches in ClickHouse, so no branch may divide by zero.
    const sql =
      `WITH toInt64(${num(windowMs)}) AS gh_w, ` +
      'arrayFilter(n -> gh_w % n = 0, arrayMap(i -> toInt64(i) + 60, range(61))) AS gh_divisors, ' +
      'if(empty(gh_divisors), toInt64(0), gh_divisors[1]) AS gh_n ' +
      'SELECT if(gh_w < 60, toInt64(1), if(gh_n > 0, intDiv(gh_w, greatest(gh_n, 1)), intDiv(gh_w, 60))) AS width_ms, ' +
      'if(gh_w < 60, greatest(toInt64(1), gh_w), if(gh_n > 0, gh_n, intDiv(gh_w + width_ms - 1, greatest(width_ms, 1)))) AS buckets';
    const [row] = await this.rows<{ width_ms: string; buckets: string }>(sql, 'bucket geometry');
    return { widthMs: Number(row!.width_ms), buckets: Number(row!.buckets) };
  }

  async eventCount(moduleId: string): Promise<number> {
    const [row] = await this.rows<{ n: string }>(
      `SELECT count() AS n FROM metric_events FINAL WHERE module_id = ${str(moduleId)}`,
      'counting raw events',
    );
    return Number(row?.n ?? 0);
  }

  async forEachBucket(rule: RuleBuckets, visit: (pair: BucketPair) => void): Promise<void> {
    const w = `toInt64(${num(rule.widthMs)})`;
    const raw =
      `SELECT ${bucketOf('observed_ms', w)} AS bucket_ms, 1 AS raw_has, count() AS raw_count, ` +
      'sum(value) AS raw_sum, sum(abs(value)) AS raw_abs_sum, min(value) AS raw_min, max(value) AS raw_max, ' +
      'argMax(value, (observed_ms, event_id)) AS raw_last_value, max(observed_ms) AS raw_last_ms, ' +
      'argMax(event_id, (observed_ms, event_id)) AS raw_last_event_id ' +
      `FROM (${corrected(rule.moduleId, rule.metric, 'event_id, value, observed_ms')}) GROUP BY bucket_ms`;
    const stored =
      'SELECT toInt64(bucket_ms) AS bucket_ms, 1 AS stored_has, count AS stored_count, sum AS stored_sum, ' +
      'min AS stored_min, max AS stored_max, last_value AS stored_last_value, last_ms AS stored_last_ms, ' +
      'last_event_id AS stored_last_event_id ' +
      `FROM ${physicalTable('rollups')} FINAL WHERE module_id = ${str(rule.moduleId)} AND rule_id = ${str(rule.ruleId)} ` +
      `AND width_ms = ${w}`;
    // FINAL first, then the filter: only the newest row of a bucket decides whether it has events.
    const storedWithEvents = `SELECT * FROM (${stored}) WHERE stored_count > 0`;
    // Unmatched sides read as default values (0, ''), hence the *_has markers.
    const sql = `SELECT * FROM (${raw}) ALL FULL OUTER JOIN (${storedWithEvents}) USING (bucket_ms) ORDER BY bucket_ms`;
    try {
      const result = await this.client.query({ query: sql, format: 'JSONEachRow' });
      for await (const rows of result.stream<Record<string, unknown>>()) {
        for (const row of rows) visit(pairOf(row.json()));
      }
    } catch (err) {
      throw classifyClickHouseError(err, 'recomputing rollups');
    }
  }

  async window(query: WindowQuery): Promise<WindowAggregates> {
    const w = `toInt64(${num(query.geometry.widthMs)})`;
    const end = bucketOf(`toInt64(${num(query.asOfMs)})`, w);
    const from = `(${end} - ${num(query.geometry.buckets - 1)} * ${w})`;
    const to = `(${end} + ${w})`;
    const events =
      `SELECT event_id, value, observed_ms FROM (${corrected(query.moduleId, query.metric, 'event_id, value, observed_ms, late')}) ` +
      `WHERE late = 0 AND observed_ms >= ${from} AND observed_ms < ${to}`;
    const [row] = await this.rows<Record<string, unknown>>(
      `SELECT ${from} AS from_ms, ${to} AS to_ms, count() AS count, sum(value) AS sum, sum(abs(value)) AS abs_sum, ` +
        'min(value) AS min, max(value) AS max, argMax(value, (observed_ms, event_id)) AS last_value ' +
        `FROM (${events})`,
      'recomputing a window',
    );
    const count = Number(row!.count);
    const some = count > 0;
    let quantile: number | null = null;
    if (query.quantile !== undefined && some) {
      const rank = Math.floor(query.quantile * (count - 1));
      const [q] = await this.rows<{ value: number }>(
        `SELECT value FROM (${events}) ORDER BY value LIMIT ${num(rank)}, 1`,
        'recomputing a quantile',
      );
      quantile = q ? Number(q.value) : null;
    }
    return windowAggregatesOf(row!, quantile);
  }

  private async rows<R>(sql: string, doing: string): Promise<R[]> {
    try {
      const result = await this.client.query({ query: sql, format: 'JSONEachRow' });
      return await result.json<R>();
    } catch (err) {
      throw classifyClickHouseError(err, doing);
    }
  }
}

function pairOf(row: Record<string, unknown>): BucketPair {
  return bucketPairOf(row, { raw: Number(row.raw_has) === 1, stored: Number(row.stored_has) === 1 });
}
