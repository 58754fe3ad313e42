import { Counter, Gauge, type Registry } from 'prom-client';
import {
  parseSignedCheckpoint,
  type SignedCheckpoint,
  verifyCosignature,
  withSignatureLines,
} from '../core/audit/checkpoint.js';
import type { NoteVerifierKey } from '../core/audit/note.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Store } from '../ports/store.js';
import type { Logger } from '../runtime/logger.js';
import type { StoredAuditTree } from './audit-tree.js';
import type { CheckpointListener } from './checkpoints.js';

/** Longest wait between attempts at an unreachable witness. */
const maxBackoffMs = 30_000;
/** One attempt's deadline. */
const requestTimeoutMs = 10_000;

interface Witness {
  url: string;
  key: NoteVerifierKey;
  /** The size it last cosigned, as far as this process knows (0 until it says otherwise). */
  size: number;
  pushing: boolean;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Pushes every new checkpoint to the witnesses of GLASSHOUSE_WITNESSES (C2SP tlog-witness
 * add-checkpoint, with the consistency proof from the size each last cosigned) and adds each
 * cosignature it gets back to the stored checkpoint, so GET /v1/audit/checkpoint serves them all.
 * A witness that answers 409 names the size it has: the push is retried from there. A refusal (403,
 * 422) is logged and counted: it means the witness saw a history this log no longer extends.
 */
export class WitnessPusher implements Component, CheckpointListener {
  readonly name = 'audit-witnesses';
  private readonly witnesses: Witness[];
  private latest: { note: string; checkpoint: SignedCheckpoint } | undefined;
  /** Cosignatures are merged into the stored row one at a time. */
  private merging: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly cosignedSize: Gauge<'witness'> | undefined;
  private readonly refusals: Counter<'witness' | 'status'> | undefined;

  constructor(
    private readonly o: {
      witnesses: Array<{ url: string; key: NoteVerifierKey }>;
      store: Store;
      tree: StoredAuditTree;
      logger: Logger;
      metrics?: Registry;
      fetchImpl?: typeof fetch;
    },
  ) {
    this.log = o.logger.child({ component: 'audit-witnesses' });
    this.witnesses = o.witnesses.map((w) => ({
      ...w,
      size: 0,
      pushing: false,
      failures: 0,
      timer: undefined,
    }));
    if (o.metrics && this.witnesses.length) {
      this.cosignedSize = new Gauge({
        name: 'glasshouse_audit_witness_cosigned_size',
        help: 'The audit log size each witness last cosigned',
        labelNames: ['witness'],
        registers: [o.metrics],
      });
      this.refusals = new Counter({
        name: 'glasshouse_audit_witness_refusals_total',
        help: 'Checkpoints a witness refused, by witness and HTTP status',
        labelNames: ['witness', 'status'],
        registers: [o.metrics],
      });
    }
  }

  async start(): Promise<void> {
    this.stopped = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.witnesses) clearTimeout(w.timer);
    await this.merging;
  }

  health(): Health {
    const failing = this.witnesses.filter((w) => w.failures > 0).map((w) => w.url);
    return failing.length
      ? { state: 'degraded', detail: `witnesses not cosigning: ${failing.join(', ')}` }
      : { state: 'ok' };
  }

  signed(note: string, checkpoint: SignedCheckpoint): void {
    this.latest = { note, checkpoint };
    for (const w of this.witnesses) this.schedule(w, 0);
  }

  private schedule(w: Witness, delayMs: number): void {
    if (this.stopped || w.pushing) return;
    clearTimeout(w.timer);
    w.timer = setTimeout(() => void this.push(w), delayMs);
  }

  private async push(w: Witness): Promise<void> {
    const latest = this.latest;
    if (!latest || this.stopped || w.pushing) return;
    w.pushing = true;
    let retryMs: number | undefined;
    try {
      retryMs = await this.attempt(w, latest);
    } catch (err) {
      w.failures += 1;
      retryMs = Math.min(maxBackoffMs, 500 * 2 ** Math.min(w.failures, 6));
      this.log.warn({ witness: w.url, err: (err as Error).message }, 'witness unreachable; trying again');
    } finally {
      w.pushing = false;
    }
    if (retryMs !== undefined) this.schedule(w, retryMs);
    else if (this.latest !== latest) this.schedule(w, 0);
  }

  /** One add-checkpoint; resolves with a delay to try again after, or undefined when done. */
  private async attempt(
    w: Witness,
    latest: { note: string; checkpoint: SignedCheckpoint },
  ): Promise<number | undefined> {
    const { checkpoint } = latest;
    if (w.size > checkpoint.size) {
      this.log.error(
        { witness: w.url, witnessSize: w.size, size: checkpoint.size },
        'the witness cosigned a larger tree than this log has',
      );
      w.failures += 1;
      return maxBackoffMs;
    }
    const tree = await this.o.tree.current();
    const proof = tree.consistencyProof(w.size, checkpoint.size).map((h) => `${h.toString('base64')}\n`);
    // The log's own note, without cosignatures: the witness verifies the log's signature only.
    const body = `old ${w.size}\n${proof.join('')}\n${latest.note}`;
    const response = await (this.o.fetchImpl ?? fetch)(`${w.url}/add-checkpoint`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    if (response.status === 409) {
      const size = /^(\d{1,16})\n?$/.exec(text)?.[1];
      if (size === undefined || Number(size) === w.size)
        throw new Error(`answered 409 with "${text.slice(0, 40)}"`);
      w.size = Number(size);
      return 0;
    }
    if (response.status !== 200) {
      w.failures += 1;
      this.refusals?.inc({ witness: w.url, status: String(response.status) });
      this.log.error(
        { witness: w.url, status: response.status, answer: text.slice(0, 300), size: checkpoint.size },
        'the witness refused the checkpoint',
      );
      return maxBackoffMs;
    }
    const lines = text.split('\n').filter(Boolean);
    const parsed = parseSignedCheckpoint(withSignatureLines(latest.note, lines));
    if (verifyCosignature(parsed.text, parsed.signatures, w.key) === undefined)
      throw new Error('answered 200 without a valid cosignature by its key');
    w.size = checkpoint.size;
    w.failures = 0;
    this.cosignedSize?.set({ witness: w.url }, checkpoint.size);
    await this.merge(checkpoint, lines);
    return;
  }

  /** Adds cosignature lines to the stored checkpoint of that size (the row with more cosignatures wins). */
  private merge(checkpoint: SignedCheckpoint, lines: string[]): Promise<void> {
    const turn = this.merging.then(async () => {
      const [row] = await this.o.store.select('audit_checkpoints', {
        where: [
          { column: 'origin', op: '=', value: checkpoint.origin },
          { column: 'size', op: '=', value: checkpoint.size },
        ],
        limit: 1,
      });
      if (!row) return;
      const note = withSignatureLines(row.note, lines);
      if (note === row.note) return;
      await this.o.store.insert('audit_checkpoints', [
        { ...row, note, cosignatures: parseSignedCheckpoint(note).signatures.length - 1 },
      ]);
    });
    this.merging = turn.catch((err) => this.log.warn({ err }, 'storing a cosignature failed'));
    return turn;
  }
}
