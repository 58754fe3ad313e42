import { z } from 'zod';
import { Proposal } from '../../../schemas/proposals.js';
import { ModuleVersion, Principal, Sociotechnician } from '../../../schemas/registry.js';

export const PrincipalKindSchema = z.enum(['admin', 'agency', 'overseer']);

/** A credential holder as the registry keeps it: the public profile plus the salted hash of its secret. */
export const PrincipalEntry = z.strictObject({
  kind: PrincipalKindSchema,
  version: z.number().int().min(1),
  principal: Principal,
  /** `scrypt$N$r$p$salt$hash` (base64url); never leaves the registry topic and the store. */
  secretHash: z.string().min(1),
  /**
   * `hmac-sha256$<key id>$<tag>`: a keyed HMAC of the secret, checked before scrypt so a flood of
   * wrong secrets costs one HMAC each. Absent in entries issued before it existed.
   */
  secretCheck: z.string().min(1).optional(),
});
export type PrincipalEntry = z.infer<typeof PrincipalEntry>;

export const SociotechnicianEntry = z.strictObject({
  version: z.number().int().min(1),
  updatedAt: z.string(),
  sociotechnician: Sociotechnician,
});
export type SociotechnicianEntry = z.infer<typeof SociotechnicianEntry>;

/**
 * One record of the compacted registry topic. The key is `module:<id>`, `sociotechnician:<id>`,
 * `<principal kind>:<id>`, `proposal:<id>`, or `marker` (a no-op a reader publishes to learn when it has caught up).
 */
export const RegistryRecord = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('module'), module: ModuleVersion }),
  z.strictObject({ type: z.literal('sociotechnician'), entry: SociotechnicianEntry }),
  z.strictObject({ type: z.literal('principal'), entry: PrincipalEntry }),
  z.strictObject({ type: z.literal('proposal'), proposal: Proposal }),
  z.strictObject({ type: z.literal('marker'), nonce: z.string() }),
]);
export type RegistryRecord = z.output<typeof RegistryRecord>;

/** The compaction key of a record: the latest record per key is the current state of that entity. */
export function recordKey(record: RegistryRecord): string {
  switch (record.type) {
    case 'module':
      return `module:${record.module.id}`;
    case 'sociotechnician':
      return `sociotechnician:${record.entry.sociotechnician.id}`;
    case 'principal':
      return `${record.entry.kind}:${record.entry.principal.id}`;
    case 'proposal':
      return `proposal:${record.proposal.id}`;
    case 'marker':
      return 'marker';
  }
}
