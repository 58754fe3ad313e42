import { inject } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { storeContract } from './store-contract.js';

const url = inject('clickhouseUrl');
// One database per test file (and run), so parallel runs and reruns never share rows.
const database = `gh_contract_${process.pid}_${Date.now().toString(36)}`;

storeContract('clickhouse', async () => {
  const store = new ClickHouseStore({ url, database });
  await store.start();
  return {
    store,
    columns: (t) => store.columns(t),
    cleanup: async () => {
      await fetch(url, { method: 'POST', body: `DROP DATABASE IF EXISTS ${database}` });
    },
  };
});
