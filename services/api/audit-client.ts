import { randomUUID } from 'node:crypto';
import type { AuditEntry } from '../../schemas/audit.js';
import { issueDetails } from '../../schemas/common.js';
import { ChangeRequest } from '../core/registry/changes.js';
import {
  type AppliedChange,
  type AuditRecord,
  type AuditTrail,
  ChangeRefused,
  type ChangeRequests,
} from '../ports/audit.js';
import type { Bus, Consumption } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import { Topics } from '../ports/topics.js';
import { GlasshouseError, UnavailableError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { type AuditLogRecord, type ChangeOutcome, parseAuditLogRecord } from './audit-log-records.js';

export interface AuditClientOptions {
  bus: Bus;
  clock: Clock;
  logger: Logger;
  /** How long a request may wait for the sequencer before it expires unexecuted (default 15 s). */
  requestTtlMs?: number;
  /** Extra wait beyond the expiry, covering clock skew between processes (default 5 s). */
  skewMs?: number;
}

/**
 * Submits registry changes and audit entries to the one sequencer through the `audit.log` topic and
 * waits for its result. Runs in every process; only the api role runs the sequencer.
 */
export class AuditClient implements AuditTrail, ChangeRequests, Component {
  readonly name = 'audit-client';
  private readonly pending = new Map<string, (outcome: ChangeOutcome) => void>();
  private consumption: Consumption | undefined;
  private readonly log: Logger;

  constructor(private readonly options: AuditClientOptions) {
    this.log = options.logger.child({ component: 'audit-client' });
  }

  async start(): Promise<void> {
    // Results are read from the end: a result only matters to a request made after this point.
    this.consumption = await this.options.bus.consume({
      topic: Topics.auditLog,
      group: null,
      fromBeginning: false,
      onBatch: async (batch) => {
        for (const incoming of batch.records) {
          const record = parseAuditLogRecord(incoming.value);
          if (record?.type !== 'result') continue;
          const resolve = this.pending.get(record.requestId);
          if (!resolve) continue;
          this.pending.delete(record.requestId);
          resolve(record.outcome);
        }
      },
    });
  }

  async stop(): Promise<void> {
    const consumption = this.consumption;
    this.consumption = undefined;
    await consumption?.stop();
    for (const [requestId, resolve] of this.pending) {
      resolve({
        ok: false,
        error: { code: 'shutting_down', message: 'the process is shutting down', status: 503 },
      });
      this.pending.delete(requestId);
    }
  }

  health(): Health {
    if (!this.consumption) return { state: 'error', detail: 'not started' };
    return this.consumption.healthy()
      ? { state: 'ok' }
      : { state: 'error', detail: 'audit result reader is not making progress' };
  }

  /**
   * Sends one command and resolves with its outcome. Throws UnavailableError (503) when the bus
   * refuses the request or no result arrives before the request expires; an expired request is never
   * executed later, so a 503 means "not done".
   */
  async submit(actor: string, command: ChangeRequest): Promise<AppliedChange> {
    if (!actor)
      throw new GlasshouseError('invalid_audit_record', 'an audit entry needs an actor', { status: 400 });
    if (!this.consumption) throw new UnavailableError('audit_unavailable', 'the audit trail is not started');
    // A request the sequencer cannot parse would be skipped there and only time out here: refuse it now.
    const checked = ChangeRequest.safeParse(command);
    if (!checked.success) {
      throw new GlasshouseError('invalid_audit_record', 'the audit request does not match its contract', {
        status: 400,
        details: issueDetails(checked.error),
      });
    }
    const ttl = this.options.requestTtlMs ?? 15_000;
    const requestId = randomUUID();
    const requestedAt = this.options.clock.now();
    const request: AuditLogRecord = {
      type: 'request',
      requestId,
      actor,
      expiresAt: requestedAt + ttl,
      requestedAt,
      command,
    } as AuditLogRecord;
    let timer: NodeJS.Timeout | undefined;
    const outcome = new Promise<ChangeOutcome>((resolve) => {
      this.pending.set(requestId, resolve);
      timer = setTimeout(
        () => {
          this.pending.delete(requestId);
          resolve({
            ok: false,
            error: {
              code: 'audit_unavailable',
              message: 'the audit sequencer did not answer in time; the change was not made',
              status: 503,
            },
          });
        },
        ttl + (this.options.skewMs ?? 5_000),
      );
    });
    try {
      await this.options.bus.publish(Topics.auditLog, [{ key: 'audit', value: JSON.stringify(request) }]);
    } catch (err) {
      clearTimeout(timer);
      this.pending.delete(requestId);
      throw new UnavailableError('audit_unavailable', 'the audit log did not accept the request', err);
    }
    const result = await outcome;
    clearTimeout(timer);
    if (!result.ok) {
      const { code, message, status, details } = result.error;
      this.log.debug({ requestId, code }, 'audit request refused');
      if (status === undefined) throw new ChangeRefused(code, message, details);
      throw new GlasshouseError(code, message, { status, details, retriable: status === 503 });
    }
    return result;
  }

  /** Appends one entry (the AuditTrail port) and resolves with it once it is durable. */
  async append(record: AuditRecord): Promise<AuditEntry> {
    const { actor, ...rest } = record;
    const result = await this.submit(actor, {
      op: 'audit.append',
      ...rest,
      before: rest.before ?? null,
      after: rest.after ?? null,
    });
    if (!result.entry) throw new GlasshouseError('internal', 'the sequencer appended no entry');
    return result.entry;
  }
}

/** Records an oversight acknowledgement of an alert: action `alert.acknowledge`, the note as rationale. */
export function acknowledgeAlert(
  trail: AuditTrail,
  ack: { actor: string; alertId: string; before: unknown; after: unknown; note: string },
): Promise<AuditEntry> {
  return trail.append({
    actor: ack.actor,
    action: 'alert.acknowledge',
    subject: `alert:${ack.alertId}`,
    before: ack.before,
    after: ack.after,
    rationale: ack.note,
  });
}
