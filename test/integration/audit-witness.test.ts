import { generateKeyPairSync } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkpointText,
  ed25519Cosigner,
  parseSignedCheckpoint,
  verifyCosignature,
  verifyLogSignature,
} from '../../services/core/audit/checkpoint.js';
import { hashLeaf, MerkleTree } from '../../services/core/audit/merkle.js';
import { ed25519Signer, parseNote, parseVerifierKey, signNote } from '../../services/core/audit/note.js';
import { startApi } from '../support/api-harness.js';
import { killLeftovers, runGlasshouse } from '../support/process.js';
import { standalone } from '../support/store-setups.js';

afterAll(killLeftovers);

const adminToken = 'admin-token-for-witnesses-0123456789';
const origin = 'witness-test.example/audit';

async function startWitness(dataDir: string, logKey: string) {
  const process = runGlasshouse(['witness', '--port', '0', '--data-dir', dataDir, '--log-key', logKey]);
  const port = await process.ready(30_000);
  const key = /witness key: (\S+)/.exec(process.output())?.[1];
  expect(key).toBeDefined();
  return { process, url: `http://127.0.0.1:${port}`, key: parseVerifierKey(key!) };
}

describe('witnesses', () => {
  it('cosign every checkpoint the log pushes; the log serves their cosignatures and shows their sizes in /metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-witness-'));
    const logKey = generateKeyPairSync('ed25519').privateKey;
    const vkey = ed25519Signer(origin, logKey).key;
    const witnesses = [
      await startWitness(join(dir, 'w1'), vkey.text),
      await startWitness(join(dir, 'w2'), vkey.text),
    ];
    const deployment = await standalone('witness');
    const api = await startApi({
      bus: await deployment.bus(),
      store: deployment.store,
      adminToken,
      logKey,
      env: {
        GLASSHOUSE_LOG_ORIGIN: origin,
        GLASSHOUSE_WITNESSES: witnesses.map((w) => `${w.url} ${w.key.text}`).join(','),
      },
    });
    try {
      for (const id of ['ada', 'grace', 'edsger'])
        expect(
          (await api.call('PUT', `/v1/sociotechnicians/${id}`, { token: adminToken, body: { name: id } }))
            .status,
        ).toBe(200);
      const cosigned = async () => {
        const checkpoint = parseSignedCheckpoint(
          await (await fetch(`${api.url}/v1/audit/checkpoint`)).text(),
        );
        if (checkpoint.size !== 3 || !verifyLogSignature(checkpoint, vkey)) return 0;
        return witnesses.filter(
          (w) => verifyCosignature(checkpoint.text, checkpoint.signatures, w.key) !== undefined,
        ).length;
      };
      await expect.poll(cosigned, { timeout: 10_000 }).toBe(2);
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      for (const w of witnesses)
        expect(metrics).toMatch(
          new RegExp(`glasshouse_audit_witness_cosigned_size\\{[^}]*witness="${w.url}"[^}]*\\} 3`),
        );

      // The check anyone can run, with a quorum of these witnesses; a witness that did not cosign fails it.
      const verify = runGlasshouse([
        'audit',
        'verify',
        api.url,
        '--log-key',
        vkey.text,
        ...witnesses.flatMap((w) => ['--witness', w.key.text]),
        '--quorum',
        '2',
      ]);
      expect(await verify.exited(), verify.output()).toBe(0);
      expect(JSON.parse(verify.output().split('\n')[0]!)).toMatchObject({ valid: true, witnesses: 2 });
      const stranger = ed25519Cosigner('stranger', generateKeyPairSync('ed25519').privateKey).key.text;
      const evidence = join(dir, 'evidence.json');
      const refused = runGlasshouse([
        'audit',
        'verify',
        api.url,
        '--log-key',
        vkey.text,
        '--witness',
        stranger,
        '--evidence',
        evidence,
      ]);
      expect(await refused.exited(), refused.output()).toBe(1);
      expect(JSON.parse(await readFile(evidence, 'utf8'))).toMatchObject({ check: 'witnesses' });
    } finally {
      await api.stop();
      await deployment.cleanup();
      for (const w of witnesses) w.process.child.kill('SIGTERM');
      await Promise.all(witnesses.map((w) => w.process.exited()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('killed with SIGKILL at any point while persisting and answering, never cosigns two different roots of one size', {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-witness-kill-'));
    const dataDir = join(dir, 'witness');
    const log = ed25519Signer(origin, generateKeyPairSync('ed25519').privateKey);
    const leaves = (variant: string) =>
      Array.from({ length: 40 }, (_, i) => hashLeaf(Buffer.from(`${variant} ${i}`)));
    // Two histories that share nothing: whichever the witness accepts first, it must refuse the other for good.
    const trees = { a: new MerkleTree(leaves('a')), b: new MerkleTree(leaves('b')) };
    const request = (tree: MerkleTree, old: number, size: number) =>
      `old ${old}\n${tree
        .consistencyProof(old, size)
        .map((h) => `${h.toString('base64')}\n`)
        .join('')}\n${signNote(checkpointText({ origin, size, root: tree.root(size) }), [log])}`;
    const post = async (url: string, body: string) => {
      try {
        const response = await fetch(`${url}/add-checkpoint`, { method: 'POST', body });
        return { status: response.status, text: await response.text() };
      } catch {
        return { status: 0, text: '' };
      }
    };
    // Every cosignature ever answered, by size: the invariant is one root per size.
    const cosignedRoots = new Map<number, Set<string>>();
    let witness = await startWitness(dataDir, log.key.text);
    let cosigned = { size: 0 };
    let kills = 0;
    try {
      for (const size of [3, 7, 12, 20, 33]) {
        // Both histories are offered at once, each with a correct proof from its own view of the prefix.
        const bodies = (['a', 'b'] as const).map((name) => ({
          name,
          body: request(trees[name], cosigned.size, size),
        }));
        // SIGKILL as soon as the witness touches its state: before, during or after the rename.
        const watcher = watch(dataDir, () => {
          watcher.close();
          kills += 1;
          witness.process.child.kill('SIGKILL');
        });
        const answers = await Promise.all(bodies.map((b) => post(witness.url, b.body)));
        watcher.close();
        await witness.process.exited();
        for (const [i, answer] of answers.entries()) {
          if (answer.status !== 200) continue;
          const name = bodies[i]!.name;
          const note = parseNote(
            `${signNote(checkpointText({ origin, size, root: trees[name].root(size) }), [log])}${answer.text}`,
          );
          expect(verifyCosignature(note.text, note.signatures, witness.key)).toBeDefined();
          const roots = cosignedRoots.get(size) ?? new Set<string>();
          roots.add(trees[name].root(size).toString('base64'));
          cosignedRoots.set(size, roots);
        }
        // Restarted on the same directory, the witness tells which history it keeps, if any.
        witness = await startWitness(dataDir, log.key.text);
        const probes = await Promise.all(
          (['a', 'b'] as const).map(async (name) => ({
            name,
            answer: await post(witness.url, request(trees[name], size, size)),
          })),
        );
        const kept = probes.filter((p) => p.answer.status === 200).map((p) => p.name);
        expect(kept.length, JSON.stringify(probes)).toBeLessThanOrEqual(1);
        if (kept.length === 1) {
          const name = kept[0]!;
          const other = name === 'a' ? 'b' : 'a';
          expect(probes.find((p) => p.name === other)!.answer.status).toBe(422);
          // A root answered before the kill is the one kept.
          for (const root of cosignedRoots.get(size) ?? [])
            expect(root).toBe(trees[name].root(size).toString('base64'));
          const roots = cosignedRoots.get(size) ?? new Set<string>();
          roots.add(trees[name].root(size).toString('base64'));
          cosignedRoots.set(size, roots);
          cosigned = { size };
        } else {
          // Nothing was persisted: nothing may have been cosigned at this size either.
          expect(cosignedRoots.get(size)).toBeUndefined();
          expect(probes.every((p) => p.answer.status === 409)).toBe(true);
        }
      }
      for (const [size, roots] of cosignedRoots) expect([size, roots.size]).toEqual([size, 1]);
      expect(kills).toBe(5);
    } finally {
      witness.process.child.kill('SIGKILL');
      await witness.process.exited();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
