import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBResultReader,
} from '@duckdb/node-api';
import { type DailyAggregate, type DailyQuery, dayMs, maxDailyRows } from '../../ports/daily.js';
import type { GroundTruth, GroundTruthSource } from '../../ports/ground-truth.js';
import type { Health } from '../../ports/lifecycle.js';
import type { ExpiringTable, Expiry } from '../../ports/retention.js';
import type { Condition, MigrationReport, SelectQuery, Store } from '../../ports/store.js';
import type { ColumnType, Row, TableName } from '../../ports/tables.js';
import type { Logger } from '../../runtime/logger.js';
import { checkDailyQuery, checkDailyRows, dailyAggregateOf } from '../sql/daily.js';
import { StoreClosedError, StoreError, StoreQueryError, StoreUnavailableError } from '../sql/errors.js';
import { sqlIdentifier, tableSpec } from '../sql/identifiers.js';
import { sqlNumber, sqlString } from '../sql/literals.js';
import { checkApplied, loadMigrations } from '../sql/migrations.js';
import { checkExpiry } from '../sql/retention.js';
import { decodeRow, encodeJson, validateRows } from '../sql/rows.js';
import { checkRowCeiling, renderCountPerGroup, renderMaxPerGroup, renderSelect } from '../sql/select.js';
import { winnerColumns } from '../sql/versions.js';
import { CompactionSchedule, compactDuckDb } from './compaction.js';
import { DuckDbGroundTruth } from './ground-truth.js';
import { expireDuckDb } from './retention.js';

export interface DuckDbStoreOptions {
  /** Database file, or `:memory:`. The parent directory is created if missing. */
  path: string;
  logger?: Logger;
  /**
   * DuckDB's `memory_limit` (e.g. `512MB`): its buffer cache stays under it, and large sorts and
   * aggregations spill to `<path>.tmp`. Default: DuckDB's own (80% of the machine's memory).
   */
  memoryLimit?: string;
  /** DuckDB's worker threads. Default: DuckDB's own (one per core). */
  threads?: number;
  /** Rows a versioned table receives between two compaction passes (compaction.ts). Default 200,000. */
  compactAfterRows?: number;
}

const migrationsDir = new URL('../../../infra/duckdb/migrations/', import.meta.url);

/**
 * The Store port over an embedded DuckDB file (standalone deployments).
 *
 * One connection; every call runs in turn on it, so an insert's transaction never interleaves
 * with another statement. Tables have no keys or indexes (see the migration); `select` keeps the
 * winning version per catalog key (grouped, with arg_max) before applying non-key conditions.
 *
 * Inserts go through DuckDB's appender (typed values, no SQL text to build and parse: about ten times
 * faster than INSERT ... VALUES for a batch of events), inside an explicit transaction.
 *
 * Durability: each `insert` is one transaction, and DuckDB writes and syncs its WAL at commit, so
 * once `insert` resolves the rows survive SIGKILL (replayed from the WAL on the next open).
 * Checkpoints fold the WAL into the file: automatically when the WAL passes DuckDB's
 * `wal_autocheckpoint` (16 MiB by default), and explicitly in `stop()`, so a clean shutdown leaves
 * no WAL behind.
 *
 * Versioned tables are compacted in the background once they have grown enough (compaction.ts), on
 * the same connection between calls, as ClickHouse merges its parts.
 */
export class DuckDbStore implements Store, GroundTruthSource {
  readonly name = 'duckdb-store';
  private instance: DuckDBInstance | undefined;
  private connection: DuckDBConnection | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private state: Health = { state: 'error', detail: 'not started' };
  private readonly compaction: CompactionSchedule;
  private readonly compacting = new Set<TableName>();

  constructor(private readonly opts: DuckDbStoreOptions) {
    this.compaction = new CompactionSchedule(opts.compactAfterRows);
  }

  async start(): Promise<void> {
    if (this.connection) return;
    try {
      if (this.opts.path !== ':memory:') await mkdir(dirname(this.opts.path), { recursive: true });
      this.instance = await DuckDBInstance.create(this.opts.path, {
        ...(this.opts.memoryLimit ? { memory_limit: this.opts.memoryLimit } : {}),
        // What a query frees goes back to the system after it rather than staying with the allocator
        // (by default only past a 128 MiB peak): a long-running process then holds its buffer cache,
        // not the high-water mark of its largest read.
        allocator_flush_threshold: '16MB',
        allocator_background_threads: 'true',
        ...(this.opts.threads ? { threads: String(this.opts.threads) } : {}),
      });
      this.connection = await this.instance.connect();
      this.state = { state: 'ok' };
    } catch (err) {
      this.state = { state: 'error', detail: (err as Error).message };
      throw classifyDuckDbError(err, `opening ${this.opts.path}`);
    }
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    await this.serialized(async () => {
      try {
        if (this.opts.path !== ':memory:') await connection.run('CHECKPOINT');
      } catch (err) {
        this.opts.logger?.warn(
          { err },
          'duckdb checkpoint at shutdown failed; the WAL will be replayed on open',
        );
      }
      connection.closeSync();
      this.instance?.closeSync();
    });
    this.connection = undefined;
    this.instance = undefined;
    this.state = { state: 'error', detail: 'stopped' };
  }

  health(): Health {
    return this.state;
  }

  /** Bytes DuckDB holds in memory now (its buffer manager's view: `duckdb_memory()`), for diagnostics. */
  async memoryBytes(): Promise<number> {
    return this.serialized(async (c) => {
      const rows = (
        await c.runAndReadAll('SELECT sum(memory_usage_bytes) AS n FROM duckdb_memory()')
      ).getRowObjectsJS();
      return Number(rows[0]?.n ?? 0);
    }, 'reading memory usage');
  }

  async migrate(): Promise<MigrationReport> {
    const migrations = await loadMigrations(migrationsDir);
    return this.serialized(async (c) => {
      await c.run(
        'CREATE TABLE IF NOT EXISTS schema_migrations (id VARCHAR NOT NULL, checksum VARCHAR NOT NULL, applied_ms BIGINT NOT NULL)',
      );
      const rows = (await c.runAndReadAll('SELECT id, checksum FROM schema_migrations')).getRowObjectsJS();
      const applied = new Map(rows.map((r) => [String(r.id), String(r.checksum)] as const));
      checkApplied(migrations, applied);
      const done: string[] = [];
      for (const migration of migrations) {
        if (applied.has(migration.id)) continue;
        // DuckDB DDL is transactional: a migration and its record commit together or not at all.
        await transaction(c, async () => {
          for (const statement of migration.statements) await c.run(statement);
          await c.run(
            `INSERT INTO schema_migrations VALUES (${sqlString(migration.id, 'duckdb')}, ${sqlString(migration.checksum, 'duckdb')}, ${sqlNumber(Date.now(), 'duckdb')})`,
          );
        });
        applied.set(migration.id, migration.checksum);
        done.push(migration.id);
      }
      return { applied: done, current: migrations.map((m) => m.id).filter((id) => applied.has(id)) };
    }, 'migrating');
  }

  async insert<T extends TableName>(table: T, rows: Row<T>[]): Promise<void> {
    const spec = tableSpec(table);
    validateRows(table, rows);
    if (rows.length === 0) return;
    const columns = Object.entries(spec.columns as Record<string, ColumnType>);
    await this.serialized(
      (c) =>
        transaction(c, async () => {
          // The appender's rows join the open transaction when it closes (flushes): all or nothing.
          const appender = await c.createAppender(table);
          try {
            // The appender fills columns in table order, which the migration keeps equal to the
            // catalog's (the contract test checks it); a table that drifted is refused, not misfilled.
            if (appender.columnCount !== columns.length)
              throw new StoreQueryError(
                `${table} has ${appender.columnCount} columns, the catalog ${columns.length}`,
              );
            for (const row of rows as Record<string, unknown>[]) {
              for (const [name, type] of columns) append(appender, type, row[name]);
              appender.endRow();
            }
          } catch (err) {
            appender.clear();
            throw err;
          } finally {
            appender.closeSync();
          }
        }),
      `insert into ${table}`,
    );
    if (this.compaction.noteInserted(table, rows.length) && !this.compacting.has(table)) {
      this.compacting.add(table);
      void this.compact(table)
        .catch((err) => {
          // Stopped meanwhile: the next start compacts when due again.
          if (!(err instanceof StoreClosedError))
            this.opts.logger?.warn({ err, table }, 'duckdb compaction failed; retried when due again');
        })
        .finally(() => this.compacting.delete(table));
    }
  }

  /** Deletes the superseded versions of `table` now (compaction.ts); resolves with how many went. */
  async compact(table: TableName): Promise<number> {
    return this.serialized(async (c) => {
      const started = performance.now();
      const since = this.compaction.sinceOf(table);
      const pass = await compactDuckDb(c, table, since, this.opts.path === ':memory:');
      this.compaction.notePass(table, pass);
      this.opts.logger?.debug(
        { table, removed: pass.removed, rows: pass.rows, since, ms: Math.round(performance.now() - started) },
        'duckdb compaction',
      );
      return pass.removed;
    }, `compacting ${table}`);
  }

  async select<T extends TableName>(table: T, query: SelectQuery = {}): Promise<Row<T>[]> {
    const spec = tableSpec(table);
    const parts = renderSelect(table, query, 'duckdb');
    const id = (c: string) => sqlIdentifier(c, 'duckdb');
    const keyColumns = spec.key.map(id);
    const key = keyColumns.join(', ');
    const columns = parts.read.join(', ');
    // Each key once, with its winning version's values: grouped by the key, with arg_max over the
    // winner (`winnerColumns`: the greatest version, then the latest write, as compaction keeps).
    // Hash grouping, not ranking every version with row_number() OVER, which sorts them: on a day of
    // the soak's data, 500 modules' live rollups 454 ms against 546, trend samples 167 against 301.
    // Key conditions keep or drop whole keys, so they filter before the grouping; the others must see
    // the winning version only, so they filter after it.
    const ranking = winnerColumns(table).map(id);
    const winner = ranking.length > 1 ? `(${ranking.join(', ')})` : ranking[0];
    const values = parts.read.filter((c) => !keyColumns.includes(c));
    const keyFilter = where(parts.keyConditions);
    let from: string;
    if (query.allRows) {
      from = `${table}${where([...parts.keyConditions, ...parts.otherConditions])}`;
    } else if (values.length === 0) {
      // Every version of a key has the same key columns: a read of them alone needs no ranking, and
      // one row per group (`firstPer`) drops the copies by itself (newest update per goal: 112 ms, where
      // DISTINCT then row_number() took 779).
      from = parts.firstPer ? `${table}${keyFilter}` : `(SELECT DISTINCT ${key} FROM ${table}${keyFilter})`;
    } else if (winner) {
      // A table column is bound before an alias of the same name, so each arg_max reads the column.
      // arg_max skips NULLs, and no column holds one (rows.ts refuses them; json stores `null` as text).
      const aggregates = values.map((c) => `arg_max(${c}, ${winner}) AS ${c}`);
      from = `(SELECT ${[...keyColumns, ...aggregates].join(', ')} FROM ${table}${keyFilter} GROUP BY ${key})${where(parts.otherConditions)}`;
    } else {
      // Without a version, a key's rows are copies of one write: any one of them will do.
      from = `(SELECT DISTINCT ON (${key}) ${columns} FROM ${table}${keyFilter})${where(parts.otherConditions)}`;
    }
    // DISTINCT ON keeps the first row of each group in its ORDER BY; the outer query orders and pages.
    if (parts.firstPer)
      from = `(SELECT DISTINCT ON (${parts.firstPer.join(', ')}) ${columns} FROM ${from} ORDER BY ${parts.firstPer.join(', ')}, ${parts.orderBy})`;
    const sql = `SELECT ${parts.output} FROM ${from} ORDER BY ${parts.orderBy} ${parts.limit}`;
    const raw = await this.serialized(
      async (c) => rowObjects(await c.runAndReadAll(sql)),
      `select from ${table}`,
    );
    checkRowCeiling(table, parts, raw.length);
    return raw.map((r) => decodeRow(table, r as Record<string, unknown>));
  }

  async maxPerGroup<T extends TableName>(
    table: T,
    groupBy: string,
    column: string,
    conditions: Condition[] = [],
  ): Promise<Map<string, number>> {
    const q = renderMaxPerGroup(table, groupBy, column, conditions, 'duckdb');
    const sql = `SELECT ${q.groupBy} AS g, max(${q.column}) AS m FROM ${table}${where(q.conditions)} GROUP BY ${q.groupBy}`;
    const raw = await this.serialized(
      async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS(),
      `max per group from ${table}`,
    );
    return new Map(raw.map((r) => [String(r.g), Number(r.m)]));
  }

  async daily(query: DailyQuery): Promise<DailyAggregate[]> {
    checkDailyQuery(query);
    const str = (v: string) => sqlString(v, 'duckdb');
    const num = (v: number) => `CAST(${sqlNumber(v, 'duckdb')} AS BIGINT)`;
    const day = num(dayMs);
    // A dimension name may hold "." (a path step in JSON paths): quoted as one key.
    const group =
      query.dimension === undefined
        ? "''"
        : `coalesce(json_extract_string(dimensions, ${str(`$."${query.dimension}"`)}), '')`;
    // One row per key (replays are identical rows, any one will do), as ground-truth.ts reads them.
    const events =
      `SELECT DISTINCT ON (agency_id, event_id) event_id, value, observed_ms, ${group} AS grp, ` +
      `observed_ms - ((observed_ms % ${day}) + ${day}) % ${day} AS day_ms FROM metric_events ` +
      `WHERE module_id = ${str(query.moduleId)} AND metric = ${str(query.metric)} ` +
      `AND observed_ms >= ${num(query.fromMs)} AND observed_ms < ${num(query.toMs)} ` +
      // The corrected set, as ground-truth.ts: no retraction, no version a stored correction replaced.
      "AND NOT retract AND (agency_id || ' ' || event_id) NOT IN (SELECT agency_id || ' ' || supersedes " +
      `FROM metric_events WHERE module_id = ${str(query.moduleId)} AND supersedes <> '')`;
    // The quantile is the value at index ⌊q·(n−1)⌋ of the sorted values, as ground-truth.ts's.
    const quantile =
      query.quantile === undefined
        ? 'NULL'
        : `list_sort(list(value))[CAST(floor(${sqlNumber(query.quantile, 'duckdb')} * (count(*) - 1)) AS BIGINT) + 1]`;
    const sql =
      'SELECT day_ms, grp, count(*) AS n, sum(value) AS s, min(value) AS mn, max(value) AS mx, ' +
      `arg_max(value, (observed_ms, event_id)) AS last_value, ${quantile} AS quantile ` +
      `FROM (${events}) GROUP BY day_ms, grp ORDER BY day_ms, grp LIMIT ${maxDailyRows + 1}`;
    const raw = await this.serialized(
      async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS(),
      'daily aggregates',
    );
    checkDailyRows(raw.length);
    return raw.map((r) => dailyAggregateOf(r as Record<string, unknown>, query.quantile !== undefined));
  }

  async countPerGroup<T extends TableName>(
    table: T,
    groupBy: string,
    conditions: Condition[] = [],
  ): Promise<Map<string, number>> {
    const q = renderCountPerGroup(table, groupBy, conditions, 'duckdb');
    const keys = [...new Set([q.groupBy, ...q.key])].join(', ');
    const sql = `SELECT ${q.groupBy} AS g, count(*) AS n FROM (SELECT DISTINCT ${keys} FROM ${table}${where(q.conditions)}) AS k GROUP BY ${q.groupBy}`;
    const raw = await this.serialized(
      async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS(),
      `count per group from ${table}`,
    );
    return new Map(raw.map((r) => [String(r.g), Number(r.n)]));
  }

  /** Retention: deletes the expired rows, then checkpoints so their space is reused (retention.ts). */
  async expire(table: ExpiringTable, beforeMs: number): Promise<Expiry> {
    checkExpiry(table, beforeMs);
    return this.serialized(
      (c) => expireDuckDb(c, table, beforeMs, this.opts.path === ':memory:'),
      `expiring ${table}`,
    );
  }

  /** Rollups and windows recomputed in this store's SQL (ground-truth.ts). */
  groundTruth(): GroundTruth {
    return new DuckDbGroundTruth((op, doing) => this.serialized(op, doing));
  }

  /** Column names and DuckDB types of `table`, in table order. */
  async columns(table: string): Promise<Array<{ name: string; type: string }>> {
    if (table !== 'schema_migrations') tableSpec(table);
    const sql =
      'SELECT column_name AS name, data_type AS type FROM information_schema.columns ' +
      `WHERE table_schema = 'main' AND table_name = ${sqlString(table, 'duckdb')} ORDER BY ordinal_position`;
    const rows = await this.serialized(
      async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS(),
      'describe',
    );
    return rows.map((r) => ({ name: String(r.name), type: String(r.type) }));
  }

  /** Runs `op` on the connection after every earlier call has finished. */
  private serialized<R>(op: (c: DuckDBConnection) => Promise<R>, doing = 'query'): Promise<R> {
    const run = async () => {
      const connection = this.connection;
      if (!connection) throw new StoreClosedError(this.name);
      try {
        const result = await op(connection);
        this.state = { state: 'ok' };
        return result;
      } catch (err) {
        const error = classifyDuckDbError(err, doing);
        // Not ready while the file cannot be read or written (IO errors, out of memory): `/readyz` 503.
        if (error.retriable) this.state = { state: 'error', detail: error.message };
        throw error;
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }
}

async function transaction(c: DuckDBConnection, body: () => Promise<void>): Promise<void> {
  await c.run('BEGIN TRANSACTION');
  try {
    await body();
    await c.run('COMMIT');
  } catch (err) {
    await c.run('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** Appends one validated value (validateRows) in the column's DuckDB type (see the migration). */
function append(appender: DuckDBAppender, type: ColumnType, value: unknown): void {
  switch (type) {
    case 'string':
      appender.appendVarchar(value as string);
      return;
    case 'json':
      appender.appendVarchar(encodeJson(value));
      return;
    case 'bool':
      appender.appendBoolean(value as boolean);
      return;
    case 'int64':
      appender.appendBigInt(BigInt(value as number));
      return;
    case 'uint32':
      appender.appendUInteger(value as number);
      return;
    case 'float64':
      appender.appendDouble(value as number);
      return;
  }
}

function where(conditions: string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/** DuckDB reports errors as `<Kind> Error: ...`; I/O, memory and transaction conflicts may pass. */
function classifyDuckDbError(err: unknown, doing: string): StoreError {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const text = `${doing}: ${message.split('\n')[0]}`;
  return /^(IO|Out of Memory|TransactionContext|Interrupt) Error/i.test(message)
    ? new StoreUnavailableError(text, { cause: err })
    : new StoreQueryError(text, { cause: err });
}

/**
 * The result's rows as objects keyed by column name: converted a column at a time, then assembled
 * (about twice as fast as the reader's own `getRowObjectsJS` on wide results, which restore reads).
 */
function rowObjects(reader: DuckDBResultReader): Record<string, unknown>[] {
  const names = reader.columnNames();
  const columns = reader.getColumnsJS();
  const rows = new Array<Record<string, unknown>>(reader.currentRowCount);
  for (let i = 0; i < rows.length; i++) {
    const row: Record<string, unknown> = {};
    for (let c = 0; c < names.length; c++) row[names[c]!] = columns[c]![i];
    rows[i] = row;
  }
  return rows;
}
