import { describe, expect, it } from 'vitest';
import { splitStatements, versionAtLeast } from '../../services/adapters/sql/migrations.js';
import { validateRows } from '../../services/adapters/sql/rows.js';
import { renderSelect } from '../../services/adapters/sql/select.js';
import { maxSelectRows } from '../../services/ports/store.js';

describe('renderSelect', () => {
  it('splits key from non-key conditions and orders by the key as a tiebreaker', () => {
    const parts = renderSelect(
      'registry_entities',
      {
        where: [
          { column: 'kind', op: '=', value: 'agency' },
          { column: 'deleted', op: '=', value: false },
          { column: 'id', op: 'in', value: ["o'brien", 'x'] },
        ],
        orderBy: [{ column: 'updated_ms', direction: 'desc' }],
        limit: 10,
      },
      'duckdb',
    );
    expect(parts.keyConditions).toEqual([`"kind" = 'agency'`, `"id" IN ('o''brien', 'x')`]);
    expect(parts.otherConditions).toEqual(['"deleted" = false']);
    expect(parts.orderBy).toBe('"updated_ms" DESC, "kind" ASC, "id" ASC');
    expect(parts).toMatchObject({ fetch: 10, unbounded: false });
  });

  it('renders a tuple in, a key condition when every column is a key column', () => {
    const where = [
      {
        columns: ['alert_id', 'version'],
        op: 'in' as const,
        value: [
          ["o'brien", 2],
          ['x', 1],
        ],
      },
    ];
    const duck = renderSelect('alerts', { where }, 'duckdb');
    // Each column's own list too, implied by the tuples, for the store's scan to filter on.
    expect(duck.keyConditions).toEqual([
      `"alert_id" IN ('o''brien', 'x') AND "version" IN (2, 1) AND ("alert_id", "version") IN (('o''brien', 2), ('x', 1))`,
    ]);
    expect(duck.keysListed).toBe(true);
    const ch = renderSelect('alerts', { where }, 'clickhouse');
    expect(ch.keyConditions).toEqual([
      `\`alert_id\` IN ('o\\'brien', 'x') AND \`version\` IN (2, 1) AND (\`alert_id\`, \`version\`) IN (('o\\'brien', 2), ('x', 1))`,
    ]);
    // Not every key column listed, or a non-key column in the tuple: no bound on the keys.
    const some = renderSelect(
      'performance_updates',
      { where: [{ columns: ['module_id', 'goal_id'], op: 'in', value: [['m', 'g']] }] },
      'duckdb',
    );
    expect(some).toMatchObject({
      keysListed: false,
      keyConditions: [
        `"module_id" IN ('m') AND "goal_id" IN ('g') AND ("module_id", "goal_id") IN (('m', 'g'))`,
      ],
    });
    const mixed = renderSelect(
      'alerts',
      { where: [{ columns: ['alert_id', 'state'], op: 'in', value: [['a', 'firing']] }] },
      'duckdb',
    );
    expect(mixed).toMatchObject({ keysListed: false, keyConditions: [] });
    expect(mixed.otherConditions).toHaveLength(1);
    expect(() =>
      renderSelect(
        'alerts',
        { where: [{ columns: ['alert_id', 'version'], op: 'in', value: [['a', '1']] }] },
        'duckdb',
      ),
    ).toThrow(/version is a uint32 column: expected a number/);
  });

  it('fetches one row past the ceiling when no limit is given', () => {
    expect(renderSelect('alerts', {}, 'clickhouse')).toMatchObject({
      fetch: maxSelectRows + 1,
      unbounded: true,
    });
  });

  it('checks value types against the column', () => {
    expect(() =>
      renderSelect('alerts', { where: [{ column: 'version', op: '=', value: '1' }] }, 'clickhouse'),
    ).toThrow(/expected a number/);
    expect(() =>
      renderSelect('registry_entities', { where: [{ column: 'deleted', op: '<', value: true }] }, 'duckdb'),
    ).toThrow(/only = and !=/);
  });
});

describe('validateRows', () => {
  const row = {
    seq: 1,
    at_ms: 2,
    actor: 'a',
    action: 'b',
    subject: 'c',
    hash: 'd',
    body: { x: 1 },
  };
  it('accepts rows of the catalog shape', () => {
    expect(() => validateRows('audit_log', [row, { ...row, body: undefined }])).not.toThrow();
  });
  it('names the row and column at fault', () => {
    expect(() => validateRows('audit_log', [row, { ...row, seq: 2 ** 53 }])).toThrow('audit_log[1].seq');
    expect(() => validateRows('audit_log', [{ ...row, body: { big: 1n } }])).toThrow('audit_log[0].body');
    expect(() => validateRows('audit_log', [null])).toThrow('audit_log[0]');
  });
});

describe('migrations', () => {
  it('splits statements on lines ending with a semicolon and drops comments', () => {
    expect(splitStatements('-- c\nCREATE TABLE a (x Int8);\n\nCREATE TABLE b\n(y Int8)\n;\n')).toEqual([
      'CREATE TABLE a (x Int8)',
      'CREATE TABLE b\n(y Int8)',
    ]);
  });

  it('compares server versions', () => {
    expect(versionAtLeast('18.16.1', [20, 3])).toBe(false);
    expect(versionAtLeast('24.8.4.13', [20, 3])).toBe(true);
    expect(versionAtLeast('20.3.1', [20, 3])).toBe(true);
  });
});
