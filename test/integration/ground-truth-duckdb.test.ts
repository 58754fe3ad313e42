import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { eventsSql, type Loaded, storeEngineRows } from '../support/ground-truth-fixture.js';
import { groundTruthSuite } from '../support/ground-truth-suite.js';
import { killLeftovers, runGlasshouse } from '../support/process.js';

const million = 1_000_000;
let dir: string;
let store: DuckDbStore;
let loaded: Loaded;

// The CLI opens the same file as the store does under GLASSHOUSE_DATA_DIR.
const openStore = async () => {
  const s = new DuckDbStore({ path: join(dir, 'glasshouse.duckdb') });
  await s.start();
  await s.migrate();
  return s;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gh-ground-truth-'));
  store = await openStore();
  await store.stop();
  // The raw events in bulk, with the file closed by the store (one open instance per file).
  const started = Date.now();
  const raw = await DuckDBInstance.create(join(dir, 'glasshouse.duckdb'));
  const connection = await raw.connect();
  await connection.run(eventsSql('duckdb', 'er-million', million));
  connection.closeSync();
  raw.closeSync();
  const insertMs = Date.now() - started;
  store = await openStore();
  loaded = await storeEngineRows(store, 'er-million', million);
  process.stdout.write(
    `duckdb: ${million} events inserted in ${insertMs} ms (${loaded.late} late); engine rows (${loaded.rollups}) in ${loaded.ms} ms\n`,
  );
}, 120_000);

afterAll(async () => {
  await store.stop();
  await killLeftovers();
  await rm(dir, { recursive: true, force: true });
});

groundTruthSuite('duckdb', million, {
  store: () => store,
  loaded: () => loaded,
  // The CLI opens the store's file alone: stop the store first, reopen it after.
  verifyCli: async (moduleId) => {
    await store.stop();
    return runGlasshouse(['verify-rollups', '--module', moduleId], { GLASSHOUSE_DATA_DIR: dir });
  },
  afterCli: async () => {
    store = await openStore();
  },
});
