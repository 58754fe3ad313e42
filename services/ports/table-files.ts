/** A column of a table written to a file. `timestamp` values are epoch ms; `date` values 'YYYY-MM-DD'. */
export interface FileColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'timestamp' | 'date';
}

export type FileValue = string | number | boolean | null;

/**
 * Writes tables to columnar files (Parquet, with DuckDB) in bounded memory: rows are appended in
 * pages and kept on disk in a scratch directory until written.
 */
export interface TableFileWriter {
  create(table: string, columns: readonly FileColumn[]): Promise<void>;
  append(
    table: string,
    columns: readonly FileColumn[],
    rows: ReadonlyArray<ReadonlyArray<FileValue>>,
  ): Promise<void>;
  writeParquet(table: string, file: string): Promise<void>;
  close(): Promise<void>;
}

/** Opens a writer whose scratch files live in `dir` (the caller removes `dir` afterwards). */
export type OpenTableFileWriter = (dir: string) => Promise<TableFileWriter>;
