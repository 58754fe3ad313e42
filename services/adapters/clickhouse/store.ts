import { Readable } from 'node:stream';
import { type ClickHouseClient, ClickHouseLogLevel, createClient, drainStream } from '@clickhouse/client';
import { type DailyAggregate, type DailyQuery, dayMs, maxDailyRows } from '../../ports/daily.js';
import type { GroundTruth, GroundTruthSource } from '../../ports/ground-truth.js';
import type { Health } from '../../ports/lifecycle.js';
import type { ExpiringTable, Expiry } from '../../ports/retention.js';
import type { Condition, MigrationReport, SelectQuery, Store } from '../../ports/store.js';
import { type ColumnType, type Row, type TableName, tables } from '../../ports/tables.js';
import type { Logger } from '../../runtime/logger.js';
import { checkDailyQuery, checkDailyRows, dailyAggregateOf } from '../sql/daily.js';
import { StoreClosedError } from '../sql/errors.js';
import { assertSlug, sqlIdentifier, tableSpec } from '../sql/identifiers.js';
import { sqlNumber, sqlString } from '../sql/literals.js';
import { checkApplied, loadMigrations, versionAtLeast } from '../sql/migrations.js';
import { checkExpiry } from '../sql/retention.js';
import { decodeRow, encodeJson, validateRows } from '../sql/rows.js';
import { checkRowCeiling, renderCountPerGroup, renderMaxPerGroup, renderSelect } from '../sql/select.js';
import { winnerColumns } from '../sql/versions.js';
import { classifyClickHouseError } from './errors.js';
import { ClickHouseGroundTruth } from './ground-truth.js';
import { expireClickHouse } from './retention.js';
import { encodeRowBinary, type WireType } from './rowbinary.js';
import { physicalTable } from './tables.js';

export interface ClickHouseStoreOptions {
  /** HTTP endpoint, e.g. `http://127.0.0.1:8123`. */
  url: string;
  /** Database for every table; created by `start()` if missing. Must be a slug. */
  database: string;
  username?: string;
  password?: string;
  logger?: Logger;
  /** Per-request timeout. Default 30 s. */
  requestTimeoutMs?: number;
  /** Rows per INSERT request. Default 10,000. */
  insertBatchRows?: number;
  /** Background /ping interval that keeps `health()` current. Default 5 s. */
  healthIntervalMs?: number;
}

const migrationsDir = new URL('../../../infra/clickhouse/migrations/', import.meta.url);

/**
 * DateTime columns kept beside a key's epoch-ms column for PARTITION BY. The adapter fills them
 * because ClickHouse 18.16 ignores DEFAULT expressions for fields missing from JSONEachRow input.
 */
const partitionColumns: Partial<Record<TableName, { column: string; fromMs: string }>> = {
  metric_events: { column: 'observed_at', fromMs: 'observed_ms' },
  rollups: { column: 'bucket_at', fromMs: 'bucket_ms' },
  performance_updates: { column: 'as_of_at', fromMs: 'as_of_ms' },
};

const maxDateTime = 0xffff_ffff;

/**
 * The Store port over ClickHouse (18.16 and current). Tables are ReplacingMergeTree ordered by
 * the catalog key; reads collapse each key to its winning version in a subquery (see `select`), so
 * conditions on non-key columns see only that version.
 */
export class ClickHouseStore implements Store, GroundTruthSource {
  readonly name = 'clickhouse-store';
  private client: ClickHouseClient | undefined;
  private state: Health = { state: 'error', detail: 'not started' };
  private timer: NodeJS.Timeout | undefined;
  private readonly database: string;

  constructor(private readonly opts: ClickHouseStoreOptions) {
    this.database = assertSlug(opts.database, 'database');
  }

  /** Creates the database if missing and connects. Migrations are a separate, explicit step. */
  async start(): Promise<void> {
    if (this.client) return;
    const bootstrap = this.createClient('default');
    try {
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${this.database}` });
    } catch (err) {
      this.state = { state: 'error', detail: (err as Error).message };
      throw classifyClickHouseError(err, `creating database ${this.database}`);
    } finally {
      await bootstrap.close();
    }
    this.client = this.createClient(this.database);
    this.state = { state: 'ok' };
    const interval = this.opts.healthIntervalMs ?? 5_000;
    this.timer = setInterval(() => void this.probe(), interval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    this.state = { state: 'error', detail: 'stopped' };
    await client?.close();
  }

  health(): Health {
    return this.state;
  }

  async migrate(): Promise<MigrationReport> {
    const client = this.connected();
    const migrations = await loadMigrations(migrationsDir);
    await this.run('creating schema_migrations', () =>
      client.command({
        query:
          'CREATE TABLE IF NOT EXISTS schema_migrations (id String, checksum String, applied_ms Int64) ' +
          'ENGINE = ReplacingMergeTree ORDER BY id',
      }),
    );
    const applied = new Map(
      (
        await this.rows<{ id: string; checksum: string }>('SELECT id, checksum FROM schema_migrations FINAL')
      ).map((r) => [r.id, r.checksum] as const),
    );
    checkApplied(migrations, applied);
    const [{ version } = { version: '0' }] = await this.rows<{ version: string }>(
      'SELECT version() AS version',
    );
    const done: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      if (migration.requiresVersion && !versionAtLeast(version, migration.requiresVersion)) {
        // Not recorded, so it applies once the server is upgraded.
        this.opts.logger?.warn({ migration: migration.id, version }, 'migration skipped: server too old');
        continue;
      }
      for (const statement of migration.statements) await this.apply(migration.id, statement);
      await this.run(`recording migration ${migration.id}`, () =>
        client.insert({
          table: 'schema_migrations',
          format: 'JSONEachRow',
          values: [{ id: migration.id, checksum: migration.checksum, applied_ms: Date.now() }],
        }),
      );
      applied.set(migration.id, migration.checksum);
      done.push(migration.id);
    }
    return { applied: done, current: migrations.map((m) => m.id).filter((id) => applied.has(id)) };
  }

  /**
   * Runs one migration statement. Every statement must be safe to run again and in two processes at
   * once (nothing locks migrations); `ALTER TABLE t ADD COLUMN IF NOT EXISTS c ...` is applied here on
   * every server, since 18.16 does not parse it: the column is added unless it exists, and a failed
   * add is fine when the column exists afterwards (another process added it meanwhile).
   */
  private async apply(id: string, statement: string): Promise<void> {
    const client = this.connected();
    const doing = `migration ${id}`;
    const addColumn = /^ALTER TABLE ([a-z0-9_]+) ADD COLUMN IF NOT EXISTS ([a-z0-9_]+) /i.exec(statement);
    if (!addColumn) {
      await this.run(doing, () => client.command({ query: statement }));
      return;
    }
    const [, table = '', column = ''] = addColumn;
    if (await this.hasColumn(table, column)) return;
    const plain = statement.replace(/ IF NOT EXISTS /i, ' ');
    try {
      await this.run(doing, () => client.command({ query: plain }));
    } catch (err) {
      if (!(await this.hasColumn(table, column))) throw err;
    }
  }

  private async hasColumn(table: string, column: string): Promise<boolean> {
    const [row] = await this.rows<{ n: string }>(
      'SELECT count() AS n FROM system.columns WHERE database = currentDatabase() ' +
        `AND table = ${sqlString(table, 'clickhouse')} AND name = ${sqlString(column, 'clickhouse')}`,
    );
    return Number(row?.n ?? 0) > 0;
  }

  async insert<T extends TableName>(table: T, rows: Row<T>[]): Promise<void> {
    tableSpec(table);
    validateRows(table, rows);
    const client = this.connected();
    const columns = wireColumns(table);
    const names = columns.map(([name]) => sqlIdentifier(name, 'clickhouse')).join(', ');
    const statement = `INSERT INTO ${physicalTable(table)} (${names}) FORMAT RowBinary`;
    const batch = this.opts.insertBatchRows ?? 10_000;
    for (let i = 0; i < rows.length; i += batch) {
      const encoded = rows.slice(i, i + batch).map((row) => wireRow(table, row as Record<string, unknown>));
      const body = encodeRowBinary(columns, encoded);
      await this.run(`insert into ${table}`, async () => {
        const result = await client.exec({ query: statement, values: Readable.from([body]) });
        // The answer is empty; reading it to the end frees the socket for the next request.
        await drainStream(result.stream);
      });
    }
  }

  async select<T extends TableName>(table: T, query: SelectQuery = {}): Promise<Row<T>[]> {
    const spec = tableSpec(table);
    const parts = renderSelect(table, query, 'clickhouse');
    const id = (c: string) => sqlIdentifier(c, 'clickhouse');
    const keyColumns = spec.key.map(id);
    // Only the columns the query reads, each key once with its winning version's values. FINAL would
    // do it, but on 18.16 it merges in one thread, reading every column of every matching part
    // (seconds for a restore's reads); a GROUP BY over the key with argMax runs in parallel and reads
    // only these. The winner is the greatest version, then the latest write (`winnerColumns`, as
    // DuckDB's compaction and reads order them).
    // Key conditions keep or drop whole keys, so they filter before the grouping, as PREWHERE: they
    // use the primary key, and the other columns are read only for the granules they keep (18.16
    // moves no condition on a key column there by itself). Other conditions must see only the
    // winning version, so they filter after it.
    const ranking = winnerColumns(table).map(id);
    const winner = ranking.length > 1 ? `tuple(${ranking.join(', ')})` : ranking[0];
    const values = parts.read.filter((c) => !keyColumns.includes(c));
    const keyFilter = parts.keyConditions.length > 0 ? ` PREWHERE ${parts.keyConditions.join(' AND ')}` : '';
    const plain = (final: boolean) =>
      `SELECT ${parts.read.join(', ')} FROM ${physicalTable(table)}${final ? ' FINAL' : ''}${keyFilter}`;
    let inner: string;
    if (query.allRows || (values.length === 0 && parts.firstPer)) {
      // Every version of a key has the same key columns: a read of key columns alone, one row per
      // group, needs no ranking (LIMIT 1 BY drops the copies).
      inner = plain(false);
    } else if (winner) {
      // The grouped read's aliases are renamed back a level up: an aggregate named like a column
      // would shadow that column in the other aggregates of the same query.
      const aggregates = values.map((c) => `argMax(${c}, ${winner}) AS ${dedupAlias(c)}`);
      const grouped =
        `SELECT ${[...keyColumns, ...aggregates].join(', ')} FROM ${physicalTable(table)}` +
        `${keyFilter} GROUP BY ${keyColumns.join(', ')}`;
      inner = `SELECT ${[...keyColumns, ...values.map((c) => `${dedupAlias(c)} AS ${c}`)].join(', ')} FROM (${grouped})`;
    } else if (parts.firstPer) {
      // Without a version, copies of a key are identical rows: `firstPer` keeps one of them anyway.
      inner = plain(false);
    } else if (parts.keysListed) {
      // As many keys as the `in` list is long: one row per key, in memory.
      inner = `${plain(false)} LIMIT 1 BY ${keyColumns.join(', ')}`;
    } else {
      // FINAL, which merges in key order: raw events paged for a data package may hold more keys
      // than a grouping should hold in memory, and nothing is to be ranked.
      inner = plain(true);
    }
    const columns = parts.read.join(', ');
    let from = `(${inner})${where(parts.otherConditions)}`;
    // LIMIT 1 BY keeps the first row per group in the ORDER BY; the outer query orders and pages.
    if (parts.firstPer)
      from = `(SELECT ${columns} FROM ${from} ORDER BY ${parts.orderBy} LIMIT 1 BY ${parts.firstPer.join(', ')})`;
    const sql = `SELECT ${parts.output} FROM ${from} ORDER BY ${parts.orderBy} ${parts.limit}`;
    const raw = await this.rows<Record<string, unknown>>(sql);
    checkRowCeiling(table, parts, raw.length);
    return raw.map((r) => decodeRow(table, r));
  }

  async maxPerGroup<T extends TableName>(
    table: T,
    groupBy: string,
    column: string,
    conditions: Condition[] = [],
  ): Promise<Map<string, number>> {
    const q = renderMaxPerGroup(table, groupBy, column, conditions, 'clickhouse');
    // No FINAL: every version counts, and the conditions may use the primary key.
    const sql = `SELECT ${q.groupBy} AS g, toString(max(${q.column})) AS m FROM ${physicalTable(table)}${where(q.conditions)} GROUP BY ${q.groupBy}`;
    const raw = await this.rows<{ g: string; m: string }>(sql);
    return new Map(raw.map((r) => [r.g, Number(r.m)]));
  }

  async daily(query: DailyQuery): Promise<DailyAggregate[]> {
    checkDailyQuery(query);
    const str = (v: string) => sqlString(v, 'clickhouse');
    const num = (v: number) => `toInt64(${sqlNumber(v, 'clickhouse')})`;
    const day = num(dayMs);
    // visitParamExtractString (18.16 and current) reads a top-level string field of the stored JSON
    // text, '' when absent. Keys are unique in it and quotes in values are escaped, so the field found
    // is the dimension's own.
    const group =
      query.dimension === undefined ? "''" : `visitParamExtractString(dimensions, ${str(query.dimension)})`;
    // FINAL: one row per key (replays are identical rows), corrected, as ground-truth.ts reads them.
    const events =
      `SELECT event_id, value, observed_ms, ${group} AS grp, ` +
      `observed_ms - ((observed_ms % ${day}) + ${day}) % ${day} AS day_ms FROM metric_events FINAL ` +
      `WHERE module_id = ${str(query.moduleId)} AND metric = ${str(query.metric)} ` +
      `AND observed_ms >= ${num(query.fromMs)} AND observed_ms < ${num(query.toMs)} ` +
      // The corrected set, as ground-truth.ts: no retraction, no version a stored correction replaced.
      "AND retract = 0 AND concat(agency_id, ' ', event_id) NOT IN (SELECT concat(agency_id, ' ', supersedes) " +
      `FROM metric_events WHERE module_id = ${str(query.moduleId)} AND supersedes != '')`;
    // The quantile is the value at index ⌊q·(n−1)⌋ of the sorted values, as ground-truth.ts's.
    const quantile =
      query.quantile === undefined
        ? 'NULL'
        : `arraySort(groupArray(value))[toUInt64(floor(${sqlNumber(query.quantile, 'clickhouse')} * (count() - 1))) + 1]`;
    const sql =
      'SELECT toString(day_ms) AS day_ms, grp, toString(count()) AS n, sum(value) AS s, min(value) AS mn, ' +
      `max(value) AS mx, argMax(value, (observed_ms, event_id)) AS last_value, ${quantile} AS quantile ` +
      `FROM (${events}) GROUP BY day_ms, grp ORDER BY day_ms, grp LIMIT ${maxDailyRows + 1}`;
    const raw = await this.rows<Record<string, unknown>>(sql);
    checkDailyRows(raw.length);
    return raw.map((r) => dailyAggregateOf(r, query.quantile !== undefined));
  }

  async countPerGroup<T extends TableName>(
    table: T,
    groupBy: string,
    conditions: Condition[] = [],
  ): Promise<Map<string, number>> {
    const q = renderCountPerGroup(table, groupBy, conditions, 'clickhouse');
    const keys = [...new Set([q.groupBy, ...q.key])].join(', ');
    // No FINAL: the distinct keys are counted, whichever copy or version matched.
    const sql = `SELECT ${q.groupBy} AS g, toString(count()) AS n FROM (SELECT DISTINCT ${keys} FROM ${physicalTable(table)}${where(q.conditions)}) GROUP BY ${q.groupBy}`;
    const raw = await this.rows<{ g: string; n: string }>(sql);
    return new Map(raw.map((r) => [r.g, Number(r.n)]));
  }

  /** Retention without TTL: drops whole monthly partitions, or closed alerts by mutation (retention.ts). */
  async expire(table: ExpiringTable, beforeMs: number): Promise<Expiry> {
    checkExpiry(table, beforeMs);
    const client = this.connected();
    return expireClickHouse(
      {
        rows: (sql) => this.rows(sql),
        command: async (doing, sql) => {
          await this.run(doing, () => client.command({ query: sql }));
        },
      },
      table,
      beforeMs,
    );
  }

  /** Rollups and windows recomputed in this store's SQL (ground-truth.ts). */
  groundTruth(): GroundTruth {
    return new ClickHouseGroundTruth(this.connected());
  }

  /** Column names and ClickHouse types of `table` as the server has them, in table order. */
  async columns(table: string): Promise<Array<{ name: string; type: string }>> {
    if (table !== 'schema_migrations') tableSpec(table);
    const name = table === 'schema_migrations' ? table : physicalTable(table as TableName);
    const rows = await this.rows<{ name: string; type: string }>(`DESCRIBE TABLE ${name}`);
    return rows.map(({ name, type }) => ({ name, type }));
  }

  /** The server's version string, e.g. `18.16.1`. */
  async serverVersion(): Promise<string> {
    const [row] = await this.rows<{ version: string }>('SELECT version() AS version');
    return row?.version ?? 'unknown';
  }

  /** Runs a read-only statement and returns its rows; `sql` must already be safe. */
  private async rows<R>(sql: string): Promise<R[]> {
    const client = this.connected();
    return this.run('query', async () => {
      const result = await client.query({ query: sql, format: 'JSONEachRow' });
      return result.json<R>();
    });
  }

  private async run<R>(doing: string, op: () => Promise<R>): Promise<R> {
    try {
      const result = await op();
      if (this.client) this.state = { state: 'ok' };
      return result;
    } catch (err) {
      const error = classifyClickHouseError(err, doing);
      if (error.retriable && this.client) this.state = { state: 'error', detail: error.message };
      throw error;
    }
  }

  private async probe(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const result = await client.ping().catch((err: unknown) => ({ success: false as const, error: err }));
    if (this.client !== client) return;
    this.state = result.success
      ? { state: 'ok' }
      : { state: 'error', detail: `ping failed: ${String(result.error)}` };
  }

  private connected(): ClickHouseClient {
    if (!this.client) throw new StoreClosedError(this.name);
    return this.client;
  }

  private createClient(database: string): ClickHouseClient {
    return createClient({
      url: this.opts.url,
      database,
      ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
      request_timeout: this.opts.requestTimeoutMs ?? 30_000,
      // An idle socket is dropped well before the server closes it (its keep_alive_timeout: 3 s by
      // default before 23.11, 2 s in infra/clickhouse/local.ts), and a stale one is not reused after
      // a long event-loop pause: a request on a socket the server just closed fails with "socket hang
      // up", and the write is retried after a pause.
      keep_alive: { idle_socket_ttl: 1_000, eagerly_destroy_stale_sockets: true },
      application: 'glasshouse',
      // Errors are classified and surfaced to the caller; the client's own console logging would
      // only duplicate them.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }
}

function where(conditions: string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/** The columns an INSERT writes: the catalog's, then the table's partition DateTime if it has one. */
export function wireColumns(table: TableName): Array<readonly [string, WireType]> {
  const columns: Array<readonly [string, WireType]> = Object.entries(
    tables[table].columns as Record<string, ColumnType>,
  );
  const partition = partitionColumns[table];
  if (partition) columns.push([partition.column, 'datetime']);
  return columns;
}

/** One validated row ready for encoding: json as text, plus the partition DateTime in seconds. */
export function wireRow(table: TableName, row: Record<string, unknown>): Record<string, unknown> {
  const columns = tables[table].columns as Record<string, ColumnType>;
  const out: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(columns))
    out[name] = type === 'json' ? encodeJson(row[name]) : row[name];
  const partition = partitionColumns[table];
  if (partition) {
    const seconds = Math.floor((row[partition.fromMs] as number) / 1000);
    out[partition.column] = Math.min(Math.max(seconds, 0), maxDateTime);
  }
  return out;
}

/** The name of a column's winning value inside the grouped read (`select`). */
function dedupAlias(quoted: string): string {
  return `gh_${quoted.replace(/[^A-Za-z0-9_]/g, '')}`;
}
