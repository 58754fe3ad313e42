import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, inject } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { eventsSql, type Loaded, storeEngineRows } from '../support/ground-truth-fixture.js';
import { groundTruthSuite } from '../support/ground-truth-suite.js';
import { killLeftovers, runGlasshouse } from '../support/process.js';
import { testLogger } from '../support/store-setups.js';

const million = 1_000_000;
const database = `ground_truth_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
let store: ClickHouseStore;
let loaded: Loaded;

/** Plain SQL on the test's database (the bulk insert, the drop). */
async function command(query: string, db = database): Promise<void> {
  const client = createClient({ url: inject('clickhouseUrl'), database: db });
  try {
    await client.command({ query });
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  store = new ClickHouseStore({ url: inject('clickhouseUrl'), database, logger: testLogger });
  await store.start();
  await store.migrate();
  const started = Date.now();
  await command(eventsSql('clickhouse', 'er-million', million));
  const insertMs = Date.now() - started;
  loaded = await storeEngineRows(store, 'er-million', million);
  process.stdout.write(
    `clickhouse: ${million} events inserted in ${insertMs} ms (${loaded.late} late); engine rows (${loaded.rollups}) in ${loaded.ms} ms\n`,
  );
});

afterAll(async () => {
  await killLeftovers();
  await store?.stop();
  await command(`DROP DATABASE IF EXISTS ${database}`, 'default');
});

groundTruthSuite('clickhouse', million, {
  store: () => store,
  loaded: () => loaded,
  verifyCli: async (moduleId) =>
    runGlasshouse(['verify-rollups', '--module', moduleId], {
      GLASSHOUSE_CLICKHOUSE_URL: inject('clickhouseUrl'),
      GLASSHOUSE_CLICKHOUSE_DATABASE: database,
    }),
});
