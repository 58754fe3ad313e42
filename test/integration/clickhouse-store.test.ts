import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LocalClickHouse, startLocalClickHouse } from '../../infra/clickhouse/local.js';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { sqlString } from '../../services/adapters/sql/literals.js';
import type { Row } from '../../services/ports/tables.js';
import { hostileStrings } from '../contract/store-fixtures.js';

const url = inject('clickhouseUrl');

async function query(base: string, sql: string): Promise<string> {
  const res = await fetch(base, { method: 'POST', body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(text);
  return text;
}

describe('ClickHouse literal escaping', () => {
  const database = `gh_escape_${process.pid}_${Date.now().toString(36)}`;
  beforeAll(async () => {
    await query(url, `CREATE DATABASE ${database}`);
    await query(url, `CREATE TABLE ${database}.canary (x UInt8) ENGINE = MergeTree ORDER BY x`);
  });
  afterAll(async () => {
    await query(url, `DROP DATABASE IF EXISTS ${database}`);
  });

  it.each(hostileStrings.map((s) => [JSON.stringify(s.slice(0, 30)), s]))(
    'reads %s back as one value',
    async (_l, s) => {
      const text = await query(
        url,
        `SELECT ${sqlString(s, 'clickhouse')} AS s, 42 AS sentinel FORMAT JSONEachRow`,
      );
      const rows = text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(rows).toEqual([{ s, sentinel: 42 }]);
    },
  );

  it('left the canary table alone', async () => {
    expect((await query(url, `EXISTS TABLE ${database}.canary`)).trim()).toBe('1');
  });
});

describe('ClickHouse store', () => {
  it('stores every double exactly (18.16 text parsing is off by one ULP for some)', async () => {
    const store = new ClickHouseStore({ url, database: `gh_floats_${process.pid}` });
    await store.start();
    try {
      await store.migrate();
      const bits = new Float64Array(1);
      const words = new Uint32Array(bits.buffer);
      const values: number[] = [];
      while (values.length < 5_000) {
        words[0] = (Math.random() * 2 ** 32) >>> 0;
        words[1] = (Math.random() * 2 ** 32) >>> 0;
        if (Number.isFinite(bits[0]!)) values.push(bits[0]!, Math.random() * 1000);
      }
      const rows: Row<'metric_events'>[] = values.map((value, i) => ({
        module_id: 'floats',
        agency_id: 'a',
        event_id: String(i).padStart(5, '0'),
        metric: 'm',
        value,
        observed_ms: 1_700_000_000_000,
        received_ms: 1_700_000_000_000,
        dimensions: null,
        late: false,
        module_version: 1,
        supersedes: '',
        retract: false,
        note: '',
      }));
      await store.insert('metric_events', rows);
      const back = await store.select('metric_events', { orderBy: [{ column: 'event_id' }] });
      const wrong = back.filter((r, i) => !Object.is(r.value, values[i]));
      expect(wrong.length).toBe(0);
      expect(back).toHaveLength(values.length);
    } finally {
      await query(url, `DROP DATABASE IF EXISTS gh_floats_${process.pid}`);
      await store.stop();
    }
  });

  it('rejects an invalid database name before connecting', () => {
    expect(() => new ClickHouseStore({ url, database: 'x; DROP DATABASE default' })).toThrow(
      /not a valid identifier/,
    );
  });
});

describe('local ClickHouse server and retriable errors', () => {
  let server: LocalClickHouse;
  let store: ClickHouseStore;
  const row: Row<'alerts'> = {
    alert_id: 'a1',
    version: 1,
    module_id: 'bus',
    rule_id: 'r',
    kind: 'goal_deviation',
    state: 'firing',
    opened_ms: 1,
    updated_ms: 1,
    body: {},
  };

  beforeAll(async () => {
    server = await startLocalClickHouse();
    store = new ClickHouseStore({ url: server.url, database: 'glasshouse', requestTimeoutMs: 1_500 });
    await store.start();
    await store.migrate();
  });
  afterAll(async () => {
    await store?.stop();
    await server?.stop();
  });

  it('reports a killed server as retriable, and recovers after restart with the data intact', async () => {
    await store.insert('alerts', [row]);
    await server.kill();

    const failure = store.insert('alerts', [{ ...row, version: 2 }]);
    await expect(failure).rejects.toMatchObject({ code: 'store_unavailable', retriable: true });
    expect(store.health().state).toBe('error');

    await server.restart();
    await store.insert('alerts', [{ ...row, version: 2 }]);
    expect(store.health().state).toBe('ok');
    const back = await store.select('alerts', { where: [{ column: 'alert_id', op: '=', value: 'a1' }] });
    expect(back.map((r) => r.version)).toEqual([1, 2]);
  });

  it('times out against a paused server with a retriable error', async () => {
    server.pause();
    try {
      await expect(store.select('alerts')).rejects.toMatchObject({
        code: 'store_unavailable',
        retriable: true,
      });
    } finally {
      server.resume();
    }
    await expect(store.select('alerts')).resolves.toHaveLength(2);
  });

  it('classifies a server-side rejection as permanent', async () => {
    const other = new ClickHouseStore({ url: server.url, database: 'never_migrated' });
    await other.start();
    try {
      await expect(other.select('alerts')).rejects.toMatchObject({
        code: 'store_query_failed',
        retriable: false,
      });
    } finally {
      await other.stop();
    }
  });

  it('removes its temp dir on stop', async () => {
    const extra = await startLocalClickHouse();
    expect(existsSync(extra.dir)).toBe(true);
    await extra.stop();
    await extra.stop();
    expect(existsSync(extra.dir)).toBe(false);
  });
});
