import type { DailyAggregate, DailyQuery } from './daily.js';
import type { Component } from './lifecycle.js';
import type { Expiring } from './retention.js';
import type { Row, TableName } from './tables.js';

export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/**
 * One filter on a column, or on a tuple of columns. `in` takes a non-empty list; a tuple's `in`
 * matches rows whose columns equal one of the listed tuples, element by element (exact pairs, where
 * one `in` per column would also match every mix of the lists' values).
 */
export type Condition =
  | { column: string; op: ComparisonOp; value: string | number | boolean }
  | { column: string; op: 'in'; value: ReadonlyArray<string | number> }
  | { columns: readonly string[]; op: 'in'; value: ReadonlyArray<ReadonlyArray<string | number>> };

export interface SelectQuery {
  /** All conditions must hold. They apply to the latest version of each row (after dedup). */
  where?: Condition[];
  orderBy?: Array<{ column: string; direction?: 'asc' | 'desc' }>;
  /** Maximum rows returned. Adapters refuse more than `maxSelectRows`. */
  limit?: number;
  /** Rows skipped before the first returned, for paging past `maxSelectRows` (the order is made total with the key). */
  offset?: number;
  /**
   * Every stored row, without the read-time dedup (replays and superseded versions included; the
   * conditions apply to each row), for checks that must see a key written twice with different
   * content. ClickHouse may have merged rows of one key already, keeping the one written last.
   */
  allRows?: boolean;
  /**
   * Only the first row, in `orderBy` order, per distinct value of `columns` (and of
   * `floor(slot.column / slot.width)` when `slot` is given), after the dedup and the conditions: the
   * newest row per series, or a bounded sample of a long one (one row per slot).
   */
  firstPer?: { columns: string[]; slot?: { column: string; width: number } };
  /**
   * Only these columns are read back (the others are absent from the rows): a long read that needs
   * a few small columns skips decoding the rest. `selectColumns` types the result.
   */
  columns?: string[];
}

/** Hard ceiling for one `select`; callers page with `where` + `orderBy` beyond it. */
export const maxSelectRows = 100_000;

export interface MigrationReport {
  /** Migration ids applied by this call (empty when the schema was already current). */
  applied: string[];
  /** Every migration id now recorded as applied, in order. */
  current: string[];
}

/** Durable storage: ClickHouse in distributed deployments, a DuckDB file in standalone. */
export interface Store extends Component, Expiring {
  /** Applies pending versioned migrations, in order, idempotently. */
  migrate(): Promise<MigrationReport>;
  /**
   * Appends rows. Resolves once they are durable. Replayed rows collapse on read (see tables.ts),
   * so a retried insert is safe.
   */
  insert<T extends TableName>(table: T, rows: Row<T>[]): Promise<void>;
  /** Reads the latest version of each matching row. Column names are validated against the catalog. */
  select<T extends TableName>(table: T, query?: SelectQuery): Promise<Row<T>[]>;
  /**
   * The greatest value of the numeric `column` per distinct value of `groupBy`, over every stored row
   * that matches `where` (no read-time dedup: a superseded version counts too). Groups without a
   * matching row are absent.
   */
  maxPerGroup<T extends TableName>(
    table: T,
    groupBy: string,
    column: string,
    where?: Condition[],
  ): Promise<Map<string, number>>;
  /**
   * Aggregates a metric's stored raw events (one per key, late ones included) per UTC day, and per
   * value of a dimension when asked, in the store's SQL; rows in day then value order. Refuses more
   * than `maxDailyRows` rows.
   */
  daily(query: DailyQuery): Promise<DailyAggregate[]>;

  /**
   * Per distinct value of the string column `groupBy`: how many keys of `table` have a row that
   * matches `where` (a key stored in several copies or versions counts once). Groups without a
   * matching row are absent.
   */
  countPerGroup<T extends TableName>(
    table: T,
    groupBy: string,
    where?: Condition[],
  ): Promise<Map<string, number>>;
}

/** `selectAll` of only some columns, typed as such. */
export async function selectColumns<T extends TableName, C extends keyof Row<T> & string>(
  store: Store,
  table: T,
  columns: readonly C[],
  query: Omit<SelectQuery, 'limit' | 'offset' | 'columns'>,
): Promise<Array<Pick<Row<T>, C>>> {
  return selectAll(store, table, { ...query, columns: [...columns] });
}

/**
 * Every row a select matches, read `pageSize` rows at a time (the order is made total with the key,
 * so pages neither overlap nor skip while nothing is written to the matched rows meanwhile).
 */
export async function selectAll<T extends TableName>(
  store: Store,
  table: T,
  query: Omit<SelectQuery, 'limit' | 'offset'>,
  pageSize = maxSelectRows,
): Promise<Row<T>[]> {
  const out: Row<T>[] = [];
  for (let offset = 0; ; offset += pageSize) {
    const page = await store.select(table, { ...query, limit: pageSize, offset });
    for (const row of page) out.push(row);
    if (page.length < pageSize) return out;
  }
}
