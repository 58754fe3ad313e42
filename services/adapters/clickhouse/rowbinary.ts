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
  const chunks: Buffer[] = [];
  for (const row of rows) {
    for (const [name, type] of columns) chunks.push(encodeValue(type, row[name]));
  }
  return Buffer.concat(chunks);
}

function encodeValue(type: WireType, value: unknown): Buffer {
  switch (type) {
    case 'string':
    case 'json': {
      const bytes = Buffer.from(value as string, 'utf8');
      return Buffer.concat([varUInt(bytes.length), bytes]);
    }
    case 'int64': {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64LE(BigInt(value as number));
      return b;
    }
    case 'uint32':
    case 'datetime': {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32LE(value as number);
      return b;
    }
    case 'float64': {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleLE(value as number);
      return b;
    }
    case 'bool':
      return Buffer.from([value ? 1 : 0]);
  }
}

/** LEB128, as RowBinary uses for string lengths. */
function varUInt(n: number): Buffer {
  const bytes: number[] = [];
  let rest = n;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}
