import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../schemas/audit.js';
import { checkAuditLog } from '../../services/api/audit-check.js';
import { chainEntry, emptyHead } from '../../services/core/audit/chain.js';
import { checkpointText, ed25519Cosigner } from '../../services/core/audit/checkpoint.js';
import { entryLeafHash, MerkleTree } from '../../services/core/audit/merkle.js';
import { ed25519Signer, signNote } from '../../services/core/audit/note.js';

const origin = 'check.example/audit';
const log = ed25519Signer(origin, generateKeyPairSync('ed25519').privateKey);
const witness = ed25519Cosigner('witness.example', generateKeyPairSync('ed25519').privateKey);

function chain(n: number, tweak?: (i: number) => string): AuditEntry[] {
  const out: AuditEntry[] = [];
  let head = emptyHead;
  for (let i = 0; i < n; i++) {
    const entry = chainEntry(head, {
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      actor: 'admin:ada',
      action: 'module.put',
      subject: `module:m${i}`,
      before: null,
      after: { target: tweak?.(i) ?? String(i) },
      rationale: null,
    });
    out.push(entry);
    head = { seq: entry.seq, hash: entry.hash };
  }
  return out;
}

const treeOf = (entries: AuditEntry[]) => new MerkleTree(entries.map((e) => entryLeafHash(e.hash)));
const checkpointOf = (entries: AuditEntry[], size = entries.length, signer = log) =>
  signNote(checkpointText({ origin, size, root: treeOf(entries).root(size) }), [signer]);

/** A server answering from memory, as the api role does. */
function server(entries: AuditEntry[], note: string): typeof fetch {
  const tree = treeOf(entries);
  return (async (input: string | URL) => {
    const url = new URL(String(input));
    const q = (k: string) => Number(url.searchParams.get(k));
    switch (url.pathname) {
      case '/v1/audit':
        return Response.json({ items: entries.filter((e) => e.seq > q('after')) });
      case '/v1/audit/checkpoint':
        return new Response(note);
      case '/v1/audit/key':
        return new Response(`${log.key.text}\n`);
      case '/v1/audit/proof/consistency':
        return Response.json({
          proof: tree.consistencyProof(q('from'), q('to')).map((h) => h.toString('base64')),
        });
      default:
        return new Response('', { status: 404 });
    }
  }) as typeof fetch;
}

const check = (
  entries: AuditEntry[],
  note: string,
  extra: Partial<Parameters<typeof checkAuditLog>[0]> = {},
) =>
  checkAuditLog({
    source: 'http://log.example',
    logKey: log.key,
    saved: undefined,
    witnesses: [],
    quorum: 0,
    fetchImpl: server(entries, note),
    ...extra,
  });

describe('audit verify against a checkpoint', () => {
  const honest = chain(9);
  const savedAt5 = checkpointOf(honest, 5);

  it('passes an honest log that extends the saved checkpoint, counting witness cosignatures', async () => {
    const note = checkpointOf(honest);
    const cosigned = `${note}${witness.cosign(note.split('\n\n')[0]!.concat('\n'), 1_750_000_000)}\n`;
    const result = await check(honest, cosigned, { saved: savedAt5, witnesses: [witness.key], quorum: 1 });
    expect(result).toMatchObject({
      ok: true,
      size: 9,
      entries: 9,
      witnesses: 1,
      keyTrustedOnFirstUse: false,
    });
    // A log that grew past its checkpoint is fine too: the checkpoint covers a prefix.
    expect(await check(honest, checkpointOf(honest, 7), { saved: savedAt5 })).toMatchObject({
      ok: true,
      size: 7,
    });
    // Without --log-key, the server's key is used and that is said.
    expect(await check(honest, note, { logKey: undefined })).toMatchObject({
      ok: true,
      keyTrustedOnFirstUse: true,
    });
  });

  it('fails, with evidence, a rewritten history, a rollback, a foreign signature, entries off the root and a missing quorum', async () => {
    const rewritten = chain(9, (i) => (i === 2 ? 'rewritten' : String(i)));
    const cases = [
      [await check(rewritten, checkpointOf(rewritten), { saved: savedAt5 }), 'consistency'],
      [await check(honest, checkpointOf(honest, 4), { saved: savedAt5 }), 'rollback'],
      [
        await check(
          honest,
          checkpointOf(honest, 9, ed25519Signer(origin, generateKeyPairSync('ed25519').privateKey)),
        ),
        'signature',
      ],
      [await check(rewritten, checkpointOf(honest)), 'root'],
      [await check(honest, checkpointOf(honest), { witnesses: [witness.key], quorum: 1 }), 'witnesses'],
    ] as const;
    for (const [result, expected] of cases) {
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.evidence.check).toBe(expected);
      expect(result.evidence).toMatchObject({ kind: 'glasshouse-audit-evidence', logKey: log.key.text });
    }
    const [rewrite] = cases[0];
    if (rewrite.ok) return;
    expect(rewrite.evidence.savedCheckpoint).toBe(savedAt5);
    expect(rewrite.evidence.consistencyProof).toMatchObject({ from: 5, to: 9 });
    expect(rewrite.evidence.entries).toEqual(rewritten);
  });
});
