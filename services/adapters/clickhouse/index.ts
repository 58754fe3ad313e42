export { classifyClickHouseError } from './errors.js';
export { ClickHouseStore, type ClickHouseStoreOptions } from './store.js';
