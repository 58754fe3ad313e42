import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import type { AuditEntry } from '../../schemas/audit.js';
import { entryHash } from '../../services/core/audit/chain.js';
import type { Store } from '../../services/ports/store.js';
import type { Row } from '../../services/ports/tables.js';
import { waitFor } from './store-setups.js';

type AuditRow = Row<'audit_log'>;

/**
 * What an operator with write access to the store can do: change the entry at `seq` and recompute
 * the hash chain from there on, so that the stored chain still verifies. Returns the rows to write
 * in place of seq and every later entry.
 */
export function rewriteHistory(
  rows: AuditRow[],
  seq: number,
  change: (entry: AuditEntry) => AuditEntry,
): AuditRow[] {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const out: AuditRow[] = [];
  let prevHash: string | undefined;
  for (const row of sorted) {
    if (row.seq < seq) continue;
    const body = row.body as { entry: AuditEntry };
    const original = row.seq === seq ? change(body.entry) : body.entry;
    const { hash: _old, ...rest } = { ...original, prevHash: prevHash ?? original.prevHash };
    const entry = { ...rest, hash: entryHash(rest) } as AuditEntry;
    prevHash = entry.hash;
    out.push({ ...row, hash: entry.hash, body: { ...body, entry } });
  }
  return out;
}

/** Replaces audit rows at and after `rows[0].seq` in a stopped DuckDB file (the store reopened after). */
export async function replaceDuckDbAuditRows(path: string, rows: AuditRow[]): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  try {
    const c = await instance.connect();
    try {
      await c.run(`DELETE FROM audit_log WHERE seq >= ${Number(rows[0]!.seq)}`);
      for (const row of rows) {
        await c.run(
          'INSERT INTO audit_log (seq, at_ms, actor, action, subject, hash, body) VALUES ($seq, $at, $actor, $action, $subject, $hash, $body)',
          {
            seq: row.seq,
            at: row.at_ms,
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            hash: row.hash,
            body: JSON.stringify(row.body),
          },
        );
      }
    } finally {
      c.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Replaces audit rows at and after `rows[0].seq` in a ClickHouse database: delete (a mutation, awaited), then insert. */
export async function replaceClickHouseAuditRows(
  url: string,
  database: string,
  store: Store,
  rows: AuditRow[],
): Promise<void> {
  const from = Number(rows[0]!.seq);
  const raw = createClient({ url, database });
  try {
    await raw.command({ query: `ALTER TABLE audit_log DELETE WHERE seq >= ${from}` });
    await waitFor(async () => {
      const result = await raw.query({
        query: `SELECT count() AS n FROM audit_log WHERE seq >= ${from}`,
        format: 'JSONEachRow',
      });
      const [row] = (await result.json()) as Array<{ n: string | number }>;
      return Number(row?.n) === 0 ? true : undefined;
    }, 'the audit rows to be deleted');
  } finally {
    await raw.close();
  }
  await store.insert('audit_log', rows);
}
