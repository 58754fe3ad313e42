import { type ColumnType, type Row, type TableName, tables } from '../../ports/tables.js';
import { InvalidRowError } from './errors.js';

type AnyRow = Record<string, unknown>;

const lone = /\p{Surrogate}/u;

/**
 * Checks every row against the catalog before anything is sent: exactly the table's columns, each
 * with a value of its type. A bad row rejects the whole batch, so a batch is written all or nothing.
 */
export function validateRows(table: TableName, rows: readonly unknown[]): void {
  if (!Array.isArray(rows)) throw new InvalidRowError(`${table}: rows must be an array`);
  const columns = tables[table].columns as Record<string, ColumnType>;
  const names = Object.keys(columns);
  rows.forEach((row, index) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new InvalidRowError(`${table}[${index}]: a row must be an object`);
    }
    for (const key of Object.keys(row)) {
      if (!Object.hasOwn(columns, key))
        throw new InvalidRowError(`${table}[${index}]: unknown column ${key}`);
    }
    for (const name of names) {
      const problem = checkValue(columns[name]!, (row as AnyRow)[name]);
      if (problem) throw new InvalidRowError(`${table}[${index}].${name}: ${problem}`);
    }
  });
}

function checkValue(type: ColumnType, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') return 'expected a string';
      if (lone.test(value)) return 'contains a lone UTF-16 surrogate';
      return undefined;
    case 'int64':
      return Number.isSafeInteger(value) ? undefined : 'expected a safe integer';
    case 'uint32':
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffff_ffff
        ? undefined
        : 'expected an integer in 0..4294967295';
    case 'float64':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'expected a finite number';
    case 'bool':
      return typeof value === 'boolean' ? undefined : 'expected a boolean';
    case 'json':
      try {
        const text = JSON.stringify(value ?? null);
        return lone.test(text) ? 'contains a lone UTF-16 surrogate' : undefined;
      } catch (err) {
        return `not serializable as JSON (${(err as Error).message})`;
      }
  }
}

/** The text stored for a json column; `undefined` is stored as `null`. */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

/**
 * Turns one row as a driver returns it back into the catalog's JavaScript types: 64-bit integers
 * arrive as strings (ClickHouse JSON) or bigints (DuckDB), booleans as 0/1 from ClickHouse, json as text.
 */
export function decodeRow<T extends TableName>(table: T, raw: Record<string, unknown>): Row<T> {
  const columns = tables[table].columns as Record<string, ColumnType>;
  const row: AnyRow = {};
  // A select of some columns (`columns`) decodes only those.
  for (const [name, type] of Object.entries(columns))
    if (name in raw) row[name] = decodeValue(type, raw[name]);
  return row as Row<T>;
}

function decodeValue(type: ColumnType, value: unknown): unknown {
  switch (type) {
    case 'string':
      return String(value);
    case 'int64':
    case 'uint32':
    case 'float64':
      return Number(value);
    case 'bool':
      return value === true || value === 1 || value === '1';
    case 'json':
      return typeof value === 'string' ? JSON.parse(value) : null;
  }
}
