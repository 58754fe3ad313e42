import type { AuditEntry } from '../../schemas/audit.js';

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
