import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ChainVerifier } from '../../core/audit/chain.js';
import type { Store } from '../../ports/store.js';
import type { Row } from '../../ports/tables.js';
import { type ApiDeps, parseOr400 } from '../deps.js';

/** Most entries in one page of `GET /v1/audit`. */
export const maxAuditPage = 1_000;

type AuditRow = Row<'audit_log'>;

const AuditQuery = z.strictObject({
  after: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number (a seq)')
    .transform(Number)
    .default(0),
  limit: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(maxAuditPage, `must be at most ${maxAuditPage}`))
    .default(100),
});

/**
 * One page of stored rows after `after`, in seq order, as written: without the store's read-time
 * dedup, so two different rows at one seq (a fork) are both seen rather than one picked. Identical
 * copies (replays) collapse. A seq is never split between pages.
 */
async function page(
  store: Store,
  after: number,
  limit: number,
): Promise<{ rows: AuditRow[]; full: boolean }> {
  const rows = await store.select('audit_log', {
    where: [{ column: 'seq', op: '>', value: after }],
    orderBy: [{ column: 'seq', direction: 'asc' }, { column: 'hash' }],
    limit,
    allRows: true,
  });
  const last = rows[rows.length - 1]?.seq;
  if (rows.length === limit && last !== undefined) {
    const rest = await store.select('audit_log', {
      where: [{ column: 'seq', op: '=', value: last }],
      orderBy: [{ column: 'hash' }],
      limit: maxAuditPage,
      allRows: true,
    });
    rows.splice(
      rows.findIndex((r) => r.seq === last),
      rows.length,
      ...rest,
    );
  }
  const seen = new Set<string>();
  const distinct = rows.filter((row) => {
    const text = JSON.stringify(row);
    if (seen.has(text)) return false;
    seen.add(text);
    return true;
  });
  return { rows: distinct, full: last !== undefined && rows.length >= limit };
}

/** The public entry of a stored row, exactly as stored (tampering included: the verifier must see it). */
function entryOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null && 'entry' in body
    ? (body as { entry: unknown }).entry
    : body;
}

/** Recomputes the whole stored chain, page by page; a row whose columns disagree with its entry is broken too. */
export async function verifyStoredChain(store: Store) {
  const verifier = new ChainVerifier();
  let after = 0;
  for (;;) {
    const { rows, full } = await page(store, after, maxAuditPage);
    for (const [i, row] of rows.entries()) {
      if (rows[i + 1]?.seq === row.seq) {
        verifier.fail(row.seq, `different entries are stored at seq ${row.seq}`);
        return verifier.result();
      }
      const entry = entryOf(row.body) as { seq?: unknown; hash?: unknown };
      if (!verifier.push(entry)) return verifier.result();
      if (entry.seq !== row.seq || entry.hash !== row.hash) {
        verifier.fail(row.seq, 'the stored seq or hash column differs from the entry');
        return verifier.result();
      }
    }
    if (!full) return verifier.result();
    after = rows[rows.length - 1]!.seq;
  }
}

/** `GET /v1/audit?after=&limit=` (public, paged export) and `GET /v1/audit/verify`. */
export function auditRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/audit', async (request) => {
    const query = parseOr400(AuditQuery, request.query, 'the query');
    const { rows, full } = await page(deps.store, query.after, query.limit);
    const items = rows.map((row) => entryOf(row.body));
    return full ? { items, next: String(rows[rows.length - 1]!.seq) } : { items };
  });

  app.get('/v1/audit/verify', async () => verifyStoredChain(deps.store));
}
