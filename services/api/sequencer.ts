import { z } from 'zod';
import { AuditEntry } from '../../schemas/audit.js';
import { toTimestamp } from '../../schemas/common.js';
import { type ChainHead, chainEntry, emptyHead } from '../core/audit/chain.js';
import { auditFlags, changeFlags, sensitiveChanges } from '../core/registry/flags.js';
import { moduleContent, nextModuleVersion } from '../core/registry/modules.js';
import { RegistryRecord, recordKey } from '../core/registry/records.js';
import { RegistryState } from '../core/registry/state.js';
import type { Bus, Consumption } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Store } from '../ports/store.js';
import { Topics } from '../ports/topics.js';
import type { Logger } from '../runtime/logger.js';
import {
  type AuditLogRecord,
  type CommandOutcome,
  type ParsedCommand,
  parseAuditLogRecord,
} from './commands.js';
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
type Effect =
  | {
      unchanged: false;
      draft: Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;
      value: unknown;
      records: RegistryRecord[];
    }
  | { unchanged: true; value: unknown };

class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

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
    let effect: Effect | undefined;
    try {
      effect = await this.execute(owned.state, request.actor, request.command, atMs);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      await this.announce(request.requestId, {
        ok: false,
        error: {
          code: err.code,
          message: err.message,
          status: err.status,
          ...(err.details === undefined ? {} : { details: err.details }),
        },
      });
      return;
    }
    if (effect.unchanged) {
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

  private async announce(requestId: string, outcome: CommandOutcome): Promise<void> {
    const record: AuditLogRecord = { type: 'result', requestId, outcome };
    await this.options.bus.publish(Topics.auditLog, [{ key: 'audit', value: JSON.stringify(record) }]);
  }

  /** Decides what a command does against the current state. Throws Refusal for a request that cannot be done. */
  private async execute(
    state: RegistryState,
    actor: string,
    command: ParsedCommand,
    atMs: number,
  ): Promise<Effect> {
    const at = toTimestamp(atMs);
    const none = (value: unknown): Effect => ({ unchanged: true, value });
    switch (command.op) {
      case 'module.put': {
        const put = command.module;
        if (!state.sociotechnicianEntry(put.owner)) {
          throw new Refusal(
            'unknown_owner',
            `owner "${put.owner}" is not a registered sociotechnician`,
            400,
            [
              {
                path: 'owner',
                message: `no sociotechnician "${put.owner}"; create it with PUT /v1/sociotechnicians/${put.owner}`,
              },
            ],
          );
        }
        const before = state.module(put.id);
        const { rationale: _rationale, ...content } = put;
        const changes = sensitiveChanges(before, content);
        const flags =
          before && (changes.goals.length || changes.ownerChanged)
            ? changeFlags(changes, await goalFacts(this.options.store, before, atMs))
            : [];
        const version = nextModuleVersion(before, put, { at, actor, flags });
        if (!version) return none(before);
        return {
          unchanged: false,
          draft: {
            at,
            actor,
            action: 'module.put',
            subject: `module:${put.id}`,
            before: before ? { version: before.version, ...moduleContent(before) } : null,
            after: { version: version.version, ...moduleContent(version) },
            rationale: put.rationale,
            ...(flags.length ? { flags: auditFlags(flags) } : {}),
          },
          value: version,
          records: [{ type: 'module', module: version }],
        };
      }
      case 'sociotechnician.put': {
        const next = command.sociotechnician;
        const known = state.sociotechnicianEntry(next.id);
        if (known && JSON.stringify(known.sociotechnician) === JSON.stringify(next))
          return none(known.sociotechnician);
        const entry = { version: (known?.version ?? 0) + 1, updatedAt: at, sociotechnician: next };
        return {
          unchanged: false,
          draft: {
            at,
            actor,
            action: 'sociotechnician.put',
            subject: `sociotechnician:${next.id}`,
            before: known?.sociotechnician ?? null,
            after: next,
            rationale: null,
          },
          value: next,
          records: [{ type: 'sociotechnician', entry }],
        };
      }
      case 'principal.create': {
        const known = state.principal(command.kind, command.id);
        if (known && known.principal.revokedAt === undefined) {
          throw new Refusal(
            'already_exists',
            `${command.kind} "${command.id}" already exists; revoke it first to issue a new credential`,
            409,
          );
        }
        const principal = { id: command.id, name: command.name, createdAt: at };
        const entry = {
          kind: command.kind,
          version: (known?.version ?? 0) + 1,
          principal,
          secretHash: command.secretHash,
          ...(command.secretCheck === undefined ? {} : { secretCheck: command.secretCheck }),
        };
        return {
          unchanged: false,
          draft: {
            at,
            actor,
            action: `${command.kind}.create`,
            subject: `${command.kind}:${command.id}`,
            before: known?.principal ?? null,
            after: principal,
            rationale: null,
          },
          value: principal,
          records: [{ type: 'principal', entry }],
        };
      }
      case 'principal.revoke': {
        const known = state.principal(command.kind, command.id);
        if (!known) throw new Refusal('not_found', `no ${command.kind} "${command.id}"`, 404);
        if (known.principal.revokedAt !== undefined) return none(known.principal);
        const principal = { ...known.principal, revokedAt: at };
        return {
          unchanged: false,
          draft: {
            at,
            actor,
            action: `${command.kind}.revoke`,
            subject: `${command.kind}:${command.id}`,
            before: known.principal,
            after: principal,
            rationale: null,
          },
          value: principal,
          records: [{ type: 'principal', entry: { ...known, version: known.version + 1, principal } }],
        };
      }
      case 'principal.check': {
        const known = state.principal(command.kind, command.id);
        if (
          !known ||
          known.version !== command.version ||
          known.principal.revokedAt !== undefined ||
          known.secretCheck !== undefined
        )
          return none(null);
        return {
          unchanged: false,
          draft: {
            at,
            actor,
            action: `${command.kind}.precheck`,
            subject: `${command.kind}:${command.id}`,
            before: null,
            after: null,
            rationale:
              'the credential, issued before pre-checks existed, passed its first check since: its pre-check is kept',
          },
          value: null,
          records: [
            {
              type: 'principal',
              entry: { ...known, version: known.version + 1, secretCheck: command.secretCheck },
            },
          ],
        };
      }
      case 'audit.append': {
        const { op: _op, ...record } = command;
        const draft = { at, actor, ...record, before: record.before ?? null, after: record.after ?? null };
        return { unchanged: false, draft, value: null, records: [] };
      }
    }
  }
}
