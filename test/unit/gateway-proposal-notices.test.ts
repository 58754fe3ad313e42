import { describe, expect, it } from 'vitest';
import { ServerMessage } from '../../schemas/live.js';
import { Proposal } from '../../schemas/proposals.js';
import { Hub, type Outbound, type Subscriber } from '../../services/gateway/hub.js';
import { ProposalNotices } from '../../services/gateway/proposal-notices.js';
import { exampleGoal } from '../support/examples.js';
import { sampleRegistry } from '../support/registry-fixture.js';

class Recorder implements Subscriber {
  readonly got: Outbound[] = [];
  deliver(message: Outbound): void {
    this.got.push(message);
  }
  messages() {
    return this.got.map((m) => ServerMessage.parse(JSON.parse(m.bytes.toString())));
  }
}

function proposal(revision: number, state: Proposal['state']): Proposal {
  return Proposal.parse({
    id: 'p0123456789abcdef',
    kind: 'module',
    moduleId: 'bus-punctuality',
    state,
    contentHash: 'a'.repeat(64),
    module: {
      id: 'bus-punctuality',
      domain: 'transit',
      title: 'Bus punctuality',
      owner: 'ada',
      goals: [exampleGoal({ target: 85 })],
    },
    rationale: 'winter timetable',
    baseVersion: 1,
    changes: [{ path: 'goals.0.target', before: 90, after: 85 }],
    proposedBy: 'admin:carol',
    proposedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-08T00:00:00.000Z',
    requiredApprovals: 2,
    approvals: [],
    flags: [{ code: 'target_eased', ruleId: 'ontime', message: 'goal ontime: target 90 → 85' }],
    noticePeriod: '72h',
    effectiveAt: null,
    revision,
  });
}

describe('ProposalNotices (live public notice of proposals)', () => {
  it('publishes each new revision once on the module and domain channels, not what existed at start', () => {
    const registry = sampleRegistry();
    registry.putProposal(proposal(1, 'proposed'));
    const hub = new Hub('e1', 10);
    const onModule = new Recorder();
    const onDomain = new Recorder();
    hub.subscribe('module:bus-punctuality', onModule);
    hub.subscribe('domain:transit', onDomain);
    new ProposalNotices(registry, hub).start();
    registry.putModule({ ...registry.module('bus-punctuality')!, title: 'Buses' });
    expect(onDomain.got).toHaveLength(0);
    registry.putProposal(proposal(2, 'approved'));
    registry.putModule({ ...registry.module('bus-punctuality')!, title: 'Buses on time' });
    expect(onDomain.messages()).toMatchObject([
      { type: 'proposal', channel: 'domain:transit', data: { state: 'approved', revision: 2 } },
    ]);
    expect(onModule.messages()).toMatchObject([{ type: 'proposal', data: { state: 'approved' } }]);
  });
});
