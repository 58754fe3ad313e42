import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { AuditEntry, type AuditVerification, genesisHash } from '../../../schemas/audit.js';

/** An entry before it is hashed: everything but `hash`. */
export type UnhashedEntry = Omit<AuditEntry, 'hash'>;

/** The chain's tip: the last entry's `seq` and `hash` (seq 0 and the genesis hash when empty). */
export interface ChainHead {
  seq: number;
  hash: string;
}

// The package is CommonJS with an ESM-style `export default` declaration: at runtime the default import is
// the function itself, while NodeNext typing sees `{ default }`. Accept either.
const canonicalize = ((canonicalizeModule as unknown as { default?: unknown }).default ??
  canonicalizeModule) as unknown as (input: unknown) => string | undefined;

export const emptyHead: ChainHead = { seq: 0, hash: genesisHash };

/**
 * The hash of an entry: SHA-256 (lowercase hex) of the RFC 8785 (JCS) canonical JSON of the entry
 * without its `hash` field. Keys are sorted by UTF-16 code units, no whitespace, numbers in their
 * shortest ECMAScript form; absent optional fields (e.g. `flags`) are omitted, not null.
 */
export function entryHash(entry: UnhashedEntry | AuditEntry): string {
  const { hash: _ignored, ...rest } = entry as AuditEntry;
  return canonicalHash(rest);
}

/** SHA-256 (lowercase hex) of a JSON value's RFC 8785 canonical form (also a proposal's `contentHash`). */
export function canonicalHash(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value is not serializable as JSON');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Builds the next entry of the chain after `head`. `draft` holds everything but the chain fields. */
export function chainEntry(head: ChainHead, draft: Omit<UnhashedEntry, 'seq' | 'prevHash'>): AuditEntry {
  const unhashed: UnhashedEntry = { ...draft, seq: head.seq + 1, prevHash: head.hash };
  if (unhashed.flags !== undefined && unhashed.flags.length === 0) delete unhashed.flags;
  return { ...unhashed, hash: entryHash(unhashed) };
}

/**
 * Checks a log incrementally, one entry at a time in order, without trusting any stored hash:
 * seq must follow 1, 2, 3…, each `prevHash` must equal the previous entry's recomputed hash, and each
 * `hash` must equal the recomputed hash. Stops at the first broken entry.
 */
export class ChainVerifier {
  private head: ChainHead = emptyHead;
  private broken: { brokenAt: number; reason: string } | undefined;

  /** Feeds the next entry (any JSON value; shape is checked too). Returns false once the chain is broken. */
  push(value: unknown): boolean {
    if (this.broken) return false;
    const expected = this.head.seq + 1;
    const parsed = AuditEntry.safeParse(value);
    if (!parsed.success) {
      const seq =
        typeof (value as { seq?: unknown })?.seq === 'number' ? (value as { seq: number }).seq : expected;
      const issue = parsed.error.issues[0];
      return this.fail(
        seq,
        `entry is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
      );
    }
    const entry = parsed.data;
    if (entry.seq !== expected) {
      return this.fail(
        expected,
        entry.seq > expected
          ? `entry ${expected} is missing (found ${entry.seq})`
          : `seq ${entry.seq} is out of order (expected ${expected})`,
      );
    }
    if (entry.prevHash !== this.head.hash)
      return this.fail(entry.seq, 'prevHash does not match the previous entry');
    const hash = entryHash(entry);
    if (hash !== entry.hash) return this.fail(entry.seq, 'hash does not match the entry content');
    this.head = { seq: entry.seq, hash };
    return true;
  }

  /** Marks the chain broken at `seq` for a reason found outside the entry (e.g. a storage mismatch). */
  fail(seq: number, reason: string): false {
    this.broken ??= { brokenAt: seq, reason };
    return false;
  }

  /** The verdict over everything pushed so far. `length` counts the entries that verified. */
  result(): AuditVerification {
    if (this.broken) return { valid: false, length: this.head.seq, ...this.broken };
    return { valid: true, length: this.head.seq, head: this.head.hash };
  }
}

/** Verifies a whole log held in memory. */
export function verifyChain(entries: Iterable<unknown>): AuditVerification {
  const verifier = new ChainVerifier();
  for (const entry of entries) if (!verifier.push(entry)) break;
  return verifier.result();
}
