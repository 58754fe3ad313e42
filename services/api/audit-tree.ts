import { entryLeafHash, MerkleTree } from '../core/audit/merkle.js';
import type { Store } from '../ports/store.js';
import { GlasshouseError } from '../runtime/errors.js';

/** Rows read per store query while catching up. */
const pageSize = 1_000;

/**
 * The Merkle tree of the stored audit log, kept in memory and extended from the store on demand
 * (only the rows after the last one read). Leaf n is entry seq n's `hash` column; the tree stops
 * before a missing seq. Memory: about 200 bytes per entry (two 32-byte hashes in Buffers).
 */
export class StoredAuditTree {
  private tree = new MerkleTree();
  private catchingUp: Promise<MerkleTree> | undefined;

  constructor(private readonly store: Store) {}

  /** The tree of every stored entry, read since the last call. Concurrent calls share one read. */
  current(): Promise<MerkleTree> {
    this.catchingUp ??= this.catchUp().finally(() => {
      this.catchingUp = undefined;
    });
    return this.catchingUp;
  }

  /** Forgets what was read: the next call reads the whole log again (after a takeover). */
  reset(): void {
    this.tree = new MerkleTree();
  }

  private async catchUp(): Promise<MerkleTree> {
    const tree = this.tree;
    for (;;) {
      const rows = await this.store.select('audit_log', {
        where: [{ column: 'seq', op: '>', value: tree.size }],
        orderBy: [{ column: 'seq', direction: 'asc' }],
        limit: pageSize,
      });
      for (const row of rows) {
        if (row.seq !== tree.size + 1) return tree;
        try {
          tree.append(entryLeafHash(row.hash));
        } catch {
          throw new GlasshouseError('audit_corrupt', `the stored audit entry ${row.seq} has no valid hash`);
        }
      }
      if (rows.length < pageSize) return tree;
    }
  }
}
