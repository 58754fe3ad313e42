import { describe, expect, it } from 'vitest';
import { loadMigrations } from '../../services/adapters/sql/migrations.js';
import { tables } from '../../services/ports/tables.js';

describe('the migration files', () => {
  it('has the same migration ids for ClickHouse and DuckDB, each creating every catalog table', async () => {
    const ch = await loadMigrations(new URL('../../infra/clickhouse/migrations/', import.meta.url));
    const duck = await loadMigrations(new URL('../../infra/duckdb/migrations/', import.meta.url));
    expect(ch.map((m) => m.id)).toEqual(duck.map((m) => m.id));
    for (const migrations of [ch, duck]) {
      const sql = migrations.flatMap((m) => m.statements).join('\n');
      for (const table of Object.keys(tables)) expect(sql).toContain(`CREATE TABLE IF NOT EXISTS ${table} (`);
      expect(sql).not.toMatch(/DateTime64|TTL|CODEC|PRIMARY KEY|UNIQUE/i);
    }
  });
});
