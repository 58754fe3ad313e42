import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emptyRoot,
  entryLeafHash,
  hashChildren,
  hashLeaf,
  MerkleTree,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../services/core/audit/merkle.js';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

// The reference data of transparency-dev/merkle (proof/verify_test.go), the RFC 6962 test tree.
const leafData = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hex);
const roots = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(hex);
// {leaf (1-based), size, proof}
const inclusionVectors: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
// {size1, size2, proof}
const consistencyVectors: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

const reference = new MerkleTree(leafData.map(hashLeaf));

function flipBit(proof: Buffer[], i: number): Buffer[] {
  return proof.map((p, j) => (j === i ? Buffer.from(p.map((b, k) => (k === 0 ? b ^ 16 : b))) : p));
}

describe('audit Merkle tree (RFC 6962 / 9162)', () => {
  it('hashes leaves and nodes with the 0x00 and 0x01 prefixes, and the empty tree as SHA-256 of nothing', () => {
    expect(emptyRoot.toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(new MerkleTree().root().equals(emptyRoot)).toBe(true);
    const data = Buffer.from('entry');
    expect(
      hashLeaf(data).equals(
        createHash('sha256')
          .update(Buffer.concat([Buffer.of(0), data]))
          .digest(),
      ),
    ).toBe(true);
    const [a, b] = [hashLeaf(Buffer.from('a')), hashLeaf(Buffer.from('b'))];
    expect(
      hashChildren(a, b).equals(
        createHash('sha256')
          .update(Buffer.concat([Buffer.of(1), a, b]))
          .digest(),
      ),
    ).toBe(true);
    const entryHash = 'ab'.repeat(32);
    expect(entryLeafHash(entryHash).equals(hashLeaf(Buffer.from(entryHash, 'hex')))).toBe(true);
  });

  it('computes the published roots of the reference tree for every size 1..8', () => {
    for (let size = 1; size <= 8; size++)
      expect(reference.root(size).toString('hex')).toBe(roots[size - 1]!.toString('hex'));
  });

  it('builds and verifies the published inclusion proofs, and rejects their corruptions', () => {
    for (const [leaf, size, proofHex] of inclusionVectors) {
      const proof = proofHex.map(hex);
      const index = leaf - 1;
      expect(reference.inclusionProof(index, size).map((p) => p.toString('hex'))).toEqual(proofHex);
      const leafHash = hashLeaf(leafData[index]!);
      const root = roots[size - 1]!;
      expect(rootFromInclusionProof(index, size, leafHash, proof)?.equals(root)).toBe(true);
      expect(verifyInclusion(index, size, leafHash, proof, root)).toBe(true);
      const wrong: Array<[number, number, Buffer, Buffer[], Buffer]> = [
        [index - 1, size, leafHash, proof, root],
        [index + 1, size, leafHash, proof, root],
        [index ^ 2, size, leafHash, proof, root],
        [index, size * 2, leafHash, proof, root],
        [index, Math.floor(size / 2), leafHash, proof, root],
        [index, size, Buffer.from('WrongLeaf'), proof, root],
        [index, size, leafHash, proof, emptyRoot],
        [index, size, leafHash, [...proof, root], root],
        [index, size, leafHash, [root, ...proof], root],
        ...proof.map((_, i): [number, number, Buffer, Buffer[], Buffer] => [
          index,
          size,
          leafHash,
          flipBit(proof, i),
          root,
        ]),
        ...(proof.length
          ? [[index, size, leafHash, proof.slice(0, -1), root] as [number, number, Buffer, Buffer[], Buffer]]
          : []),
      ];
      for (const [i, n, l, p, r] of wrong) expect(verifyInclusion(i, n, l, p, r)).toBe(false);
    }
  });

  it('builds and verifies the published consistency proofs, and rejects their corruptions', () => {
    for (const [size1, size2, proofHex] of consistencyVectors) {
      const proof = proofHex.map(hex);
      expect(reference.consistencyProof(size1, size2).map((p) => p.toString('hex'))).toEqual(proofHex);
      const [root1, root2] = [roots[size1 - 1]!, roots[size2 - 1]!];
      expect(verifyConsistency(size1, size2, proof, root1, root2)).toBe(true);
      if (!proof.length) continue;
      const wrong: Array<[number, number, Buffer[], Buffer, Buffer]> = [
        [size1 - 1, size2, proof, root1, root2],
        [size1 + 1, size2, proof, root1, root2],
        [size1 ^ 2, size2, proof, root1, root2],
        [size1, size2 * 2, proof, root1, root2],
        [size1, Math.floor(size2 / 2), proof, root1, root2],
        [size1, size2, proof, Buffer.from('WrongRoot'), root2],
        [size1, size2, proof, root1, Buffer.from('WrongRoot')],
        [size1, size2, proof, root2, root1],
        [size1, size2, [], root1, root2],
        [size1, size2, [...proof, root1], root1, root2],
        [size1, size2, [root2, ...proof], root1, root2],
        [size1, size2, [proof[0]!, ...proof], root1, root2],
        [size1, size2, proof.slice(0, -1), root1, root2],
        ...proof.map((_, i): [number, number, Buffer[], Buffer, Buffer] => [
          size1,
          size2,
          flipBit(proof, i),
          root1,
          root2,
        ]),
      ];
      for (const [a, b, p, r1, r2] of wrong) expect(verifyConsistency(a, b, p, r1, r2)).toBe(false);
    }
  });

  it('handles the edge sizes as the reference verifier does', () => {
    const [r1, r2] = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    expect(verifyConsistency(0, 0, [], r1, r1)).toBe(true);
    expect(verifyConsistency(0, 1, [], r1, r2)).toBe(true);
    expect(verifyConsistency(1, 1, [], r2, r2)).toBe(true);
    expect(verifyConsistency(0, 0, [], r1, r2)).toBe(false);
    expect(verifyConsistency(1, 1, [], r1, r2)).toBe(false);
    expect(verifyConsistency(1, 0, [], r1, r2)).toBe(false);
    expect(verifyConsistency(2, 1, [], r1, r2)).toBe(false);
    expect(verifyConsistency(1, 2, [], r1, r2)).toBe(false);
    expect(verifyConsistency(0, 1, [emptyRoot], emptyRoot, emptyRoot)).toBe(false);
    expect(verifyConsistency(1, 1, [emptyRoot], emptyRoot, emptyRoot)).toBe(false);
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const)
      expect(verifyInclusion(index, size, r1, [], r1)).toBe(false);
    expect(() => reference.inclusionProof(8, 8)).toThrow(RangeError);
    expect(() => reference.consistencyProof(3, 9)).toThrow(RangeError);
  });

  it('verifies every inclusion and consistency proof of every tree of 1 to 300 leaves, built leaf by leaf', () => {
    const leaves = Array.from({ length: 300 }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`)));
    const tree = new MerkleTree();
    const rootAt: Buffer[] = [tree.root()];
    for (const leaf of leaves) {
      tree.append(leaf);
      rootAt.push(tree.root());
    }
    // The cached tree agrees with the plain recursion of the RFC at every size.
    const plain = (from: number, to: number): Buffer => {
      if (to - from === 1) return leaves[from]!;
      let k = 1;
      while (k * 2 < to - from) k *= 2;
      return hashChildren(plain(from, from + k), plain(from + k, to));
    };
    for (let n = 1; n <= 300; n++) expect(rootAt[n]!.equals(plain(0, n))).toBe(true);
    let checked = 0;
    for (let n = 1; n <= 300; n++) {
      for (let i = 0; i < n; i++) {
        if (!verifyInclusion(i, n, leaves[i]!, tree.inclusionProof(i, n), rootAt[n]!))
          throw new Error(`inclusion ${i} in ${n}`);
        checked++;
      }
      for (let m = 0; m <= n; m++) {
        if (!verifyConsistency(m, n, tree.consistencyProof(m, n), rootAt[m]!, rootAt[n]!))
          throw new Error(`consistency ${m} → ${n}`);
        checked++;
      }
    }
    expect(checked).toBe(2 * ((300 * 301) / 2) + 300);
  }, 60_000); // 90,000 proofs: about a second on a quiet machine, several on a busy one

  it('fails any proof in which one hash is altered, and any altered leaf or root', () => {
    const leaves = Array.from({ length: 300 }, (_, i) => hashLeaf(Buffer.from(`entry ${i}`)));
    const tree = new MerkleTree(leaves);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 300 })
          .chain((n) =>
            fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: n - 1 })),
          ),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        ([n, i, m], pick, bit) => {
          const flip = (h: Buffer, byte: number): Buffer => {
            const copy = Buffer.from(h);
            copy[byte % 32]! ^= 1 << (bit % 8);
            return copy;
          };
          const root = tree.root(n);
          const inclusion = tree.inclusionProof(i, n);
          if (inclusion.length) {
            const at = pick % inclusion.length;
            const altered = inclusion.map((h, j) => (j === at ? flip(h, bit) : h));
            expect(verifyInclusion(i, n, leaves[i]!, altered, root)).toBe(false);
          }
          expect(verifyInclusion(i, n, flip(leaves[i]!, pick), inclusion, root)).toBe(false);
          expect(verifyInclusion(i, n, leaves[i]!, inclusion, flip(root, pick))).toBe(false);
          if (m >= n) return;
          const consistency = tree.consistencyProof(m, n);
          const at = pick % consistency.length;
          const altered = consistency.map((h, j) => (j === at ? flip(h, bit) : h));
          expect(verifyConsistency(m, n, altered, tree.root(m), root)).toBe(false);
          expect(verifyConsistency(m, n, consistency, flip(tree.root(m), pick), root)).toBe(false);
          expect(verifyConsistency(m, n, consistency, tree.root(m), flip(root, pick))).toBe(false);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
