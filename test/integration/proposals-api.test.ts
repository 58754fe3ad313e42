import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalizeModule from 'canonicalize';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { PerformanceUpdateMs } from '../../schemas/performance.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { Topics } from '../../services/ports/topics.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { testCommandKey } from '../support/command-key.js';
import { collect, metricRecord, values, waitUntil } from '../support/processor-harness.js';
import { type Deployment, distributed, standalone, testLogger } from '../support/store-setups.js';

const canonicalize = ((canonicalizeModule as unknown as { default?: unknown }).default ??
  canonicalizeModule) as unknown as (input: unknown) => string;

const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
const hour = 3_600_000;
const base = Math.floor(Date.now() / 1000) * 1000;

/** The api's and the processor's clock: the test moves it. */
const clock = { t: base, now: () => clock.t };

/** The module under change: waiting times (decrease), target 30 min, 10% tolerance, over 1 minute. */
const moduleBody = (over: Record<string, unknown> = {}, goal: Record<string, unknown> = {}) => ({
  id: 'er-wait',
  domain: 'health',
  title: 'Emergency room waiting time',
  owner: 'ada',
  agencies: ['clinic-agency'],
  goals: [
    {
      id: 'wait',
      metric: 'wait_minutes',
      unit: 'min',
      direction: 'decrease',
      target: 30,
      tolerance: 0.1,
      window: '1m',
      aggregation: 'mean',
      minSamples: 1,
      hold: '0s',
      ...goal,
    },
  ],
  rationale: 'as announced in the budget',
  ...over,
});

interface Rig {
  deployment: Deployment;
  apis: [RunningApi, RunningApi];
  processor: Processor;
  /** Tokens of named admins by id. */
  tokens: Record<string, string>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    await rig.processor.stop();
    for (const api of rig.apis) await api.stop();
    await rig.deployment.cleanup();
  }
});

/** Two api replicas and a processor on one bus and store, every clock the test's, notice period 1 h, proposals kept 2 h. */
async function rig(make: () => Promise<Deployment>): Promise<Rig> {
  clock.t = base;
  const deployment = await make();
  const env = { GLASSHOUSE_NOTICE_PERIOD: '1h', GLASSHOUSE_PROPOSAL_TTL: '2h' };
  const apiA = await startApi({
    bus: await deployment.bus(),
    store: deployment.store,
    adminToken,
    env,
    clock,
  });
  const apiB = await startApi({
    bus: await deployment.bus(),
    store: deployment.store,
    adminToken,
    env,
    clock,
  });
  const processor = new Processor({
    bus: await deployment.bus(),
    store: deployment.store,
    registry: apiA.registry,
    clock,
    logger: testLogger,
    metrics: new ProcessorMetrics(new Registry()),
    commandKey: testCommandKey,
    tickMs: 100,
  });
  await processor.start();
  const r: Rig = { deployment, apis: [apiA, apiB], processor, tokens: {} };
  rigs.push(r);
  const ok = async (answer: Promise<{ status: number; body: unknown }>, status = 200) => {
    const { status: got, body } = await answer;
    expect(got, JSON.stringify(body)).toBe(status);
    return body as Record<string, unknown>;
  };
  for (const id of ['ada', 'bob'])
    await ok(apiA.call('PUT', `/v1/sociotechnicians/${id}`, { token: adminToken, body: { name: id } }));
  for (const id of ['carol', 'dan', 'erin', 'ada']) {
    const created = await ok(
      apiA.call('POST', '/v1/admins', { token: adminToken, body: { id, name: id } }),
      201,
    );
    r.tokens[id] = created.token as string;
  }
  await ok(apiA.call('PUT', '/v1/modules/er-wait', { token: adminToken, body: moduleBody() }));
  return r;
}

/** The proposal's state as replica `api` sees it, once it is `state`. */
function proposalIn(api: RunningApi, id: string, state: string) {
  return waitUntil(`proposal ${id} ${state}`, async () => {
    const answer = await api.call('GET', `/v1/proposals/${id}`);
    return answer.body?.state === state ? answer.body : undefined;
  });
}

function proposalSuite(name: string, make: () => Promise<Deployment>) {
  describe(`proposals (${name})`, () => {
    it('a flagged change: refused direct edit, self and owner approvals refused, stale hash refused, two approvers, public notice, in force exactly at effectiveAt, audited', async () => {
      const { apis, tokens, deployment } = await rig(make);
      const [a, b] = apis;
      const updates = await collect(await deployment.bus(), Topics.performanceUpdates);

      const direct = await a.call('PUT', '/v1/modules/er-wait', {
        token: adminToken,
        body: moduleBody({}, { target: 40 }),
      });
      expect(direct.status).toBe(409);
      expect(direct.body.error).toMatchObject({
        code: 'approval_required',
        details: { address: '/v1/modules/er-wait/proposals' },
      });
      const wording = await a.call('PUT', '/v1/modules/er-wait', {
        token: adminToken,
        body: moduleBody({ summary: 'Time from arrival to first assessment.' }),
      });
      expect(wording).toMatchObject({ status: 200, body: { version: 2, changesApproved: true } });
      expect(
        (await a.call('POST', '/v1/modules/er-wait/proposals', { token: adminToken, body: moduleBody() }))
          .body.error.code,
      ).toBe('named_admin_required');

      // Raising a "decrease" target makes it easier: flagged, two approvers.
      const next = moduleBody({ summary: 'Time from arrival to first assessment.' }, { target: 40 });
      const proposed = await a.call('POST', '/v1/modules/er-wait/proposals', {
        token: tokens.carol,
        body: next,
      });
      expect(proposed.status).toBe(201);
      const proposal = proposed.body;
      const { rationale: _rationale, ...content } = next;
      expect(proposal).toMatchObject({
        moduleId: 'er-wait',
        state: 'proposed',
        proposedBy: 'admin:carol',
        proposedAt: new Date(base).toISOString(),
        expiresAt: new Date(base + 2 * hour).toISOString(),
        requiredApprovals: 2,
        approvals: [],
        flags: [{ code: 'target_eased', ruleId: 'wait' }],
        effectiveAt: null,
        module: content,
      });
      // Anyone can recompute what an approval binds to from the proposal as published (defaults filled in).
      expect(proposal.contentHash).toBe(
        createHash('sha256').update(canonicalize(proposal.module)).digest('hex'),
      );
      const pid = proposal.id as string;
      const approve = (api: RunningApi, who: string, contentHash = proposal.contentHash) =>
        api.call('POST', `/v1/proposals/${pid}/approvals`, {
          token: tokens[who],
          body: { contentHash, note: `${who} checked it` },
        });
      expect((await approve(a, 'carol')).body.error.code).toBe('self_approval');
      expect((await approve(b, 'carol')).status).toBe(403);
      expect((await approve(a, 'ada')).body.error.code).toBe('self_approval');
      const stale = await approve(a, 'dan', 'a'.repeat(64));
      expect(stale.status).toBe(409);
      expect(stale.body.error.code).toBe('stale_content');
      expect((await approve(a, 'dan')).body).toMatchObject({
        state: 'proposed',
        approvals: [{ by: 'admin:dan' }],
      });
      expect((await approve(b, 'dan')).body.error.code).toBe('already_approved');
      const approved = (await approve(b, 'erin')).body;
      const effectiveAt = base + hour;
      expect(approved).toMatchObject({ state: 'approved', effectiveAt: new Date(effectiveAt).toISOString() });

      // Public before it takes effect, on both replicas.
      for (const api of apis) {
        const module = await waitUntil('the pending change on the module', async () => {
          const answer = await api.call('GET', '/v1/modules/er-wait');
          return answer.body.pendingChanges?.[0]?.state === 'approved' ? answer.body : undefined;
        });
        expect(module).toMatchObject({ version: 2, goals: [{ target: 30 }] });
        expect(module.pendingChanges[0]).toMatchObject({
          id: pid,
          changes: [{ path: 'goals.0.target', before: 30, after: 40 }],
        });
      }
      expect(
        (await a.call('GET', '/v1/proposals?state=approved')).body.items.map((p: { id: string }) => p.id),
      ).toEqual([pid]);

      // Both replicas' proposal clocks race to record it once the clock passes effectiveAt: applied once.
      clock.t = effectiveAt + 10_000;
      const applied = await proposalIn(b, pid, 'applied');
      expect(applied).toMatchObject({ appliedVersion: 3 });
      await waitUntil('the processor sees version 3', () => a.registry.module('er-wait')?.version === 3);

      // Recorded already, yet each period is judged by the goal in force then: 35 min is off track
      // against 30 (+10%), on track against 40.
      const publish = async (eventId: string, observedAt: number) =>
        (await deployment.bus()).publish(Topics.metricsRaw, [
          metricRecord('er-wait', eventId, 35, observedAt),
        ]);
      const judged = (asOf: number) =>
        waitUntil(`the update as of ${new Date(asOf).toISOString()}`, () =>
          values<PerformanceUpdateMs>(updates.records).find((u) => u.asOfMs === asOf),
        );
      await publish('just-before', effectiveAt - 1);
      expect(await judged(effectiveAt - 1)).toMatchObject({
        target: 30,
        status: 'off_track',
        moduleVersion: 2,
      });
      await publish('just-after', effectiveAt + 1);
      expect(await judged(effectiveAt + 1)).toMatchObject({
        target: 40,
        status: 'on_track',
        moduleVersion: 3,
      });
      const module = (await a.call('GET', '/v1/modules/er-wait')).body;
      expect(module).toMatchObject({
        version: 3,
        proposalId: pid,
        effectiveAt: new Date(effectiveAt).toISOString(),
        goals: [{ target: 40 }],
        pendingChanges: [],
      });
      expect(
        (
          await a.call('POST', `/v1/proposals/${pid}/rejections`, {
            token: tokens.dan,
            body: { note: 'late' },
          })
        ).status,
      ).toBe(409);

      // The owner's scorecard lists the flagged change to their module.
      expect((await b.call('GET', '/v1/sociotechnicians/ada')).body.flaggedChanges).toMatchObject([
        {
          moduleId: 'er-wait',
          proposalId: pid,
          version: 3,
          state: 'applied',
          by: 'admin:carol',
          flags: [{ code: 'target_eased' }],
        },
      ]);
      const audit = (await a.call('GET', '/v1/audit?limit=100')).body.items as Array<{
        action: string;
        actor: string;
        after: Record<string, unknown>;
      }>;
      const steps = audit.filter((entry) => String(entry.action).startsWith('proposal.'));
      expect(steps.map((entry) => [entry.action, entry.actor])).toEqual([
        ['proposal.proposed', 'admin:carol'],
        ['proposal.approved', 'admin:dan'],
        ['proposal.approved', 'admin:erin'],
        ['proposal.applied', 'system:glasshouse'],
      ]);
      for (const entry of steps)
        expect(entry.after).toMatchObject({ proposalId: pid, contentHash: proposal.contentHash });
      expect(steps[3]!.after).toMatchObject({ version: 3, approvedBy: ['admin:dan', 'admin:erin'] });
      for (const api of apis)
        expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({
          valid: true,
          length: audit.length,
        });
      await updates.stop();
    });

    it('concurrent approvals on two replicas approve once; expiry, withdrawal by the proposer only, rejection in the notice period', async () => {
      const { apis, tokens } = await rig(make);
      const [a, b] = apis;
      const first = (
        await a.call('POST', '/v1/modules/er-wait/proposals', {
          token: tokens.carol,
          body: moduleBody({}, { target: 25 }),
        })
      ).body;
      expect(first).toMatchObject({ requiredApprovals: 1, flags: [] });
      const answers = await Promise.all([
        a.call('POST', `/v1/proposals/${first.id}/approvals`, {
          token: tokens.dan,
          body: { contentHash: first.contentHash },
        }),
        b.call('POST', `/v1/proposals/${first.id}/approvals`, {
          token: tokens.erin,
          body: { contentHash: first.contentHash },
        }),
      ]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
      expect(answers.find((answer) => answer.status === 409)!.body.error.code).toBe('proposal_closed');
      clock.t = base + hour;
      await proposalIn(a, first.id, 'applied');
      await proposalIn(b, first.id, 'applied');
      expect((await b.call('GET', '/v1/modules/er-wait')).body).toMatchObject({
        version: 2,
        goals: [{ target: 25 }],
      });
      const audit = (await a.call('GET', '/v1/audit?limit=100')).body.items as Array<{ action: string }>;
      expect(audit.filter((entry) => entry.action === 'proposal.applied')).toHaveLength(1);
      expect(audit.filter((entry) => entry.action === 'proposal.approved')).toHaveLength(1);

      // Expiry: nobody approves within the 2 h.
      const second = (
        await b.call('POST', '/v1/modules/er-wait/proposals', {
          token: tokens.carol,
          body: moduleBody({}, { target: 20 }),
        })
      ).body;
      clock.t += 2 * hour - 1;
      // Made on b: a reads it once its registry reader has the record.
      await proposalIn(a, second.id, 'proposed');
      clock.t += 1;
      await proposalIn(a, second.id, 'expired');
      const late = await a.call('POST', `/v1/proposals/${second.id}/approvals`, {
        token: tokens.dan,
        body: { contentHash: second.contentHash },
      });
      expect(late.status).toBe(409);

      // Withdrawal: only by its proposer.
      const third = (
        await a.call('POST', '/v1/modules/er-wait/proposals', {
          token: tokens.dan,
          body: moduleBody({}, { target: 20 }),
        })
      ).body;
      const notMine = await a.call('POST', `/v1/proposals/${third.id}/withdraw`, { token: tokens.carol });
      expect(notMine.status).toBe(403);
      expect(notMine.body.error.code).toBe('not_proposer');
      expect(
        (
          await b.call('POST', `/v1/proposals/${third.id}/withdraw`, {
            token: tokens.dan,
            body: { note: 'needs data' },
          })
        ).body,
      ).toMatchObject({ state: 'withdrawn', closedBy: 'admin:dan' });

      // Rejection during the notice period: the approved change never takes effect.
      const fourth = (
        await a.call('POST', '/v1/modules/er-wait/proposals', {
          token: tokens.carol,
          body: moduleBody({}, { target: 22 }),
        })
      ).body;
      expect(
        (
          await b.call('POST', `/v1/proposals/${fourth.id}/approvals`, {
            token: tokens.dan,
            body: { contentHash: fourth.contentHash },
          })
        ).body.state,
      ).toBe('approved');
      const rejected = await a.call('POST', `/v1/proposals/${fourth.id}/rejections`, {
        token: tokens.erin,
        body: { note: 'the clinics were not consulted' },
      });
      expect(rejected.body).toMatchObject({
        state: 'rejected',
        closedBy: 'admin:erin',
        note: 'the clinics were not consulted',
      });
      // Recorded on a: b answers below once its registry reader has the rejection.
      await proposalIn(b, fourth.id, 'rejected');
      clock.t += 2 * hour;
      expect((await b.call('GET', '/v1/modules/er-wait')).body).toMatchObject({
        version: 2,
        goals: [{ target: 25 }],
        pendingChanges: [],
      });

      const actions = ((await a.call('GET', '/v1/audit?limit=100')).body.items as Array<{ action: string }>)
        .map((entry) => entry.action)
        .filter((action) => action.startsWith('proposal.'));
      expect(actions).toEqual([
        'proposal.proposed',
        'proposal.approved',
        'proposal.applied',
        'proposal.proposed',
        'proposal.expired',
        'proposal.proposed',
        'proposal.withdrawn',
        'proposal.proposed',
        'proposal.approved',
        'proposal.rejected',
      ]);
      expect((await b.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true });
    });
  });
}

proposalSuite('in-process bus + DuckDB', () => standalone(`proposals-${randomBytes(3).toString('hex')}`));
proposalSuite('Kafka + ClickHouse', () => distributed('proposals'));

describe('proposals across a restart (in-process bus + DuckDB)', () => {
  it('are read back from the store by a new api on a fresh bus, which then applies the approved one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-proposals-restart-'));
    const path = join(dir, 'store.duckdb');
    const store = new DuckDbStore({ path, logger: testLogger });
    await store.start();
    await store.migrate();
    try {
      clock.t = base;
      const env = { GLASSHOUSE_NOTICE_PERIOD: '1h' };
      let bus = new MemoryBus({ topicPrefix: 'before' });
      await bus.start();
      let api = await startApi({ bus, store, adminToken, env, clock });
      for (const id of ['ada'])
        expect(
          (await api.call('PUT', `/v1/sociotechnicians/${id}`, { token: adminToken, body: { name: id } }))
            .status,
        ).toBe(200);
      const tokens: Record<string, string> = {};
      for (const id of ['carol', 'dan'])
        tokens[id] = (
          await api.call('POST', '/v1/admins', { token: adminToken, body: { id, name: id } })
        ).body.token;
      expect(
        (await api.call('PUT', '/v1/modules/er-wait', { token: adminToken, body: moduleBody() })).status,
      ).toBe(200);
      const proposal = (
        await api.call('POST', '/v1/modules/er-wait/proposals', {
          token: tokens.carol,
          body: moduleBody({}, { target: 25 }),
        })
      ).body;
      expect(
        (
          await api.call('POST', `/v1/proposals/${proposal.id}/approvals`, {
            token: tokens.dan,
            body: { contentHash: proposal.contentHash },
          })
        ).body.state,
      ).toBe('approved');
      // Another entry after it, so the proposal is not the newest entry a new sequencer re-announces.
      expect(
        (await api.call('PUT', '/v1/sociotechnicians/bob', { token: adminToken, body: { name: 'bob' } }))
          .status,
      ).toBe(200);
      await api.stop();
      await bus.stop();

      // Nothing of the old bus remains: the registry and the sequencer start from the store.
      bus = new MemoryBus({ topicPrefix: 'after' });
      await bus.start();
      api = await startApi({ bus, store, adminToken, env, clock });
      try {
        expect((await api.call('GET', `/v1/proposals/${proposal.id}`)).body).toMatchObject({
          state: 'approved',
          approvals: [{ by: 'admin:dan' }],
          contentHash: proposal.contentHash,
        });
        expect((await api.call('GET', '/v1/modules/er-wait')).body.pendingChanges).toMatchObject([
          { id: proposal.id },
        ]);
        clock.t = base + hour;
        await proposalIn(api, proposal.id, 'applied');
        expect((await api.call('GET', '/v1/modules/er-wait')).body).toMatchObject({
          version: 2,
          proposalId: proposal.id,
        });
        expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 8 });
      } finally {
        await api.stop();
        await bus.stop();
      }
    } finally {
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
