import { toTimestamp } from '../../schemas/common.js';
import {
  approvalCommand,
  approvalHeader,
  type CorrectionState,
  type HeldCorrection,
} from '../../schemas/corrections.js';
import { agencyHeader } from '../../schemas/metric-event.js';
import { signCommand } from '../core/validation/index.js';
import type { AuditTrail } from '../ports/audit.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Principal } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import type { Row } from '../ports/tables.js';
import { Topics } from '../ports/topics.js';
import { GlasshouseError } from '../runtime/errors.js';
import { actorOf } from './auth.js';

const idPattern = /^[a-f0-9]{32}$/;

export interface HeldCorrectionsDeps {
  store: Store;
  bus: Bus;
  audit: AuditTrail;
  clock: Clock;
  /** The key commands are signed with (runtime/command-key.ts), shared with the processors. */
  commandKey: Buffer;
}

/**
 * Late corrections held for approval (the processor holds a correction whose data is older than
 * its module's `correctionWindow`): listing them, and a named admin's decision.
 *
 * A decision is an audit entry first (`correction.approve` or `correction.reject`, through the one
 * sequencer, the rationale public), then the decided row (version 2, which outranks the held row);
 * an approval also re-publishes the correction to `metrics.raw`, keyed by its module and signed
 * (`approvalHeader`), and the processor applies it as any correction. A request that fails after the
 * audit entry can be sent again: the decision is the same, and the processor applies a correction once.
 */
export class HeldCorrections {
  constructor(private readonly deps: HeldCorrectionsDeps) {}

  async list(query: {
    state?: CorrectionState;
    moduleId?: string;
    limit: number;
  }): Promise<HeldCorrection[]> {
    const rows = await this.deps.store.select('held_corrections', {
      where: [
        ...(query.state ? [{ column: 'state', op: '=', value: query.state } as const] : []),
        ...(query.moduleId ? [{ column: 'module_id', op: '=', value: query.moduleId } as const] : []),
      ],
      orderBy: [
        { column: 'held_ms', direction: 'desc' },
        { column: 'id', direction: 'asc' },
      ],
      limit: query.limit,
    });
    return rows.map(heldCorrectionOf);
  }

  async decide(
    principal: Principal,
    id: string,
    decision: 'approved' | 'rejected',
    rationale: string,
  ): Promise<HeldCorrection> {
    if (principal.id === 'bootstrap')
      throw new GlasshouseError(
        'named_admin_required',
        'a held correction is decided by a named admin (POST /v1/admins), not the bootstrap token',
        { status: 403 },
      );
    const row = idPattern.test(id) ? await this.find(id) : undefined;
    if (!row) throw new GlasshouseError('correction_not_found', `no held correction ${id}`, { status: 404 });
    if (row.state !== 'held' && row.state !== decision)
      throw new GlasshouseError('correction_decided', `correction ${id} was already ${row.state}`, {
        status: 409,
        details: { state: row.state, decidedBy: row.decided_by },
      });
    const decided: Row<'held_corrections'> =
      row.state === decision
        ? row
        : {
            ...row,
            state: decision,
            version: 2,
            decided_by: principal.id,
            decided_ms: this.deps.clock.now(),
            rationale,
          };
    if (row.state === 'held') {
      await unavailableOnFailure('audit_unavailable', 'the audit entry could not be written', () =>
        this.deps.audit.append({
          actor: actorOf(principal),
          action: decision === 'approved' ? 'correction.approve' : 'correction.reject',
          subject: `module:${row.module_id}`,
          before: heldCorrectionOf(row),
          after: heldCorrectionOf(decided),
          rationale,
        }),
      );
      await unavailableOnFailure('store_unavailable', 'the decision could not be stored', () =>
        this.deps.store.insert('held_corrections', [decided]),
      );
    }
    if (decision === 'approved') {
      const value = JSON.stringify(row.event);
      await unavailableOnFailure('bus_unavailable', 'the approved correction could not be published', () =>
        this.deps.bus.publish(Topics.metricsRaw, [
          {
            key: row.module_id,
            value,
            headers: {
              [agencyHeader]: row.agency_id,
              [approvalHeader]: signCommand(this.deps.commandKey, approvalCommand, row.module_id, value),
            },
          },
        ]),
      );
    }
    return heldCorrectionOf(decided);
  }

  private async find(id: string): Promise<Row<'held_corrections'> | undefined> {
    const [row] = await unavailableOnFailure(
      'store_unavailable',
      'the correction could not be looked up',
      () => this.deps.store.select('held_corrections', { where: [{ column: 'id', op: '=', value: id }] }),
    );
    return row;
  }
}

async function unavailableOnFailure<T>(code: string, message: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof GlasshouseError && !err.retriable) throw err;
    throw new GlasshouseError(code, `${message}; try again`, { retriable: true, status: 503, cause: err });
  }
}

/** The public shape of a stored held correction. */
export function heldCorrectionOf(row: Row<'held_corrections'>): HeldCorrection {
  const event = (row.event ?? {}) as { value?: unknown; retract?: unknown; note?: unknown };
  const retract = event.retract === true;
  return {
    id: row.id,
    moduleId: row.module_id,
    agency: row.agency_id,
    eventId: row.event_id,
    metric: row.metric,
    supersedes: row.supersedes,
    replaces: row.replaces,
    retract,
    ...(!retract && typeof event.value === 'number' ? { value: event.value } : {}),
    note: typeof event.note === 'string' ? event.note : '',
    targetObservedAt: toTimestamp(row.target_observed_ms),
    heldAt: toTimestamp(row.held_ms),
    state: row.state as CorrectionState,
    ...(row.version > 1
      ? { decidedBy: row.decided_by, decidedAt: toTimestamp(row.decided_ms), rationale: row.rationale }
      : {}),
  };
}
