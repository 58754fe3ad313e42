import { checkpointText, parseSignedCheckpoint, type SignedCheckpoint } from '../core/audit/checkpoint.js';
import { type NoteSigner, signNote } from '../core/audit/note.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Store } from '../ports/store.js';
import type { Logger } from '../runtime/logger.js';
import type { StoredAuditTree } from './audit-tree.js';

/** How long after a failed attempt (store down) the signer tries again. */
const retryMs = 1_000;

/** The newest stored checkpoint of `origin` (the greatest size; of its rows, the one with the most cosignatures). */
export async function latestCheckpoint(
  store: Store,
  origin: string,
): Promise<{ note: string; checkpoint: SignedCheckpoint } | undefined> {
  const [row] = await store.select('audit_checkpoints', {
    where: [{ column: 'origin', op: '=', value: origin }],
    orderBy: [{ column: 'size', direction: 'desc' }],
    limit: 1,
  });
  if (!row) return;
  return { note: row.note, checkpoint: parseSignedCheckpoint(row.note) };
}

/** What the signer tells the witnesses' pusher after it signs. */
export interface CheckpointListener {
  signed(note: string, checkpoint: SignedCheckpoint): void;
}

/**
 * Signs a checkpoint of the audit log's Merkle tree after each new entry. Only the sequencer that
 * owns the log drives it (takeOver / notify / release), so one process signs at a time.
 *
 * The invariant: it never signs a checkpoint inconsistent with the last one signed, also across
 * restarts. Before each signature it reads the tree from the store and checks that the first
 * `last.size` leaves still have `last.root`, the last checkpoint being read back from the store at
 * takeover. A history rewritten in the store (an old entry changed and the chain recomputed) fails
 * that check: the signer refuses, reports `degraded` and logs why, and the last honest checkpoint
 * stays the one served.
 */
export class CheckpointSigner implements Component {
  readonly name = 'audit-checkpoints';
  private active = false;
  private loaded = false;
  private last: { note: string; checkpoint: SignedCheckpoint } | undefined;
  /** Whether the listener has heard of `last` since this takeover (witnesses learn it after a restart). */
  private announced = false;
  private running: Promise<void> | undefined;
  private again = false;
  private refused: string | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly o: {
      store: Store;
      tree: StoredAuditTree;
      signer: NoteSigner;
      origin: string;
      clock: Clock;
      logger: Logger;
      listener?: CheckpointListener;
    },
  ) {
    this.log = o.logger.child({ component: 'audit-checkpoints' });
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.release();
    await this.running;
  }

  health(): Health {
    return this.refused ? { state: 'degraded', detail: this.refused } : { state: 'ok' };
  }

  /** This process now sequences the log: read the last checkpoint and the tree anew, then sign. */
  takeOver(): void {
    this.active = true;
    this.loaded = false;
    this.announced = false;
    this.o.tree.reset();
    this.notify();
  }

  /** This process no longer sequences the log: sign nothing more. */
  release(): void {
    this.active = false;
    clearTimeout(this.retry);
  }

  /** A new entry is durable: sign a checkpoint that covers it (coalesced with any sync under way). */
  notify(): void {
    if (!this.active) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.sync();
      } catch (err) {
        this.log.warn({ err }, 'signing an audit checkpoint failed; trying again');
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.notify(), retryMs);
        return;
      }
    } while (this.again && this.active);
  }

  private async sync(): Promise<void> {
    const { store, origin } = this.o;
    if (!this.loaded) {
      this.last = await latestCheckpoint(store, origin);
      this.loaded = true;
    }
    const tree = await this.o.tree.current();
    const last = this.last?.checkpoint;
    if (last) {
      const problem =
        tree.size < last.size
          ? `the store holds ${tree.size} audit entries, fewer than the ${last.size} of the checkpoint signed before`
          : !tree.root(last.size).equals(last.root)
            ? `the first ${last.size} stored audit entries no longer hash to the root of the checkpoint signed before: the history was rewritten`
            : undefined;
      if (problem) {
        if (this.refused !== problem)
          this.log.error({ signedSize: last.size, storedSize: tree.size }, `refusing to sign: ${problem}`);
        this.refused = problem;
        return;
      }
      this.refused = undefined;
      if (tree.size === last.size) {
        if (!this.announced && this.last) this.o.listener?.signed(this.last.note, last);
        this.announced = true;
        return;
      }
    }
    if (!this.active) return;
    const size = tree.size;
    const text = checkpointText({ origin, size, root: tree.root(size) });
    const note = signNote(text, [this.o.signer]);
    await store.insert('audit_checkpoints', [
      { origin, size, signed_ms: this.o.clock.now(), cosignatures: 0, note },
    ]);
    this.last = { note, checkpoint: parseSignedCheckpoint(note) };
    this.announced = true;
    this.log.debug({ size }, 'audit checkpoint signed');
    this.o.listener?.signed(note, this.last.checkpoint);
  }
}
