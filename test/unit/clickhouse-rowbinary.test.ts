import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRowBinary, type WireType } from '../../services/adapters/clickhouse/rowbinary.js';
import { hostileStrings } from '../contract/store-fixtures.js';

/** RowBinary spelled out value by value, as ClickHouse documents it: the reference to compare with. */
function reference(columns: ReadonlyArray<readonly [string, WireType]>, rows: Record<string, unknown>[]) {
  const parts: Buffer[] = [];
  for (const row of rows) {
    for (const [name, type] of columns) {
      const v = row[name];
      if (type === 'string' || type === 'json') {
        const bytes = Buffer.from(v as string, 'utf8');
        const length: number[] = [];
        let rest = bytes.length;
        do {
          length.push((rest % 128) | (rest >= 128 ? 0x80 : 0));
          rest = Math.floor(rest / 128);
        } while (rest > 0);
        parts.push(Buffer.from(length), bytes);
      } else if (type === 'int64') {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(v as number));
        parts.push(b);
      } else if (type === 'uint32' || type === 'datetime') {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(v as number);
        parts.push(b);
      } else if (type === 'float64') {
        const b = Buffer.alloc(8);
        b.writeDoubleLE(v as number);
        parts.push(b);
      } else {
        parts.push(Buffer.from([v ? 1 : 0]));
      }
    }
  }
  return Buffer.concat(parts);
}

const columns = [
  ['s', 'string'],
  ['i', 'int64'],
  ['u', 'uint32'],
  ['f', 'float64'],
  ['b', 'bool'],
  ['t', 'datetime'],
] as const;

// Well-formed UTF-16 only: rows.ts refuses lone surrogates before encoding.
const text = fc.string({ unit: 'grapheme', maxLength: 200 });
const row = fc.record({
  s: fc.oneof(text, fc.constantFrom(...hostileStrings.filter((s) => !/\p{Surrogate}/u.test(s)))),
  i: fc.oneof(
    fc.maxSafeInteger(),
    fc.constantFrom(
      0,
      -0,
      -1,
      1,
      2 ** 32,
      -(2 ** 32),
      2 ** 32 - 1,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ),
  ),
  u: fc.integer({ min: 0, max: 0xffff_ffff }),
  f: fc.double({ noNaN: true, noDefaultInfinity: true }),
  b: fc.boolean(),
  t: fc.integer({ min: 0, max: 0xffff_ffff }),
});

describe('encodeRowBinary', () => {
  it('writes the bytes of the format, value by value', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), (rows) => {
        expect(encodeRowBinary(columns, rows).equals(reference(columns, rows))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('length-prefixes long and multi-byte strings correctly across buffer growth', () => {
    const rows = [42, 43, 127, 128, 200, 16_383, 16_384, 70_000].flatMap((n) => [
      { s: 'a'.repeat(n) },
      { s: 'é'.repeat(n) },
      { s: '€'.repeat(n) },
      { s: '😀'.repeat(Math.ceil(n / 2)) },
    ]);
    const cols = [['s', 'string']] as const;
    expect(encodeRowBinary(cols, rows).equals(reference(cols, rows))).toBe(true);
  });
});
