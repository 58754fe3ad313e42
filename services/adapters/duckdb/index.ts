export { ParquetWriter } from './parquet-writer.js';
export { DuckDbStore, type DuckDbStoreOptions } from './store.js';
