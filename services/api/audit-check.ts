import type { AuditVerification } from '../../schemas/audit.js';
import { verifyChain } from '../core/audit/chain.js';
import {
  parseSignedCheckpoint,
  type SignedCheckpoint,
  verifyCosignature,
  verifyLogSignature,
} from '../core/audit/checkpoint.js';
import { entryLeafHash, MerkleTree, verifyConsistency } from '../core/audit/merkle.js';
import { type NoteVerifierKey, parseVerifierKey } from '../core/audit/note.js';
import { GlasshouseError } from '../runtime/errors.js';
import { readAuditExport } from './audit-export.js';

/** What `glasshouse audit verify` checks, and against what. */
export interface CheckOptions {
  /** A server (`http(s)://…`) or an exported file of entries. */
  source: string;
  /** The log's verifier key; undefined: the one the server names (trusted on first use). */
  logKey: NoteVerifierKey | undefined;
  /** The checkpoint saved on an earlier run (its note text), if any. */
  saved: string | undefined;
  witnesses: NoteVerifierKey[];
  quorum: number;
  fetchImpl?: typeof fetch;
}

/** The verdict: ok, or the first check that failed with everything needed to show it to someone else. */
export type CheckResult =
  | {
      ok: true;
      /** The hash chain's verdict (valid). */
      chain: AuditVerification;
      /** The checkpoint verified now (note text; undefined for a file without a served checkpoint). */
      checkpoint: string | undefined;
      size: number;
      entries: number;
      witnesses: number;
      logKey: string | undefined;
      keyTrustedOnFirstUse: boolean;
    }
  | { ok: false; chain: AuditVerification; evidence: Evidence };

/** A self-contained record of a failed check: both checkpoints, the proof, the entries involved. */
export interface Evidence {
  kind: 'glasshouse-audit-evidence';
  createdAt: string;
  source: string;
  check: 'chain' | 'signature' | 'witnesses' | 'root' | 'rollback' | 'consistency' | 'origin';
  reason: string;
  logKey: string | undefined;
  savedCheckpoint: string | undefined;
  servedCheckpoint: string | undefined;
  consistencyProof: { from: number; to: number; proof: string[] | undefined; error?: string } | undefined;
  /** The served entries up to the larger of both checkpoints' sizes. */
  entries: unknown[];
}

async function text(fetchImpl: typeof fetch, url: URL): Promise<string> {
  const response = await fetchImpl(url);
  if (!response.ok) throw new GlasshouseError('export_unavailable', `${url} answered ${response.status}`);
  return response.text();
}

function baseOf(source: string): URL | undefined {
  if (!/^https?:\/\//i.test(source)) return;
  const base = new URL(source);
  base.pathname = base.pathname.replace(/\/v1\/audit\/?$/, '').replace(/\/+$/, '');
  base.search = '';
  return base;
}

const at = (base: URL, path: string): URL =>
  new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${path}`);

/**
 * Verifies a served (or exported) audit log without trusting whoever serves it: the log's signature
 * on its checkpoint and at least `quorum` witness cosignatures, that the served entries chain and hash
 * to the checkpoint's root, and that the checkpoint is consistent with the one saved before (the
 * server's consistency proof, and the entries themselves, which must still hash to the saved root).
 */
export async function checkAuditLog(options: CheckOptions): Promise<CheckResult> {
  const fetchImpl = options.fetchImpl ?? fetch;
  const base = baseOf(options.source);

  let logKey = options.logKey;
  let trustedOnFirstUse = false;
  // The checkpoint before the entries: entries read after it cover at least its size.
  const servedNote = base ? await text(fetchImpl, at(base, '/v1/audit/checkpoint')) : undefined;
  const entries: unknown[] = [];
  for await (const entry of readAuditExport(options.source, fetchImpl)) entries.push(entry);
  if (base && !logKey) {
    logKey = parseVerifierKey((await text(fetchImpl, at(base, '/v1/audit/key'))).trim());
    trustedOnFirstUse = true;
  }
  const served = servedNote === undefined ? undefined : parseSignedCheckpoint(servedNote);
  let saved: SignedCheckpoint | undefined;
  if (options.saved !== undefined) {
    try {
      saved = parseSignedCheckpoint(options.saved);
    } catch (err) {
      throw new GlasshouseError(
        'usage',
        `the saved checkpoint is not a checkpoint: ${(err as Error).message}`,
      );
    }
    if (logKey && !verifyLogSignature(saved, logKey))
      throw new GlasshouseError('usage', `the saved checkpoint is not signed by ${logKey.text}`);
  }

  const sizes = [served?.size ?? 0, saved?.size ?? 0];
  let proof: Evidence['consistencyProof'];
  const chain: AuditVerification = verifyChain(entries);
  const fail = (check: Evidence['check'], reason: string): CheckResult => ({
    ok: false,
    chain,
    evidence: {
      kind: 'glasshouse-audit-evidence',
      createdAt: new Date().toISOString(),
      source: options.source,
      check,
      reason,
      logKey: logKey?.text,
      savedCheckpoint: options.saved,
      servedCheckpoint: servedNote,
      consistencyProof: proof,
      entries: entries.slice(0, served || saved ? Math.max(...sizes) : entries.length),
    },
  });

  if (!chain.valid)
    return fail('chain', `the served entries do not chain: entry ${chain.brokenAt}: ${chain.reason}`);
  const tree = new MerkleTree(entries.map((e) => entryLeafHash((e as { hash: string }).hash)));

  let witnesses = 0;
  if (served && logKey) {
    if (!verifyLogSignature(served, logKey))
      return fail('signature', `the served checkpoint carries no valid signature by ${logKey.text}`);
    witnesses = options.witnesses.filter(
      (w) => verifyCosignature(served.text, served.signatures, w) !== undefined,
    ).length;
    if (witnesses < options.quorum)
      return fail(
        'witnesses',
        `${witnesses} of the named witnesses cosigned the checkpoint; at least ${options.quorum} must`,
      );
  }
  if (saved) {
    if (served && saved.origin !== served.origin)
      return fail(
        'origin',
        `the saved checkpoint is of "${saved.origin}", the served one of "${served.origin}"`,
      );
    if (served && saved.size > served.size)
      return fail(
        'rollback',
        `the log now claims ${served.size} entries, fewer than the ${saved.size} of the saved checkpoint`,
      );
    if (served && base) {
      let hashes: Buffer[] | undefined;
      try {
        const response = await fetchImpl(
          at(base, `/v1/audit/proof/consistency?from=${saved.size}&to=${served.size}`),
        );
        const body = (await response.json()) as { proof?: unknown };
        if (!response.ok || !Array.isArray(body.proof) || !body.proof.every((p) => typeof p === 'string'))
          throw new Error(`answered ${response.status}`);
        proof = { from: saved.size, to: served.size, proof: body.proof as string[] };
        hashes = (body.proof as string[]).map((p) => Buffer.from(p, 'base64'));
      } catch (err) {
        proof = { from: saved.size, to: served.size, proof: undefined, error: (err as Error).message };
      }
      if (!hashes || !verifyConsistency(saved.size, served.size, hashes, saved.root, served.root))
        return fail(
          'consistency',
          `the log cannot prove that its checkpoint of ${served.size} entries extends the saved one of ${saved.size}: the history was rewritten`,
        );
    }
    if (saved.size > tree.size)
      return fail(
        'rollback',
        `the saved checkpoint covers ${saved.size} entries, the source holds ${tree.size}`,
      );
    if (!tree.root(saved.size).equals(saved.root))
      return fail(
        'consistency',
        `the first ${saved.size} entries served now do not hash to the saved checkpoint's root: the history was rewritten`,
      );
  }
  if (served) {
    if (served.size > tree.size)
      return fail('root', `the checkpoint covers ${served.size} entries but the server served ${tree.size}`);
    if (!tree.root(served.size).equals(served.root))
      return fail('root', `the first ${served.size} served entries do not hash to the checkpoint's root`);
  }
  return {
    ok: true,
    chain,
    checkpoint: servedNote,
    size: served?.size ?? tree.size,
    entries: tree.size,
    witnesses,
    logKey: logKey?.text,
    keyTrustedOnFirstUse: trustedOnFirstUse,
  };
}
