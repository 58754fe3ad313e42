import { createHash } from 'node:crypto';

/**
 * The Merkle tree of RFC 6962 section 2.1 (unchanged in RFC 9162 section 2.1) over the audit log:
 * leaf hash = SHA-256(0x00 ‖ leaf data), node = SHA-256(0x01 ‖ left ‖ right), a tree of n > 1
 * leaves split at the largest power of two smaller than n, the empty tree = SHA-256 of nothing.
 * Sizes are plain numbers (exact up to 2^53); every halving is arithmetic, never a 32-bit shift.
 *
 * Proofs are built by MerkleTree from the leaf hashes it holds in memory (see its memory note).
 */

/** SHA-256 of the empty string: the root of the empty tree. */
export const emptyRoot: Buffer = createHash('sha256').digest();

/** The hash of one leaf: SHA-256(0x00 ‖ data). */
export function hashLeaf(data: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.of(0)).update(data).digest();
}

/** The hash of an interior node: SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(Buffer.of(1)).update(left).update(right).digest();
}

/** An audit entry's leaf hash: the leaf data is its 32-byte `hash`, hex-decoded. */
export function entryLeafHash(entryHashHex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(entryHashHex))
    throw new TypeError('an entry hash is 64 lowercase hex characters');
  return hashLeaf(Buffer.from(entryHashHex, 'hex'));
}

/** The largest power of two strictly smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/**
 * The tree of an append-only list of leaf hashes. It keeps the root of every complete, aligned
 * subtree (2^h leaves starting at a multiple of 2^h): such a subtree never changes as the log grows,
 * and every subtree the RFC's recursion visits on its left is one of them, so a root or a proof of
 * any size costs O(log² n) hashing. Memory: about two hashes per leaf (64 bytes plus Buffer overhead).
 */
export class MerkleTree {
  /** levels[h][i]: the root of leaves [i·2^h, (i+1)·2^h). levels[0] are the leaf hashes. */
  private readonly levels: Buffer[][] = [[]];

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const leaf of leafHashes) this.append(leaf);
  }

  /** How many leaves the tree holds. */
  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends one leaf hash (32 bytes). */
  append(leafHash: Uint8Array): void {
    if (leafHash.length !== 32) throw new TypeError('a leaf hash is 32 bytes');
    let node: Buffer = Buffer.from(leafHash);
    for (let h = 0; ; h++) {
      if (!this.levels[h]) this.levels[h] = [];
      const level = this.levels[h]!;
      level.push(node);
      if (level.length % 2 === 1) return;
      node = hashChildren(level[level.length - 2]!, node);
    }
  }

  /** The leaf hash at `index` (0-based). */
  leaf(index: number): Buffer {
    const leaf = this.levels[0]![index];
    if (!leaf) throw new RangeError(`no leaf ${index} in a tree of size ${this.size}`);
    return leaf;
  }

  /** The root of the tree of the first `size` leaves (all of them by default). */
  root(size: number = this.size): Buffer {
    this.checkSize(size);
    return this.subtreeRoot(0, size);
  }

  /** The inclusion proof of leaf `index` (0-based) in the tree of the first `size` leaves (RFC 9162 2.1.3.1). */
  inclusionProof(index: number, size: number): Buffer[] {
    this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`);
    return this.path(index, 0, size);
  }

  /** The consistency proof between the trees of the first `first` and `second` leaves (RFC 9162 2.1.4.1). */
  consistencyProof(first: number, second: number): Buffer[] {
    this.checkSize(second);
    if (!Number.isSafeInteger(first) || first < 0 || first > second)
      throw new RangeError(`size ${first} is not between 0 and ${second}`);
    if (first === 0 || first === second) return [];
    return this.subproof(first, 0, second, true);
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size)
      throw new RangeError(`tree size ${size} is not between 0 and ${this.size}`);
  }

  /** MTH(D[from, to)). */
  private subtreeRoot(from: number, to: number): Buffer {
    const n = to - from;
    if (n === 0) return emptyRoot;
    if (isPowerOfTwo(n) && from % n === 0) {
      const h = Math.log2(n);
      const cached = this.levels[h]?.[from / n];
      if (cached) return cached;
    }
    const k = split(n);
    return hashChildren(this.subtreeRoot(from, from + k), this.subtreeRoot(from + k, to));
  }

  /** PATH(m, D[from, to)). */
  private path(m: number, from: number, to: number): Buffer[] {
    const n = to - from;
    if (n <= 1) return [];
    const k = split(n);
    if (m < k) return [...this.path(m, from, from + k), this.subtreeRoot(from + k, to)];
    return [...this.path(m - k, from + k, to), this.subtreeRoot(from, from + k)];
  }

  /** SUBPROOF(m, D[from, to), b). */
  private subproof(m: number, from: number, to: number, complete: boolean): Buffer[] {
    const n = to - from;
    if (m === n) return complete ? [] : [this.subtreeRoot(from, to)];
    const k = split(n);
    if (m <= k) return [...this.subproof(m, from, from + k, complete), this.subtreeRoot(from + k, to)];
    return [...this.subproof(m - k, from + k, to, false), this.subtreeRoot(from, from + k)];
  }
}

const sameHash = (a: Uint8Array, b: Uint8Array): boolean => a.length === 32 && Buffer.from(a).equals(b);

/**
 * The root that an inclusion proof leads to from `leafHash` at `index` in a tree of `size`
 * (RFC 9162 2.1.3.2), or undefined when the proof cannot belong to such a tree (wrong length).
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return;
  if (leafHash.length !== 32 || proof.some((p) => p.length !== 32)) return;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) return;
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : undefined;
}

/** True when `proof` shows the leaf `leafHash` at `index` in the tree of `size` with `root`. */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const computed = rootFromInclusionProof(index, size, leafHash, proof);
  return computed !== undefined && sameHash(root, computed);
}

/**
 * True when `proof` shows that the tree of `first` leaves with `firstRoot` is a prefix of the tree
 * of `second` leaves with `secondRoot` (RFC 9162 2.1.4.2).
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second)
    return false;
  if (proof.some((p) => p.length !== 32)) return false;
  if (first === second) return proof.length === 0 && sameHash(firstRoot, secondRoot);
  // Every tree extends the empty one.
  if (first === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  // A complete subtree of `first` leaves is its own root: the proof leaves it out.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && sameHash(firstRoot, fr) && sameHash(secondRoot, sr);
}

function isPowerOfTwo(x: number): boolean {
  let v = x;
  while (v > 1 && v % 2 === 0) v /= 2;
  return v === 1;
}
