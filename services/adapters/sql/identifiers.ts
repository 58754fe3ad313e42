import { type TableName, type TableSpec, tables } from '../../ports/tables.js';
import { InvalidQueryError } from './errors.js';

/** The only shape an identifier may have before it is written into SQL unquoted. */
export const slugPattern = /^[a-z_][a-z0-9_]*$/;

/** Throws unless `name` is a slug of at most 63 characters; returns it for chaining. */
export function assertSlug(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length > 63 || !slugPattern.test(name)) {
    throw new InvalidQueryError(`${what} ${JSON.stringify(name)} is not a valid identifier (${slugPattern})`);
  }
  return name;
}

/** The catalog entry of `table`, or an error if it is not a catalog table. */
export function tableSpec(table: unknown): TableSpec {
  assertSlug(table, 'table');
  if (!Object.hasOwn(tables, table as string)) {
    throw new InvalidQueryError(`unknown table ${JSON.stringify(table)}`);
  }
  return tables[table as TableName];
}

/** Throws unless `column` is a column of `table` in the catalog; returns it for chaining. */
export function assertColumn(table: TableName, column: unknown): string {
  assertSlug(column, 'column');
  if (!Object.hasOwn(tableSpec(table).columns, column as string)) {
    throw new InvalidQueryError(`table ${table} has no column ${JSON.stringify(column)}`);
  }
  return column as string;
}

/**
 * A validated identifier, quoted so that a slug which happens to be a keyword in either dialect
 * still names a column. The slug check guarantees there is no quote character to escape.
 */
export function sqlIdentifier(name: string, dialect: 'clickhouse' | 'duckdb'): string {
  assertSlug(name, 'identifier');
  return dialect === 'clickhouse' ? `\`${name}\`` : `"${name}"`;
}
