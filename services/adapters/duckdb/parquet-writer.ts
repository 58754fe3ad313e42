import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, dateValue, timestampValue } from '@duckdb/node-api';
import type { FileColumn, FileValue, TableFileWriter } from '../../ports/table-files.js';
import { sqlString } from '../sql/literals.js';

const duckTypes: Record<FileColumn['type'], string> = {
  string: 'VARCHAR',
  integer: 'BIGINT',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
};

/**
 * Writes tables to Parquet with DuckDB, whatever the deployment's store: a private DuckDB database
 * in a scratch directory, fed in pages (each page one appender flush), then `COPY ... (FORMAT
 * PARQUET)`. The rows live in that file and DuckDB's small buffer, not in JavaScript memory, so a
 * large module's package is written in bounded memory.
 */
export class ParquetWriter implements TableFileWriter {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly path: string,
  ) {}

  /** Opens a writer whose database lives in `dir` (which the caller removes afterwards). */
  static async open(dir: string): Promise<ParquetWriter> {
    const path = join(dir, 'writer.duckdb');
    const instance = await DuckDBInstance.create(path, { memory_limit: '128MB', threads: '1' });
    return new ParquetWriter(instance, await instance.connect(), path);
  }

  /** Creates a table with these columns (names are quoted; any text will do). */
  async create(table: string, columns: readonly FileColumn[]): Promise<void> {
    const list = columns.map((c) => `${quote(c.name)} ${duckTypes[c.type]}`).join(', ');
    await this.connection.run(`CREATE TABLE ${quote(table)} (${list})`);
  }

  /** Appends rows, each a value per column in order (null for missing; timestamps epoch ms; dates 'YYYY-MM-DD'). */
  async append(
    table: string,
    columns: readonly FileColumn[],
    rows: ReadonlyArray<ReadonlyArray<FileValue>>,
  ): Promise<void> {
    const appender = await this.connection.createAppender(table);
    try {
      for (const row of rows) {
        columns.forEach((column, i) => {
          const v = row[i];
          if (v === null || v === undefined) appender.appendNull();
          else if (column.type === 'string') appender.appendVarchar(String(v));
          else if (column.type === 'integer') appender.appendBigInt(BigInt(v as number));
          else if (column.type === 'number') appender.appendDouble(v as number);
          else if (column.type === 'boolean') appender.appendBoolean(v as boolean);
          else if (column.type === 'timestamp')
            appender.appendTimestamp(timestampValue(BigInt(v as number) * 1000n));
          else appender.appendDate(dateValue(Math.floor(Date.parse(`${String(v)}T00:00:00Z`) / 86_400_000)));
        });
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /** Writes the table to a Parquet file (zstd-compressed). */
  async writeParquet(table: string, file: string): Promise<void> {
    await this.connection.run(
      `COPY ${quote(table)} TO ${sqlString(file, 'duckdb')} (FORMAT PARQUET, COMPRESSION ZSTD)`,
    );
  }

  /** Closes the database and removes its file. */
  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
    await rm(this.path, { force: true });
    await rm(`${this.path}.wal`, { force: true });
  }
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
