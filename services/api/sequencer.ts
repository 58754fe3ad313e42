import { z } from 'zod';
import { AuditEntry } from '../../schemas/audit.js';
import { type ChainHead, chainEntry, emptyHead } from '../core/audit/chain.js';
import { decide, goalFactsNeeded } from '../core/registry/decide.js';
import type { ApprovalPolicy } from '../core/registry/proposals.js';
import { RegistryRecord, recordKey } from '../core/registry/records.js';
import { RegistryState } from '../core/registry/state.js';
import type { Bus, Consumption } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Store } from '../ports/store.js';
import { Topics } from '../ports/topics.js';
import type { Logger } from '../runtime/logger.js';
import { type AuditLogRecord, type ChangeOutcome, parseAuditLogRecord } from './audit-log-records.js';
import { goalFacts } from './facts.js';
import { loadRegistryRecords, storeRegistryRecords } from './registry-store.js';

/** The consumer group whose one member (the holder of audit.log's single partition) sequences the log. */
export const sequencerGroup = 'audit-sequencer';

/** How many recent request ids are remembered to recognise a redelivered request. */
const rememberedRequests = 10_000;

/**
 * What one `audit_log` row holds: the public entry, plus what the sequencer needs to finish or
 * re-announce the request after a crash (its id, its answer and the registry records it produced).
 * Only `entry` is ever served.
 */
export const StoredAudit = z.object({
  entry: AuditEntry,
  requestId: z.string(),
  value: z.unknown(),
  records: z.array(RegistryRecord),
});
export type StoredAudit = z.output<typeof StoredAudit>;

type Request = Extract<AuditLogRecord, { type: 'request' }>;
/**
 * The single writer of the audit chain and the registry. Every api replica runs one, all in the
 * consumer group `audit-sequencer` on the one-partition `audit.log` topic, so exactly one of them
 * (the partition's owner) executes requests, one at a time, in log order: seq, prevHash and module
 * versions cannot fork. On assignment it rebuilds its state from the store, where the audit row is
 * written first (the commit point) and the registry rows and records after it; a request redelivered
 * after a crash is recognised by its id and only its effects are re-applied and its result re-announced.
 */
export class AuditSequencer implements Component {
  readonly name = 'audit-sequencer';
  private consumption: Consumption | undefined;
  /** True between assignment and revocation of the partition. */
  private assigned = false;
  /**
   * Present while this member owns the partition and its view matches the store. Cleared after a
   * failed write, whose row may have landed anyway: the next batch takes over again from the store.
   */
  private owned:
    | {
        state: RegistryState;
        head: ChainHead;
        /** `at` of the head entry (epoch ms): entries never go back in time. */
        headAtMs: number;
        last: StoredAudit | undefined;
        done: Set<string>;
      }
    | undefined;
  private readonly log: Logger;

  constructor(
    private readonly options: {
      bus: Bus;
      store: Store;
      clock: Clock;
      logger: Logger;
      onRecords?: (records: RegistryRecord[]) => void;
      /** How module changes are approved (default: direct edits, as with `GLASSHOUSE_APPROVALS=0`). */
      approvals?: ApprovalPolicy;
      /** Signs checkpoints of the log while this member sequences it (the api role's one signer). */
      checkpoints?: { takeOver(): void; release(): void; notify(): void };
    },
  ) {
    this.log = options.logger.child({ component: 'audit-sequencer' });
  }

  async start(): Promise<void> {
    this.consumption = await this.options.bus.consume({
      topic: Topics.auditLog,
      group: sequencerGroup,
      fromBeginning: true,
      onAssign: async () => {
        this.assigned = true;
        await this.takeOver();
      },
      onRevoke: async () => {
        this.assigned = false;
        this.owned = undefined;
        this.options.checkpoints?.release();
      },
      onBatch: async (batch) => {
        if (!this.assigned) throw new Error('audit.log delivered a batch before its partition was assigned');
        if (!this.owned) await this.takeOver();
        for (const incoming of batch.records) {
          const record = parseAuditLogRecord(incoming.value);
          if (record?.type === 'request') await this.handle(record);
          else if (!record)
            this.log.error({ offset: incoming.offset }, 'audit.log record does not parse; skipped');
        }
      },
    });
  }

  async stop(): Promise<void> {
    const consumption = this.consumption;
    this.consumption = undefined;
    this.owned = undefined;
    this.options.checkpoints?.release();
    await consumption?.stop();
  }

  health(): Health {
    if (!this.consumption) return { state: 'error', detail: 'not started' };
    return this.consumption.healthy()
      ? { state: 'ok' }
      : { state: 'error', detail: 'sequencer consumer is not making progress' };
  }

  /** Rebuilds the chain head and registry state from the store and finishes the last request's effects. */
  private async takeOver(): Promise<void> {
    const { store } = this.options;
    const rows = await store.select('audit_log', {
      orderBy: [{ column: 'seq', direction: 'desc' }],
      limit: rememberedRequests,
    });
    const stored = rows
      .map((row) => StoredAudit.safeParse(row.body))
      .flatMap((parsed) => (parsed.success ? [parsed.data] : []));
    const newest = rows[0];
    // The head comes from the row's own columns: an altered body must neither fork nor bless the chain.
    const last = newest && stored[0]?.entry.seq === newest.seq ? stored[0] : undefined;
    const state = new RegistryState();
    for (const record of await loadRegistryRecords(store, this.log)) state.apply(record);
    if (last) await this.finish(state, last);
    const head = newest ? { seq: newest.seq, hash: newest.hash } : emptyHead;
    this.owned = {
      state,
      head,
      headAtMs: newest?.at_ms ?? 0,
      last,
      done: new Set(stored.map((item) => item.requestId)),
    };
    this.log.info({ seq: head.seq }, 'sequencing the audit log');
    this.options.checkpoints?.takeOver();
  }

  /** Applies a committed entry's registry records everywhere (idempotent). */
  private async finish(state: RegistryState, stored: StoredAudit): Promise<void> {
    if (!stored.records.length) return;
    for (const record of stored.records) state.apply(record);
    await storeRegistryRecords(this.options.store, stored.records, Date.parse(stored.entry.at));
    await this.options.bus.publish(
      Topics.registryModules,
      stored.records.map((record) => ({ key: recordKey(record), value: JSON.stringify(record) })),
    );
  }

  private async handle(request: Request): Promise<void> {
    const owned = this.owned;
    if (!owned) throw new Error('audit.log delivered a batch before the sequencer took over');
    if (owned.done.has(request.requestId)) {
      // A redelivery: the entry is committed. Only the newest may lack its effects or its answer.
      if (owned.last?.requestId === request.requestId) {
        await this.finish(owned.state, owned.last);
        await this.announce(request.requestId, {
          ok: true,
          entry: owned.last.entry,
          value: owned.last.value,
          records: owned.last.records,
        });
      }
      return;
    }
    const now = this.options.clock.now();
    if (now > request.expiresAt) {
      await this.announce(request.requestId, {
        ok: false,
        error: {
          code: 'audit_unavailable',
          message: 'the request expired before the sequencer reached it; nothing was changed',
          status: 503,
        },
      });
      return;
    }
    // The entry's time comes from the request, not the clock, so executing it again (after a failed
    // write whose row landed anyway) makes the same entry.
    const atMs = Math.max(request.requestedAt ?? now, owned.headAtMs);
    const factsOf = goalFactsNeeded(owned.state, request.command);
    const facts = factsOf ? await goalFacts(this.options.store, factsOf, atMs) : undefined;
    const effect = decide(owned.state, request.command, {
      actor: request.actor,
      atMs,
      ...(facts ? { goalFacts: facts } : {}),
      ...(this.options.approvals ? { approvals: this.options.approvals } : {}),
    });
    if (effect.kind === 'refused') {
      const { code, message, details } = effect;
      await this.announce(request.requestId, {
        ok: false,
        error: { code, message, ...(details === undefined ? {} : { details }) },
      });
      return;
    }
    if (effect.kind === 'unchanged') {
      // Nothing changed (e.g. a retried PUT): no entry, the current value as the answer.
      await this.announce(request.requestId, { ok: true, entry: null, value: effect.value, records: [] });
      return;
    }
    const entry = chainEntry(owned.head, effect.draft);
    const stored: StoredAudit = {
      entry,
      requestId: request.requestId,
      value: effect.value,
      records: effect.records,
    };
    try {
      // The commit point: once this row is durable the change has happened.
      await this.options.store.insert('audit_log', [
        {
          seq: entry.seq,
          at_ms: Date.parse(entry.at),
          actor: entry.actor,
          action: entry.action,
          subject: entry.subject,
          hash: entry.hash,
          body: stored,
        },
      ]);
      owned.head = { seq: entry.seq, hash: entry.hash };
      owned.headAtMs = atMs;
      owned.last = stored;
      owned.done.add(request.requestId);
      if (owned.done.size > rememberedRequests) owned.done.delete(owned.done.values().next().value as string);
      this.options.checkpoints?.notify();
      await this.finish(owned.state, stored);
      await this.announce(request.requestId, {
        ok: true,
        entry,
        value: effect.value,
        records: effect.records,
      });
    } catch (err) {
      // A write that failed may still have landed (e.g. a timeout after the store committed): the
      // redelivered batch first takes over from the store, where `done` recognises this request if
      // its row is there, instead of writing another entry at the same seq.
      this.owned = undefined;
      throw err;
    }
  }

  private async announce(requestId: string, outcome: ChangeOutcome): Promise<void> {
    const record: AuditLogRecord = { type: 'result', requestId, outcome };
    await this.options.bus.publish(Topics.auditLog, [{ key: 'audit', value: JSON.stringify(record) }]);
  }
}
