import { type Condition, maxSelectRows, type SelectQuery } from '../../ports/store.js';
import { type ColumnType, type TableName, tables } from '../../ports/tables.js';
import { InvalidQueryError } from './errors.js';
import { assertColumn, sqlIdentifier } from './identifiers.js';
import { type Dialect, sqlLiteral } from './literals.js';

/** The validated, rendered pieces of a `SelectQuery`; each adapter assembles them around its dedup. */
export interface SelectParts {
  /** Conditions only on key columns: safe to apply before dedup, since they keep or drop whole keys. */
  keyConditions: string[];
  /** Conditions on other columns: must apply to the latest version only, i.e. after dedup. */
  otherConditions: string[];
  /** `ORDER BY` body: the requested order, then the key as a tiebreaker so pages are stable. */
  orderBy: string;
  /** Rows to fetch: the requested limit, or one more than the ceiling so an overflow is detected. */
  fetch: number;
  /** True when no limit was given, so `fetch` rows mean "too many". */
  unbounded: boolean;
  /** `LIMIT ...` clause with the offset, in the dialect's syntax. */
  limit: string;
  /** The columns to return, quoted and comma-separated (`columns`, or every column of the table). */
  output: string;
  /**
   * Every column the query reads (returned, filtered, ordered or grouped on, and the key), quoted: what
   * an adapter's inner selects need carry, so a narrow read never drags a wide column (a JSON body)
   * through its ranking. Every column of the table when `columns` is not given.
   */
  read: string[];
  /** For `firstPer`: the expressions whose distinct values each keep their first row. */
  firstPer?: string[];
  /**
   * One `in` condition fixes every key column: at most as many keys match as its list is long, so
   * an adapter may collapse them in memory.
   */
  keysListed: boolean;
}

const operators = new Set(['=', '!=', '<', '<=', '>', '>=', 'in']);

/** Validates `query` against the catalog and renders it in `dialect`. Throws before any SQL is sent. */
export function renderSelect(table: TableName, query: SelectQuery, dialect: Dialect): SelectParts {
  const spec = tables[table];
  const columns = spec.columns as Record<string, ColumnType>;
  const key = new Set<string>(spec.key);
  const keyConditions: string[] = [];
  const otherConditions: string[] = [];
  let keysListed = false;
  for (const condition of query.where ?? []) {
    const sql = renderCondition(table, columns, condition, dialect);
    const on = conditionColumns(condition);
    (on.every((c) => key.has(c)) ? keyConditions : otherConditions).push(sql);
    if (condition.op === 'in' && spec.key.every((c) => on.includes(c))) keysListed = true;
  }

  const order: string[] = [];
  const seen = new Set<string>();
  for (const item of query.orderBy ?? []) {
    const column = assertColumn(table, item.column);
    if (columns[column] === 'json') throw new InvalidQueryError(`cannot order by json column ${column}`);
    const direction = item.direction ?? 'asc';
    if (direction !== 'asc' && direction !== 'desc') {
      throw new InvalidQueryError(`order direction must be asc or desc, got ${JSON.stringify(direction)}`);
    }
    if (seen.has(column)) continue;
    seen.add(column);
    order.push(`${sqlIdentifier(column, dialect)} ${direction.toUpperCase()}`);
  }
  for (const column of spec.key) if (!seen.has(column)) order.push(`${sqlIdentifier(column, dialect)} ASC`);

  const limit = query.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0 || limit > maxSelectRows)) {
    throw new InvalidQueryError(`limit must be an integer in 0..${maxSelectRows}, got ${String(limit)}`);
  }
  const offset = query.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidQueryError(`offset must be a non-negative integer, got ${String(query.offset)}`);
  }
  const fetch = limit ?? maxSelectRows + 1;
  const firstPer = query.firstPer && renderFirstPer(table, columns, query.firstPer, dialect);
  if (query.columns !== undefined && (!Array.isArray(query.columns) || query.columns.length === 0))
    throw new InvalidQueryError('columns: expects a non-empty list');
  const returned = (query.columns ?? Object.keys(columns)).map((c) => assertColumn(table, c));
  const read = new Set<string>([
    ...returned,
    ...spec.key,
    ...(query.where ?? []).flatMap(conditionColumns),
    ...(query.orderBy ?? []).map((o) => o.column),
    ...(query.firstPer?.columns ?? []),
    ...(query.firstPer?.slot ? [query.firstPer.slot.column] : []),
  ]);
  return {
    output: returned.map((c) => sqlIdentifier(c, dialect)).join(', '),
    read: [...read].map((c) => sqlIdentifier(c, dialect)),
    ...(firstPer ? { firstPer } : {}),
    keyConditions,
    otherConditions,
    keysListed,
    orderBy: order.join(', '),
    fetch,
    unbounded: limit === undefined,
    // ClickHouse 18.16 knows only `LIMIT offset, count`; DuckDB only `LIMIT count OFFSET offset`.
    limit:
      offset === 0
        ? `LIMIT ${fetch}`
        : dialect === 'clickhouse'
          ? `LIMIT ${offset}, ${fetch}`
          : `LIMIT ${fetch} OFFSET ${offset}`,
  };
}

/** `SELECT groupBy, max(column) ... GROUP BY groupBy` pieces, validated against the catalog. */
export function renderMaxPerGroup(
  table: TableName,
  groupBy: string,
  column: string,
  where: Condition[],
  dialect: Dialect,
): { groupBy: string; column: string; conditions: string[] } {
  const columns = tables[table].columns as Record<string, ColumnType>;
  const group = assertColumn(table, groupBy);
  const measured = assertColumn(table, column);
  if (columns[group] !== 'string') throw new InvalidQueryError(`group by ${group}: expects a string column`);
  const type = columns[measured];
  if (type !== 'int64' && type !== 'uint32' && type !== 'float64')
    throw new InvalidQueryError(`max of ${measured}: expects a numeric column`);
  return {
    groupBy: sqlIdentifier(group, dialect),
    column: sqlIdentifier(measured, dialect),
    conditions: where.map((c) => renderCondition(table, columns, c, dialect)),
  };
}

/**
 * The parts of a distinct-key count per group: the group column, the key columns (quoted) and the
 * rendered conditions. Throws on an unknown column or a group column that is not a string.
 */
export function renderCountPerGroup(
  table: TableName,
  groupBy: string,
  where: Condition[],
  dialect: Dialect,
): { groupBy: string; key: string[]; conditions: string[] } {
  const columns = tables[table].columns as Record<string, ColumnType>;
  const group = assertColumn(table, groupBy);
  if (columns[group] !== 'string') throw new InvalidQueryError(`group by ${group}: expects a string column`);
  return {
    groupBy: sqlIdentifier(group, dialect),
    key: (tables[table].key as readonly string[]).map((c) => sqlIdentifier(c, dialect)),
    conditions: where.map((c) => renderCondition(table, columns, c, dialect)),
  };
}

function renderFirstPer(
  table: TableName,
  columns: Record<string, ColumnType>,
  firstPer: NonNullable<SelectQuery['firstPer']>,
  dialect: Dialect,
): string[] {
  if (!Array.isArray(firstPer.columns) || firstPer.columns.length === 0)
    throw new InvalidQueryError('firstPer: expects a non-empty list of columns');
  const out = firstPer.columns.map((c) => {
    const column = assertColumn(table, c);
    if (columns[column] === 'json')
      throw new InvalidQueryError(`firstPer: cannot group by json column ${column}`);
    return sqlIdentifier(column, dialect);
  });
  const slot = firstPer.slot;
  if (slot) {
    const column = assertColumn(table, slot.column);
    if (columns[column] !== 'int64')
      throw new InvalidQueryError(`firstPer slot: expects an int64 column, got ${column}`);
    if (!Number.isSafeInteger(slot.width) || slot.width <= 0)
      throw new InvalidQueryError(
        `firstPer slot width must be a positive integer, got ${String(slot.width)}`,
      );
    const id = sqlIdentifier(column, dialect);
    out.push(dialect === 'clickhouse' ? `intDiv(${id}, ${slot.width})` : `${id} // ${slot.width}`);
  }
  return out;
}

/** Throws when an unbounded select came back with more rows than the ceiling. */
export function checkRowCeiling(table: TableName, parts: SelectParts, rowCount: number): void {
  if (parts.unbounded && rowCount > maxSelectRows) {
    throw new InvalidQueryError(
      `select from ${table} matches more than ${maxSelectRows} rows; page with where + orderBy + limit`,
    );
  }
}

/** The columns a condition filters on. */
function conditionColumns(condition: Condition): string[] {
  return 'columns' in condition ? [...condition.columns] : [condition.column];
}

function renderCondition(
  table: TableName,
  columns: Record<string, ColumnType>,
  condition: Condition,
  dialect: Dialect,
): string {
  if (typeof condition !== 'object' || condition === null)
    throw new InvalidQueryError('condition must be an object');
  if ('columns' in condition) return renderTupleIn(table, columns, condition, dialect);
  const column = assertColumn(table, condition.column);
  const type = columns[column]!;
  if (type === 'json') throw new InvalidQueryError(`cannot filter on json column ${column}`);
  if (!operators.has(condition.op))
    throw new InvalidQueryError(`unknown operator ${JSON.stringify(condition.op)}`);
  if (condition.op === 'in') {
    if (!Array.isArray(condition.value) || condition.value.length === 0) {
      throw new InvalidQueryError(`${column} in: expects a non-empty list`);
    }
    const items = condition.value.map((v) => literalFor(column, type, v, dialect));
    return `${sqlIdentifier(column, dialect)} IN (${items.join(', ')})`;
  }
  if (type === 'bool' && condition.op !== '=' && condition.op !== '!=') {
    throw new InvalidQueryError(`${column} is a bool column: only = and != apply`);
  }
  return `${sqlIdentifier(column, dialect)} ${condition.op} ${literalFor(column, type, condition.value, dialect)}`;
}

/** `(a, b) IN ((x, y), ...)`: the same syntax in both dialects. */
function renderTupleIn(
  table: TableName,
  columns: Record<string, ColumnType>,
  condition: Extract<Condition, { columns: readonly string[] }>,
  dialect: Dialect,
): string {
  if (condition.op !== 'in') throw new InvalidQueryError('a tuple of columns takes only the in operator');
  if (!Array.isArray(condition.columns) || condition.columns.length < 2)
    throw new InvalidQueryError('a tuple condition expects at least two columns');
  const names = condition.columns.map((c) => assertColumn(table, c));
  for (const name of names)
    if (columns[name] === 'json') throw new InvalidQueryError(`cannot filter on json column ${name}`);
  if (!Array.isArray(condition.value) || condition.value.length === 0)
    throw new InvalidQueryError(`(${names.join(', ')}) in: expects a non-empty list`);
  const each = names.map(() => new Set<string>());
  const tuples = condition.value.map((tuple) => {
    if (!Array.isArray(tuple) || tuple.length !== names.length)
      throw new InvalidQueryError(`(${names.join(', ')}) in: expects tuples of ${names.length} values`);
    const items = tuple.map((v, i) => literalFor(names[i]!, columns[names[i]!]!, v, dialect));
    for (const [i, item] of items.entries()) each[i]!.add(item);
    return `(${items.join(', ')})`;
  });
  // Each column's own list first: implied by the tuples, it is what a store's scan can filter on (a
  // primary key, DuckDB's min/max per row group); the tuples then keep the exact pairs.
  const columnLists = names.map((c, i) => `${sqlIdentifier(c, dialect)} IN (${[...each[i]!].join(', ')})`);
  const tuple = `(${names.map((c) => sqlIdentifier(c, dialect)).join(', ')}) IN (${tuples.join(', ')})`;
  return [...columnLists, tuple].join(' AND ');
}

function literalFor(column: string, type: ColumnType, value: unknown, dialect: Dialect): string {
  const expected = type === 'string' ? 'string' : type === 'bool' ? 'boolean' : 'number';
  if (typeof value !== expected) {
    throw new InvalidQueryError(
      `${column} is a ${type} column: expected a ${expected} value, got ${typeof value}`,
    );
  }
  return sqlLiteral(value as string | number | boolean, dialect);
}
