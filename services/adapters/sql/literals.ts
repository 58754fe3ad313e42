import { InvalidQueryError } from './errors.js';

/**
 * SQL literal rendering shared by the ClickHouse and DuckDB adapters. Neither ClickHouse 18.16 (no
 * server-side query parameters) nor our DuckDB usage binds parameters, so every value that reaches
 * SQL goes through these functions. Identifiers never do: they are validated slugs (identifiers.ts).
 */
export type Dialect = 'clickhouse' | 'duckdb';

export type SqlValue = string | number | boolean;

/**
 * A single-quoted string literal that reads back as exactly `value`.
 * ClickHouse parses backslash escapes inside quotes, so backslash and quote are escaped and control
 * characters are written as escapes. DuckDB uses standard SQL strings (only `''`), and its parser
 * stops at a NUL byte, so NULs are spliced in with `chr(0)`.
 */
export function sqlString(value: string, dialect: Dialect): string {
  if (typeof value !== 'string') throw new InvalidQueryError(`expected a string, got ${typeof value}`);
  if (loneSurrogate.test(value)) {
    throw new InvalidQueryError('string contains a lone UTF-16 surrogate and cannot be stored as UTF-8');
  }
  if (dialect === 'clickhouse') return `'${value.replace(clickhouseSpecial, escapeClickHouseChar)}'`;
  const parts = value.split('\0').map((part) => `'${part.replaceAll("'", "''")}'`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(' || chr(0) || ')})`;
}

const loneSurrogate = /\p{Surrogate}/u;

// Backslash, quote and every C0 control character plus DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const clickhouseSpecial = /[\\'\u0000-\u001f\u007f]/g;

const clickhouseNamed: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeClickHouseChar(ch: string): string {
  return clickhouseNamed[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/**
 * A numeric literal that both servers read back as exactly `value`. Safe integers are written
 * plainly; every other number in exponent form, which both parse as a double (DuckDB would read
 * `0.1` as a DECIMAL and round again on conversion; ClickHouse would read `1e20` written out as an
 * out-of-range integer). Refuses NaN and infinities, which have no portable literal, and, for
 * ClickHouse, subnormal numbers, which 18.16's literal parser rejects.
 */
export function sqlNumber(value: number, dialect: Dialect): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidQueryError(`expected a finite number, got ${String(value)}`);
  }
  if (Number.isSafeInteger(value)) return Object.is(value, -0) ? '0' : String(value);
  if (dialect === 'clickhouse' && Math.abs(value) < 2.2250738585072014e-308) {
    throw new InvalidQueryError(`subnormal number ${value} cannot be written as a ClickHouse literal`);
  }
  // toExponential() without an argument gives the fewest digits that identify the double.
  return value.toExponential();
}

/** A boolean literal: ClickHouse stores booleans as UInt8. */
export function sqlBool(value: boolean, dialect: Dialect): string {
  if (typeof value !== 'boolean') throw new InvalidQueryError(`expected a boolean, got ${typeof value}`);
  if (dialect === 'clickhouse') return value ? '1' : '0';
  return value ? 'true' : 'false';
}

/** Any supported scalar as a literal, chosen by its JavaScript type. */
export function sqlLiteral(value: SqlValue, dialect: Dialect): string {
  switch (typeof value) {
    case 'string':
      return sqlString(value, dialect);
    case 'number':
      return sqlNumber(value, dialect);
    case 'boolean':
      return sqlBool(value, dialect);
    default:
      throw new InvalidQueryError(`unsupported literal type ${typeof value}`);
  }
}
