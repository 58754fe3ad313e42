import { Proposal } from '../../schemas/proposals.js';
import { ModuleVersion } from '../../schemas/registry.js';
import {
  PrincipalEntry,
  PrincipalKindSchema,
  type RegistryRecord,
  SociotechnicianEntry,
} from '../core/registry/records.js';
import type { Store } from '../ports/store.js';
import type { Row } from '../ports/tables.js';
import type { Logger } from '../runtime/logger.js';

/**
 * Reads the registry's current state back from the store as topic records: the latest version of
 * every module and every entity. Rows that no longer parse are logged and skipped.
 */
export async function loadRegistryRecords(store: Store, logger: Logger): Promise<RegistryRecord[]> {
  const [versions, entities] = await Promise.all([
    store.select('module_versions', {
      orderBy: [{ column: 'module_id' }, { column: 'version', direction: 'desc' }],
    }),
    // Other kinds (e.g. webhook subscriptions) share the table but are not registry state.
    store.select('registry_entities', {
      where: [
        { column: 'kind', op: 'in', value: ['sociotechnician', 'proposal', ...PrincipalKindSchema.options] },
      ],
    }),
  ]);
  const records: RegistryRecord[] = [];
  const seen = new Set<string>();
  for (const row of versions) {
    if (seen.has(row.module_id)) continue;
    const parsed = ModuleVersion.safeParse(row.body);
    if (!parsed.success) {
      logger.error(
        { moduleId: row.module_id, version: row.version },
        'stored module version does not parse; skipped',
      );
      continue;
    }
    seen.add(row.module_id);
    records.push({ type: 'module', module: parsed.data });
  }
  for (const row of entities) {
    if (row.kind === 'proposal') {
      const proposal = Proposal.safeParse(row.body);
      if (proposal.success) records.push({ type: 'proposal', proposal: proposal.data });
      else logger.error({ kind: row.kind, id: row.id }, 'stored proposal does not parse; skipped');
      continue;
    }
    const parsed =
      row.kind === 'sociotechnician'
        ? SociotechnicianEntry.safeParse(row.body)
        : PrincipalEntry.safeParse(row.body);
    if (!parsed.success) {
      logger.error({ kind: row.kind, id: row.id }, 'stored registry entity does not parse; skipped');
      continue;
    }
    records.push(
      'sociotechnician' in parsed.data
        ? { type: 'sociotechnician', entry: parsed.data }
        : { type: 'principal', entry: parsed.data as PrincipalEntry },
    );
  }
  return records;
}

/** Writes records to their history tables (idempotent: the same version collapses on read). */
export async function storeRegistryRecords(
  store: Store,
  records: readonly RegistryRecord[],
  atMs: number,
): Promise<void> {
  const modules: Row<'module_versions'>[] = [];
  const entities: Row<'registry_entities'>[] = [];
  for (const record of records) {
    if (record.type === 'module') {
      const module = record.module;
      modules.push({
        module_id: module.id,
        version: module.version,
        updated_ms: Date.parse(module.updatedAt),
        body: module,
      });
    } else if (record.type === 'sociotechnician') {
      const { entry } = record;
      entities.push({
        kind: 'sociotechnician',
        id: entry.sociotechnician.id,
        version: entry.version,
        updated_ms: atMs,
        deleted: false,
        body: entry,
      });
    } else if (record.type === 'proposal') {
      const { proposal } = record;
      entities.push({
        kind: 'proposal',
        id: proposal.id,
        version: proposal.revision,
        updated_ms: atMs,
        deleted: false,
        body: proposal,
      });
    } else if (record.type === 'principal') {
      const { entry } = record;
      const revoked = entry.principal.revokedAt !== undefined;
      entities.push({
        kind: entry.kind,
        id: entry.principal.id,
        version: entry.version,
        updated_ms: atMs,
        deleted: revoked,
        body: entry,
      });
    }
  }
  if (modules.length) await store.insert('module_versions', modules);
  if (entities.length) await store.insert('registry_entities', entities);
}
