import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertColumn,
  assertSlug,
  sqlIdentifier,
  tableSpec,
} from '../../services/adapters/sql/identifiers.js';
import { sqlBool, sqlLiteral, sqlNumber, sqlString } from '../../services/adapters/sql/literals.js';
import { hostileStrings } from '../contract/store-fixtures.js';

/** Reads a ClickHouse single-quoted literal back, refusing anything that is not exactly one literal. */
function readClickHouse(literal: string): string {
  expect(literal.startsWith("'") && literal.endsWith("'")).toBe(true);
  let out = '';
  const named: Record<string, string> = {
    '\\': '\\',
    "'": "'",
    '0': '\0',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
  };
  for (let i = 1; i < literal.length - 1; i++) {
    const ch = literal[i]!;
    if (ch === "'") throw new Error(`unescaped quote at ${i}`);
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = literal[++i]!;
    if (next === 'x') {
      out += String.fromCharCode(Number.parseInt(literal.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (named[next] !== undefined) {
      out += named[next];
    } else {
      throw new Error(`unexpected escape \\${next}`);
    }
  }
  // A control character left raw would mean the escaping missed it.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for control characters
  expect(literal.slice(1, -1)).not.toMatch(/[\u0000-\u001f\u007f]/);
  return out;
}

/** Reads a DuckDB literal back: `'...'` with `''`, or a parenthesised `||` chain around `chr(0)`. */
function readDuckDb(literal: string): string {
  const body = literal.startsWith('(') ? literal.slice(1, -1) : literal;
  return body
    .split(' || chr(0) || ')
    .map((part) => {
      expect(part.startsWith("'") && part.endsWith("'")).toBe(true);
      const inner = part.slice(1, -1);
      expect(inner.replaceAll("''", '')).not.toContain("'");
      expect(inner).not.toContain('\0');
      return inner.replaceAll("''", "'");
    })
    .join('\0');
}

describe('sqlString', () => {
  it('escapes quotes, backslashes and control characters for ClickHouse', () => {
    expect(sqlString("it's", 'clickhouse')).toBe("'it\\'s'");
    expect(sqlString('a\\b', 'clickhouse')).toBe("'a\\\\b'");
    expect(sqlString('\0\n\r\t', 'clickhouse')).toBe("'\\0\\n\\r\\t'");
    expect(sqlString('\x01\x7f', 'clickhouse')).toBe("'\\x01\\x7f'");
    expect(sqlString("'; DROP TABLE t; --", 'clickhouse')).toBe("'\\'; DROP TABLE t; --'");
  });

  it('doubles quotes for DuckDB, leaves backslashes alone and splices NUL with chr(0)', () => {
    expect(sqlString("it's", 'duckdb')).toBe("'it''s'");
    expect(sqlString('a\\b', 'duckdb')).toBe("'a\\b'");
    expect(sqlString('a\0b', 'duckdb')).toBe("('a' || chr(0) || 'b')");
    expect(sqlString('', 'duckdb')).toBe("''");
  });

  it.each(hostileStrings.map((s) => [JSON.stringify(s.slice(0, 30)), s]))('round-trips %s', (_label, s) => {
    expect(readClickHouse(sqlString(s, 'clickhouse'))).toBe(s);
    expect(readDuckDb(sqlString(s, 'duckdb'))).toBe(s);
  });

  it('round-trips any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        expect(readClickHouse(sqlString(s, 'clickhouse'))).toBe(s);
        expect(readDuckDb(sqlString(s, 'duckdb'))).toBe(s);
      }),
      { numRuns: 2_000 },
    );
    // A time budget for a busy 2-core machine (it took 7.7 s under load), not a looser check.
  }, 60_000);

  it('handles a megabyte of quotes', () => {
    const s = "'".repeat(1_000_000);
    expect(readClickHouse(sqlString(s, 'clickhouse'))).toBe(s);
    expect(readDuckDb(sqlString(s, 'duckdb'))).toBe(s);
  });

  it('refuses lone surrogates and non-strings', () => {
    expect(() => sqlString('a\ud800', 'clickhouse')).toThrow(/surrogate/);
    expect(() => sqlString('\udc00', 'duckdb')).toThrow(/surrogate/);
    expect(() => sqlString(1 as unknown as string, 'duckdb')).toThrow(/expected a string/);
  });
});

describe('sqlNumber, sqlBool, sqlLiteral', () => {
  it('writes safe integers plainly and everything else in exponent form', () => {
    expect(sqlNumber(42, 'clickhouse')).toBe('42');
    expect(sqlNumber(-7, 'duckdb')).toBe('-7');
    expect(sqlNumber(-0, 'duckdb')).toBe('0');
    expect(sqlNumber(0.1, 'duckdb')).toBe('1e-1');
    expect(sqlNumber(1e21, 'clickhouse')).toBe('1e+21');
    expect(sqlNumber(2 ** 53, 'clickhouse')).toBe('9.007199254740992e+15');
  });

  it('round-trips every finite double through its text', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        expect(Number(sqlNumber(x, 'duckdb'))).toBe(Object.is(x, -0) ? 0 : x);
      }),
    );
  });

  it('refuses NaN, infinities and (for ClickHouse) subnormals', () => {
    for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => sqlNumber(x, 'duckdb')).toThrow(/finite/);
    }
    expect(() => sqlNumber(5e-324, 'clickhouse')).toThrow(/subnormal/);
    expect(sqlNumber(5e-324, 'duckdb')).toBe('5e-324');
    expect(() => sqlNumber('1' as unknown as number, 'duckdb')).toThrow();
  });

  it('writes booleans per dialect and picks the literal by type', () => {
    expect(sqlBool(true, 'clickhouse')).toBe('1');
    expect(sqlBool(false, 'duckdb')).toBe('false');
    expect(sqlLiteral("'", 'duckdb')).toBe("''''");
    expect(sqlLiteral(true, 'duckdb')).toBe('true');
    expect(sqlLiteral(3, 'clickhouse')).toBe('3');
    expect(() => sqlLiteral(null as unknown as string, 'clickhouse')).toThrow();
  });
});

describe('identifiers', () => {
  it('accepts slugs and nothing else', () => {
    for (const ok of ['a', '_x', 'module_id', 'gh_contract_1']) expect(assertSlug(ok, 'name')).toBe(ok);
    for (const bad of [
      '',
      'A',
      '1a',
      'a-b',
      'a b',
      'a;b',
      'a`',
      'a"',
      "a'",
      'é',
      'a\0',
      'x'.repeat(64),
      3,
      null,
    ]) {
      expect(() => assertSlug(bad, 'name'), JSON.stringify(bad)).toThrow(/not a valid identifier/);
    }
  });

  it('accepts only catalog tables and their columns', () => {
    expect(Object.keys(tableSpec('alerts').columns)).toContain('alert_id');
    for (const bad of ['nope', 'constructor', '__proto__', 'tostring', 'schema_migrations']) {
      expect(() => tableSpec(bad), bad).toThrow();
    }
    expect(assertColumn('alerts', 'state')).toBe('state');
    for (const bad of ['nope', 'constructor', '__proto__', 'State', 'state;']) {
      expect(() => assertColumn('alerts', bad), bad).toThrow();
    }
  });

  it('quotes identifiers per dialect after checking them', () => {
    expect(sqlIdentifier('count', 'clickhouse')).toBe('`count`');
    expect(sqlIdentifier('count', 'duckdb')).toBe('"count"');
    expect(() => sqlIdentifier('a`b', 'clickhouse')).toThrow();
  });
});
