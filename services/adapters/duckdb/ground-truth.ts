import type { DuckDBConnection } from '@duckdb/node-api';
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

const str = (v: string) => sqlString(v, 'duckdb');
const num = (v: number) => `CAST(${sqlNumber(v, 'duckdb')} AS BIGINT)`;

/** Start of the bucket of width `w` holding `t` (a floor that also holds for negative times). */
const bucketOf = (t: string, w: string) => `(${t} - ((${t} % ${w}) + ${w}) % ${w})`;

/** Runs `op` on the store's connection, in turn with every other call (DuckDbStore.serialized). */
export type Serialized = <R>(op: (c: DuckDBConnection) => Promise<R>, doing: string) => Promise<R>;

/**
 * The raw events of one metric of a module as corrected, one row per (agency, eventId) key: the store keeps
 * replays and dedups at read time, as `select` does. Replays of a key are identical rows, so any one
 * will do (DISTINCT ON: about four times faster than row_number() here), and `conditions` may filter
 * before the dedup.
 */
function events(moduleId: string, metric: string, conditions: string[] = []): string {
  // The corrected set: no retraction, and no version that a stored correction replaced (an anti-join
  // on the module's few corrections).
  const m = str(moduleId);
  const replaced =
    "(agency_id || ' ' || event_id) NOT IN (SELECT agency_id || ' ' || supersedes FROM metric_events " +
    `WHERE module_id = ${m} AND supersedes <> '')`;
  return (
    'SELECT DISTINCT ON (agency_id, event_id) event_id, value, observed_ms, late FROM metric_events ' +
    `WHERE ${[`module_id = ${m}`, `metric = ${str(metric)}`, 'NOT retract', replaced, ...conditions].join(' AND ')}`
  );
}

/**
 * The ground truth in DuckDB SQL. Aggregation happens in DuckDB; the bucket pairs are read chunk by
 * chunk from a streaming result, so only one chunk is in JavaScript memory at a time.
 */
export class DuckDbGroundTruth implements GroundTruth {
  constructor(private readonly serialized: Serialized) {}

  async bucketGeometry(windowMs: number): Promise<BucketGeometry> {
    const sql =
      'SELECT width_ms, CASE WHEN w < 60 THEN greatest(1, w) WHEN n > 0 THEN n ' +
      'ELSE (w + width_ms - 1) // width_ms END AS buckets FROM (' +
      'SELECT w, n, CASE WHEN w < 60 THEN 1 WHEN n > 0 THEN w // n ELSE w // 60 END AS width_ms FROM (' +
      'SELECT w, coalesce(list_filter(range(60, 121), x -> w % x = 0)[1], 0) AS n ' +
      `FROM (SELECT ${num(windowMs)} AS w)))`;
    const [row] = await this.rows(sql, 'bucket geometry');
    return { widthMs: Number(row!.width_ms), buckets: Number(row!.buckets) };
  }

  async eventCount(moduleId: string): Promise<number> {
    const [row] = await this.rows(
      'SELECT count(*) AS n FROM (SELECT DISTINCT agency_id, event_id FROM metric_events ' +
        `WHERE module_id = ${str(moduleId)})`,
      'counting raw events',
    );
    return Number(row?.n ?? 0);
  }

  async forEachBucket(rule: RuleBuckets, visit: (pair: BucketPair) => void): Promise<void> {
    const w = num(rule.widthMs);
    const raw =
      `SELECT ${bucketOf('observed_ms', w)} AS bucket_ms, count(*) AS "count", sum(value) AS "sum", ` +
      'sum(abs(value)) AS abs_sum, min(value) AS "min", max(value) AS "max", ' +
      'arg_max(value, (observed_ms, event_id)) AS last_value, max(observed_ms) AS last_ms, ' +
      'arg_max(event_id, (observed_ms, event_id)) AS last_event_id ' +
      `FROM (${events(rule.moduleId, rule.metric)}) GROUP BY 1`;
    // The newest row of a key wins (rollups' version column is updated_ms); a row left with no events
    // (a correction took them all out) is a bucket without events.
    const stored =
      'SELECT bucket_ms, "count", "sum", "min", "max", last_value, last_ms, last_event_id FROM (' +
      'SELECT *, row_number() OVER (PARTITION BY module_id, rule_id, width_ms, bucket_ms ORDER BY updated_ms DESC) ' +
      `AS gh_rank FROM rollups WHERE module_id = ${str(rule.moduleId)} AND rule_id = ${str(rule.ruleId)} ` +
      `AND width_ms = ${w}) WHERE gh_rank = 1 AND "count" > 0`;
    const sql =
      'SELECT coalesce(r.bucket_ms, s.bucket_ms) AS bucket_ms, ' +
      'r."count" AS raw_count, r."sum" AS raw_sum, r.abs_sum AS raw_abs_sum, r."min" AS raw_min, r."max" AS raw_max, ' +
      'r.last_value AS raw_last_value, r.last_ms AS raw_last_ms, r.last_event_id AS raw_last_event_id, ' +
      's."count" AS stored_count, s."sum" AS stored_sum, s."min" AS stored_min, s."max" AS stored_max, ' +
      's.last_value AS stored_last_value, s.last_ms AS stored_last_ms, s.last_event_id AS stored_last_event_id ' +
      `FROM (${raw}) r FULL OUTER JOIN (${stored}) s ON r.bucket_ms = s.bucket_ms ORDER BY 1`;
    await this.serialized(async (c) => {
      const result = await c.stream(sql);
      for await (const rows of result.yieldRowObjectJs()) {
        for (const row of rows) visit(pairOf(row));
      }
    }, 'recomputing rollups');
  }

  async window(query: WindowQuery): Promise<WindowAggregates> {
    const w = num(query.geometry.widthMs);
    const end = bucketOf(num(query.asOfMs), w);
    const from = `(${end} - ${num(query.geometry.buckets - 1)} * ${w})`;
    const to = `(${end} + ${w})`;
    const inWindow = events(query.moduleId, query.metric, [
      'NOT late',
      `observed_ms >= ${from}`,
      `observed_ms < ${to}`,
    ]);
    const [row] = await this.rows(
      `SELECT ${from} AS from_ms, ${to} AS to_ms, count(*) AS count, coalesce(sum(value), 0) AS sum, ` +
        'coalesce(sum(abs(value)), 0) AS abs_sum, min(value) AS min, max(value) AS max, ' +
        `arg_max(value, (observed_ms, event_id)) AS last_value FROM (${inWindow})`,
      'recomputing a window',
    );
    const count = Number(row!.count);
    let quantile: number | null = null;
    if (query.quantile !== undefined && count > 0) {
      const rank = Math.floor(query.quantile * (count - 1));
      const [q] = await this.rows(
        `SELECT value FROM (${inWindow}) ORDER BY value LIMIT 1 OFFSET ${sqlNumber(rank, 'duckdb')}`,
        'recomputing a quantile',
      );
      quantile = q ? Number(q.value) : null;
    }
    return windowAggregatesOf(row!, quantile);
  }

  private rows(sql: string, doing: string): Promise<Array<Record<string, unknown>>> {
    return this.serialized(async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS(), doing);
  }
}

function pairOf(row: Record<string, unknown>): BucketPair {
  return bucketPairOf(row, { raw: row.raw_count !== null, stored: row.stored_count !== null });
}
