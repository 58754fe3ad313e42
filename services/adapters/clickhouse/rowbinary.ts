import type { ColumnType } from '../../ports/tables.js';

/** A ClickHouse column as written by the adapter: catalog types, plus DateTime for partitioning. */
export type WireType = ColumnType | 'datetime';

/**
 * Encodes rows in ClickHouse's RowBinary format. Text formats are not an option for Float64 on
 * 18.16: its fast float parser (JSONEachRow, Values, CSV) is off by one ULP for about 1 value in
 * 3,000 of ordinary magnitude and far more at extreme exponents, while the live pipeline must agree
 * exactly with SQL over stored events for min/max/last. Binary input is exact for every type.
 * Rows must already be validated (rows.ts).
 */
export function encodeRowBinary(
  columns: ReadonlyArray<readonly [string, WireType]>,
  rows: ReadonlyArray<Record<string, unknown>>,
): Buffer {
  // One buffer for the whole body, grown by doubling: no Buffer per value and no concat.
  const w = new Writer(Math.max(1024, rows.length * columns.length * 9));
  for (const row of rows) {
    for (const [name, type] of columns) w.value(type, row[name]);
  }
  return w.finish();
}

const two32 = 2 ** 32;

class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  value(type: WireType, value: unknown): void {
    switch (type) {
      case 'string':
      case 'json':
        this.string(value as string);
        return;
      case 'int64': {
        // A safe integer as two's complement in two 32-bit halves (no BigInt per value).
        const n = value as number;
        this.ensure(8);
        this.buf.writeUInt32LE(n >>> 0, this.pos);
        this.buf.writeInt32LE(Math.floor(n / two32), this.pos + 4);
        this.pos += 8;
        return;
      }
      case 'uint32':
      case 'datetime':
        this.ensure(4);
        this.pos = this.buf.writeUInt32LE(value as number, this.pos);
        return;
      case 'float64':
        this.ensure(8);
        this.pos = this.buf.writeDoubleLE(value as number, this.pos);
        return;
      case 'bool':
        this.ensure(1);
        this.buf[this.pos++] = value ? 1 : 0;
        return;
    }
  }

  /** LEB128 byte length, then the UTF-8 bytes (rows.ts has refused lone surrogates). */
  private string(s: string): void {
    // At most 3 bytes per UTF-16 unit; up to 42 units always fit a one-byte length, so the text
    // is written first and its length put in front, without measuring it twice.
    this.ensure(s.length * 3 + 5);
    if (s.length <= 42) {
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    let rest = Buffer.byteLength(s, 'utf8');
    do {
      let byte = rest % 128;
      rest = Math.floor(rest / 128);
      if (rest > 0) byte |= 0x80;
      this.buf[this.pos++] = byte;
    } while (rest > 0);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
