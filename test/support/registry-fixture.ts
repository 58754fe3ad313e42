import type { Proposal } from '../../schemas/proposals.js';
import {
  type ModuleVersion,
  ModuleVersion as ModuleVersionSchema,
  type PolicyModuleInput,
  type Sociotechnician,
} from '../../schemas/registry.js';
import type { Principal, RegistryView } from '../../services/ports/registry.js';
import { exampleGoal } from './examples.js';

/**
 * A RegistryView over fixed data, for tests of roles that read the registry (gateway, ingest)
 * without running the registry itself. Modules go through the real schema, so defaults apply.
 */
export class FixtureRegistry implements RegistryView {
  private readonly byId = new Map<string, ModuleVersion>();
  private readonly people = new Map<string, Sociotechnician>();
  private readonly secrets = new Map<string, Principal>();
  private readonly listeners = new Set<(moduleId: string | undefined) => void>();
  private readonly proposalMap = new Map<string, Proposal>();

  constructor(
    fixture: {
      modules?: PolicyModuleInput[];
      sociotechnicians?: Sociotechnician[];
      principals?: Array<Principal & { secret: string }>;
    } = {},
  ) {
    for (const module of fixture.modules ?? []) this.putModule(module);
    for (const person of fixture.sociotechnicians ?? []) this.people.set(person.id, person);
    for (const { secret, ...principal } of fixture.principals ?? []) this.secrets.set(secret, principal);
  }

  /** Adds or replaces a module (as a new version) and notifies listeners. */
  putModule(module: PolicyModuleInput): ModuleVersion {
    const version = (this.byId.get(module.id)?.version ?? 0) + 1;
    const stored = ModuleVersionSchema.parse({
      ...module,
      version,
      updatedAt: new Date().toISOString(),
      updatedBy: 'admin:fixture',
      rationale: 'fixture',
    });
    this.byId.set(stored.id, stored);
    for (const listener of this.listeners) listener(stored.id);
    return stored;
  }

  /** Adds or replaces a proposal and notifies listeners with its module. */
  putProposal(proposal: Proposal): void {
    this.proposalMap.set(proposal.id, proposal);
    for (const listener of this.listeners) listener(proposal.moduleId);
  }

  proposal(id: string): Proposal | undefined {
    return this.proposalMap.get(id);
  }
  proposals(): Proposal[] {
    return [...this.proposalMap.values()];
  }
  openProposal(moduleId: string): Proposal | undefined {
    return this.proposals().find(
      (p) => p.moduleId === moduleId && (p.state === 'proposed' || p.state === 'approved'),
    );
  }
  module(id: string): ModuleVersion | undefined {
    return this.byId.get(id);
  }
  modules(): ModuleVersion[] {
    return [...this.byId.values()];
  }
  sociotechnician(id: string): Sociotechnician | undefined {
    return this.people.get(id);
  }
  sociotechnicians(): Sociotechnician[] {
    return [...this.people.values()];
  }
  async authenticate(secret: string): Promise<Principal | undefined> {
    return this.secrets.get(secret);
  }
  onChange(listener: (moduleId: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Two modules in two domains, their owners and an overseer, as most tests need them. */
export function sampleRegistry(): FixtureRegistry {
  return new FixtureRegistry({
    sociotechnicians: [
      { id: 'ada', name: 'Ada Lovelace', title: 'Director of Transit Operations' },
      { id: 'grace', name: 'Grace Hopper', title: 'Housing Programme Lead' },
    ],
    principals: [
      { kind: 'overseer', id: 'oversight-desk', name: 'Oversight Desk', secret: 'overseer-token-0123456789' },
    ],
    modules: [
      {
        id: 'bus-punctuality',
        domain: 'transit',
        title: 'Bus punctuality',
        summary: 'Buses arrive within two minutes of the timetable.',
        owner: 'ada',
        agencies: ['transit-agency'],
        comparisonGroup: 'punctuality-approaches',
        goals: [exampleGoal({ minSamples: 10, hold: '5m' })],
        constraints: [
          { id: 'cost', metric: 'cost_per_trip', op: '<=', bound: 12, window: '24h', aggregation: 'mean' },
        ],
      },
      {
        id: 'permit-speed',
        domain: 'housing',
        title: 'Building permit speed',
        summary: 'Decide building permits quickly.',
        owner: 'grace',
        agencies: ['permits-office'],
        demo: true,
        goals: [
          {
            id: 'days',
            metric: 'decision_days',
            unit: 'days',
            direction: 'decrease',
            target: 30,
            tolerance: 0.1,
            window: '7d',
            aggregation: 'p95',
            minSamples: 5,
          },
        ],
      },
    ],
  });
}
