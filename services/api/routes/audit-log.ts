import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { NoteVerifierKey } from '../../core/audit/note.js';
import type { Store } from '../../ports/store.js';
import { GlasshouseError, ValidationError } from '../../runtime/errors.js';
import type { StoredAuditTree } from '../audit-tree.js';
import { latestCheckpoint } from '../checkpoints.js';
import { parseOr400 } from '../deps.js';

export interface AuditLogDeps {
  store: Store;
  tree: StoredAuditTree;
  origin: string;
  /** The log's verifier key. */
  key: NoteVerifierKey;
  /** The witnesses checkpoints are pushed to (GLASSHOUSE_WITNESSES). */
  witnesses: Array<{ url: string; key: NoteVerifierKey }>;
}

const count = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a whole number')
  .transform(Number);
const InclusionQuery = z.strictObject({ seq: count, size: count });
const ConsistencyQuery = z.strictObject({ from: count, to: count });

const b64 = (proof: Buffer[]) => ({ proof: proof.map((hash) => hash.toString('base64')) });

async function treeOfAtLeast(tree: StoredAuditTree, size: number) {
  const current = await tree.current();
  if (size > current.size)
    throw new GlasshouseError('beyond_log', `the log holds ${current.size} entries, fewer than ${size}`, {
      status: 404,
    });
  return current;
}

/**
 * The audit log as a transparency log: `GET /v1/audit/checkpoint` (the newest signed checkpoint,
 * cosignatures included), `GET /v1/audit/key` (the log's verifier key), `GET /v1/audit/witnesses`
 * (the witnesses it asks to cosign, with their keys) and the inclusion and
 * consistency proofs of RFC 9162 sections 2.1.3 and 2.1.4.
 */
export function auditLogRoutes(app: FastifyInstance, deps: AuditLogDeps): void {
  app.get('/v1/audit/checkpoint', async (_request, reply) => {
    const latest = await latestCheckpoint(deps.store, deps.origin);
    if (!latest)
      throw new GlasshouseError('no_checkpoint', 'no checkpoint has been signed yet', { status: 404 });
    return reply
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(latest.note);
  });

  app.get('/v1/audit/key', async (_request, reply) =>
    reply.header('content-type', 'text/plain; charset=utf-8').send(`${deps.key.text}\n`),
  );

  app.get('/v1/audit/witnesses', async () => ({
    items: deps.witnesses.map((w) => ({ url: w.url, key: w.key.text })),
  }));

  app.get('/v1/audit/proof/inclusion', async (request) => {
    const { seq, size } = parseOr400(InclusionQuery, request.query, 'the query');
    if (seq < 1 || seq > size)
      throw new ValidationError('seq must be between 1 and size', [
        { path: 'seq', message: `must be 1..${size}` },
      ]);
    return b64((await treeOfAtLeast(deps.tree, size)).inclusionProof(seq - 1, size));
  });

  app.get('/v1/audit/proof/consistency', async (request) => {
    const { from, to } = parseOr400(ConsistencyQuery, request.query, 'the query');
    if (from > to)
      throw new ValidationError('from must not be greater than to', [
        { path: 'from', message: `must be 0..${to}` },
      ]);
    return b64((await treeOfAtLeast(deps.tree, to)).consistencyProof(from, to));
  });
}
