import type { Proposal } from '../../../schemas/proposals.js';
import type { ModuleVersion, Sociotechnician } from '../../../schemas/registry.js';
import type { PrincipalEntry, RegistryRecord, SociotechnicianEntry } from './records.js';

/** What applying one record changed. */
export type Applied =
  | { changed: false }
  | { changed: true; type: 'module'; moduleId: string }
  | { changed: true; type: 'sociotechnician'; id: string }
  | { changed: true; type: 'principal'; key: string; entry: PrincipalEntry }
  | { changed: true; type: 'proposal'; moduleId: string };

/**
 * The registry's current state, built by applying records in any order: a record older than (or as
 * old as) what is known for its entity is ignored, so replays and duplicate deliveries are harmless.
 */
export class RegistryState {
  private readonly moduleMap = new Map<string, ModuleVersion>();
  private readonly people = new Map<string, SociotechnicianEntry>();
  private readonly principalMap = new Map<string, PrincipalEntry>();
  private readonly proposalMap = new Map<string, Proposal>();

  /** Applies one record; returns what changed. */
  apply(record: RegistryRecord): Applied {
    switch (record.type) {
      case 'module': {
        const known = this.moduleMap.get(record.module.id);
        if (known && known.version >= record.module.version) return { changed: false };
        this.moduleMap.set(record.module.id, record.module);
        return { changed: true, type: 'module', moduleId: record.module.id };
      }
      case 'sociotechnician': {
        const id = record.entry.sociotechnician.id;
        const known = this.people.get(id);
        if (known && known.version >= record.entry.version) return { changed: false };
        this.people.set(id, record.entry);
        return { changed: true, type: 'sociotechnician', id };
      }
      case 'principal': {
        const key = `${record.entry.kind}:${record.entry.principal.id}`;
        const known = this.principalMap.get(key);
        if (known && known.version >= record.entry.version) return { changed: false };
        this.principalMap.set(key, record.entry);
        return { changed: true, type: 'principal', key, entry: record.entry };
      }
      case 'proposal': {
        const known = this.proposalMap.get(record.proposal.id);
        if (known && known.revision >= record.proposal.revision) return { changed: false };
        this.proposalMap.set(record.proposal.id, record.proposal);
        return { changed: true, type: 'proposal', moduleId: record.proposal.moduleId };
      }
      case 'marker':
        return { changed: false };
    }
  }

  proposal(id: string): Proposal | undefined {
    return this.proposalMap.get(id);
  }

  /** Every proposal, newest first (by `proposedAt`, then id). */
  proposals(): Proposal[] {
    return [...this.proposalMap.values()].sort((a, b) =>
      a.proposedAt !== b.proposedAt ? (a.proposedAt < b.proposedAt ? 1 : -1) : a.id < b.id ? 1 : -1,
    );
  }

  /** The module's proposal that is still open (proposed or approved), if any: there is at most one. */
  openProposal(moduleId: string): Proposal | undefined {
    for (const proposal of this.proposalMap.values())
      if (proposal.moduleId === moduleId && (proposal.state === 'proposed' || proposal.state === 'approved'))
        return proposal;
    return undefined;
  }

  module(id: string): ModuleVersion | undefined {
    return this.moduleMap.get(id);
  }

  /** Latest versions, sorted by id. */
  modules(): ModuleVersion[] {
    return [...this.moduleMap.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  sociotechnicianEntry(id: string): SociotechnicianEntry | undefined {
    return this.people.get(id);
  }

  sociotechnicians(): Sociotechnician[] {
    return [...this.people.values()]
      .map((entry) => entry.sociotechnician)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  principal(kind: PrincipalEntry['kind'], id: string): PrincipalEntry | undefined {
    return this.principalMap.get(`${kind}:${id}`);
  }

  principals(kind: PrincipalEntry['kind']): PrincipalEntry[] {
    return [...this.principalMap.values()].filter((entry) => entry.kind === kind);
  }
}
