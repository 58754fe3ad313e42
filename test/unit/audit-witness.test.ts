import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkpointText, ed25519Cosigner, verifyCosignature } from '../../services/core/audit/checkpoint.js';
import { hashLeaf, MerkleTree } from '../../services/core/audit/merkle.js';
import { ed25519Signer, parseNote, signNote } from '../../services/core/audit/note.js';
import { addCheckpoint, type WitnessLogState } from '../../services/core/audit/witness.js';

const origin = 'example.org/audit';
const log = ed25519Signer(origin, generateKeyPairSync('ed25519').privateKey);
const witness = ed25519Cosigner('witness.example', generateKeyPairSync('ed25519').privateKey);
const honest = new MerkleTree(Array.from({ length: 20 }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`))));
// The same first 5 entries, a different sixth: a rewritten history from entry 6 on.
const forked = new MerkleTree(
  Array.from({ length: 20 }, (_, i) => hashLeaf(Buffer.from(i === 5 ? 'rewritten' : `entry ${i}`))),
);

const note = (tree: MerkleTree, size: number, signer = log) =>
  signNote(checkpointText({ origin, size, root: tree.root(size) }), [signer]);
const body = (old: number, tree: MerkleTree, size: number, signer = log) =>
  `old ${old}\n${tree
    .consistencyProof(old, size)
    .map((h) => `${h.toString('base64')}\n`)
    .join('')}\n${note(tree, size, signer)}`;

function run(requestBody: string, state?: WitnessLogState) {
  return addCheckpoint({
    body: requestBody,
    logs: new Map([[origin, log.key]]),
    state: (o) => (o === origin ? state : undefined),
    cosigner: witness,
    now: 1_750_000_000,
  });
}

describe('witness add-checkpoint (C2SP tlog-witness)', () => {
  it('cosigns a first checkpoint and then only checkpoints that extend it', () => {
    const first = run(body(0, honest, 5));
    expect(first.status).toBe(200);
    if (first.status !== 200) return;
    expect(first.state.size).toBe(5);
    const cosigned = parseNote(`${note(honest, 5)}${first.cosignature}\n`);
    expect(verifyCosignature(cosigned.text, cosigned.signatures, witness.key)).toBe(1_750_000_000);
    const next = run(body(5, honest, 12), first.state);
    expect(next).toMatchObject({ status: 200, state: { size: 12 } });
    // The same checkpoint again is cosigned again (idempotent).
    expect(run(body(5, honest, 5), first.state).status).toBe(200);
  });

  it('refuses a rewritten history: 422 with a proof from its size, 409 naming its size otherwise', () => {
    const state = { size: 8, root: honest.root(8) };
    expect(run(body(8, forked, 12), state)).toMatchObject({ status: 422, code: 'bad_proof' });
    expect(run(body(0, forked, 12), state)).toEqual({ status: 409, size: 8 });
    // Another root at the size it cosigned.
    expect(run(body(8, forked, 8), state)).toMatchObject({ status: 422 });
    // A consistent history that only shares the prefix before the fork is fine before the fork.
    expect(run(body(5, forked, 5), { size: 5, root: forked.root(5) }).status).toBe(200);
  });

  it('answers 403 without the log signature, 404 for a log it does not watch, 400 for old > size or a malformed body', () => {
    const stranger = ed25519Signer(origin, generateKeyPairSync('ed25519').privateKey);
    expect(run(body(0, honest, 5, stranger))).toMatchObject({ status: 403 });
    const other = ed25519Signer('other.example/log', generateKeyPairSync('ed25519').privateKey);
    const otherNote = signNote(
      checkpointText({ origin: 'other.example/log', size: 1, root: honest.root(1) }),
      [other],
    );
    expect(run(`old 0\n\n${otherNote}`)).toMatchObject({ status: 404 });
    expect(
      run(body(0, honest, 5).replace('old 0', 'old 7'), { size: 7, root: honest.root(7) }),
    ).toMatchObject({
      status: 400,
      code: 'old_too_large',
    });
    for (const bad of [
      '',
      'old x\n\n',
      `old 0\nnot-base64\n\n${note(honest, 3)}`,
      `new 0\n\n${note(honest, 3)}`,
    ])
      expect(run(bad)).toMatchObject({ status: 400, code: 'malformed_request' });
  });
});
