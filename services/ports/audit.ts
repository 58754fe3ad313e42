import type { AuditEntry } from '../../schemas/audit.js';
import type { ChangeRequest } from '../core/registry/changes.js';
import type { RegistryRecord } from '../core/registry/records.js';
import { GlasshouseError } from '../runtime/errors.js';

/** What a writer supplies for one audit entry; the trail assigns `seq`, `at`, `prevHash` and `hash`. */
export interface AuditRecord {
  /** Who acted, e.g. `admin:alice` or `overseer:oversight-desk`. */
  actor: string;
  /** What happened, e.g. `alert.acknowledge`, `module.put`. */
  action: string;
  /** What it happened to, e.g. `alert:<alertId>`, `module:<id>`. */
  subject: string;
  before: unknown;
  after: unknown;
  rationale: string | null;
  flags?: string[];
}

/** The append-only, hash-chained audit log as writers see it. */
export interface AuditTrail {
  /** Appends one entry and resolves with it once it is durable. */
  append(record: AuditRecord): Promise<AuditEntry>;
}

/** What an executed change request produced: its entry (null when nothing changed), the answer and the registry records. */
export interface AppliedChange {
  entry: AuditEntry | null;
  value: unknown;
  records: RegistryRecord[];
}

/** Registry changes and audit entries as the api role makes them: executed one at a time by the one sequencer. */
export interface ChangeRequests {
  /**
   * Executes one request and resolves with what it produced. Rejects with `ChangeRefused` when the
   * registry's state forbids it, and with a retriable 503 error when it was not executed.
   */
  submit(actor: string, request: ChangeRequest): Promise<AppliedChange>;
}

/** The sequencer refused a change request; `code` says why (the route picks the HTTP status). */
export class ChangeRefused extends GlasshouseError {
  constructor(
    /** A `RefusalCode` (core/registry/decide.ts). */
    override readonly code: string,
    message: string,
    details?: unknown,
  ) {
    super(code, message, { details, status: 422 });
  }
}
