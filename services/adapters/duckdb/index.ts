export { DuckDbStore, type DuckDbStoreOptions } from './store.js';
