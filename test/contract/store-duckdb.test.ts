import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { sqlString } from '../../services/adapters/sql/literals.js';
import { storeContract } from './store-contract.js';
import { hostileStrings } from './store-fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glasshouse-duckdb-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

storeContract('duckdb', async () => {
  const store = new DuckDbStore({ path: join(dir, 'contract', 'store.duckdb') });
  await store.start();
  return { store, columns: (t) => store.columns(t), cleanup: async () => {} };
});

describe('DuckDB store', () => {
  it('reads escaped hostile literals back unchanged, as one value', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      for (const s of hostileStrings) {
        const reader = await connection.runAndReadAll(
          `SELECT ${sqlString(s, 'duckdb')} AS s, 42 AS sentinel`,
        );
        expect(reader.getRowObjectsJS()).toEqual([{ s, sentinel: 42 }]);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('keeps inserted rows when the writing process is killed with SIGKILL', async () => {
    const path = join(dir, 'killed', 'store.duckdb');
    const writer = fileURLToPath(new URL('./store-duckdb-writer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', writer, path, '500'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    // The writer prints `inserted` only after insert() resolved; it then idles until killed.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`writer never reported; stderr: ${stderr}`)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('inserted')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`writer exited with ${code}; stderr: ${stderr}`));
      });
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const store = new DuckDbStore({ path });
    await store.start();
    try {
      expect((await store.migrate()).applied).toEqual([]);
      const rows = await store.select('metric_events', {
        where: [{ column: 'module_id', op: '=', value: 'killed' }],
      });
      expect(rows).toHaveLength(500);
      // The second batch replayed the first: still one row per key after WAL replay.
      expect(new Set(rows.map((r) => r.event_id)).size).toBe(500);
    } finally {
      await store.stop();
    }
  });
});
