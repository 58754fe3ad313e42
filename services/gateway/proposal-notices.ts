import type { Proposal } from '../../schemas/proposals.js';
import type { RegistryView } from '../ports/registry.js';
import type { Hub } from './hub.js';

/**
 * Public notice on the live channels: every step of a module's proposals (proposed, approved, then
 * applied, or rejected, withdrawn, expired) goes to `module:<id>` and `domain:<name>` as a `proposal`
 * message, never conflated. Each revision is published once per process, however often the registry
 * reports a change of the module.
 */
export class ProposalNotices {
  /** The newest revision published per proposal id. Proposals are made by people: few, kept all. */
  private readonly published = new Map<string, number>();

  constructor(
    private readonly registry: RegistryView,
    private readonly hub: Hub,
  ) {
    // What exists at start is not news: only later steps are published.
    for (const proposal of registry.proposals()) this.published.set(proposal.id, proposal.revision);
  }

  /** Subscribes to the registry; returns the unsubscribe. */
  start(): () => void {
    return this.registry.onChange((moduleId) => {
      if (moduleId !== undefined) this.moduleChanged(moduleId);
    });
  }

  private moduleChanged(moduleId: string): void {
    for (const proposal of this.registry.proposals()) {
      if (proposal.moduleId !== moduleId) continue;
      if ((this.published.get(proposal.id) ?? 0) >= proposal.revision) continue;
      this.published.set(proposal.id, proposal.revision);
      this.publish(proposal);
    }
  }

  private publish(proposal: Proposal): void {
    this.hub.publish(`module:${proposal.moduleId}`, 'proposal', proposal);
    const domain = this.registry.module(proposal.moduleId)?.domain ?? proposal.module.domain;
    this.hub.publish(`domain:${domain}`, 'proposal', proposal);
  }
}
