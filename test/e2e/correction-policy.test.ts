import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitGoal } from '../support/examples.js';
import { call, eventually, expectCall, seedModule } from '../support/http-client.js';
import { type Deployment, distributed, standalone } from './setups.js';

/**
 * The revision policy: a correction of data older than the module's correctionWindow is held (stored
 * durably, listed publicly) until a named admin approves it; approval and rejection are audit entries,
 * an approved correction then applies like any other, a rejected one never; the owner's scorecard shows
 * the agency's correction rate.
 */
const setups: Array<[string, () => Promise<Deployment>]> = [
  ['standalone', standalone],
  ['distributed', () => distributed(inject('kafkaBrokers'), inject('clickhouseUrl'))],
];

const moduleId = 'late-fixes';
const wait = <T>(probe: () => Promise<T | undefined>, what: string) => eventually(probe, 30_000, () => what);
const agency = 'late-fix-agency';
const owner = 'late-fix-owner';

describe.each(setups)('late corrections held for a named admin: %s', (_name, setup) => {
  let d: Deployment;
  beforeAll(async () => {
    d = await setup();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('holds, lists, approves or rejects with an audit entry, applies only the approved, and shows the correction rate', async () => {
    const key = await seedModule(d.apiUrl, d.adminToken, {
      id: moduleId,
      owner,
      agency,
      allowedLateness: '1d',
      correctionWindow: '1h',
      goals: [waitGoal({ window: '24h' })],
    });
    const post = async (events: unknown[]) => {
      const res = await call(d.ingestUrl, 'POST', '/v1/metrics', { token: key, body: { events } });
      expect(res.status).toBe(202);
      expect(res.body.rejected).toEqual([]);
    };
    const now = Date.now();
    const event = (eventId: string, value: number, observedAt: number, extra = {}) => ({
      eventId,
      moduleId,
      metric: 'wait_minutes',
      value,
      observedAt,
      ...extra,
    });
    await post([
      event('old-a', 10, now - 2 * 3_600_000),
      event('old-b', 12, now - 3 * 3_600_000),
      event('recent', 20, now - 10 * 60_000),
    ]);
    const revisions = async () =>
      (await expectCall(d.apiUrl, 'GET', `/v1/modules/${moduleId}/revisions`, 200)).items as Array<{
        eventId: string;
      }>;
    const held = async (state = 'held') =>
      (await expectCall(d.apiUrl, 'GET', `/v1/corrections?state=${state}&moduleId=${moduleId}`, 200))
        .items as Array<Record<string, unknown>>;
    // The originals are stored (and counted) before any correction names them.
    await wait(async () => {
      const url = new URL(`/v1/modules/${moduleId}/events?from=${now - 4 * 3_600_000}&to=${now}`, d.apiUrl);
      const text = await (await fetch(url)).text();
      return text.trim().split('\n').filter(Boolean).length === 3 ? true : undefined;
    }, 'the three originals stored');

    // Within the window: applied at once. Older: held, not applied.
    await post([event('fix-recent', 25, now - 10 * 60_000, { supersedes: 'recent', note: 'misread meter' })]);
    await wait(
      async () => ((await revisions()).some((r) => r.eventId === 'fix-recent') ? true : undefined),
      'fix-recent applied',
    );
    await post([
      event('fix-old-a', 15, now - 2 * 3_600_000, { supersedes: 'old-a', note: 'booked to the wrong day' }),
      event('fix-old-b', 0, now - 3 * 3_600_000, { supersedes: 'old-b', retract: true, note: 'sent twice' }),
    ]);
    const [holdA, holdB] = await wait(async () => {
      const items = await held();
      const a = items.find((c) => c.eventId === 'fix-old-a');
      const b = items.find((c) => c.eventId === 'fix-old-b');
      return a && b ? [a, b] : undefined;
    }, 'both late corrections held');
    expect(holdA).toMatchObject({
      moduleId,
      agency,
      supersedes: 'old-a',
      replaces: 'old-a',
      retract: false,
      value: 15,
      note: 'booked to the wrong day',
      targetObservedAt: new Date(now - 2 * 3_600_000).toISOString(),
      state: 'held',
    });
    expect(holdB).toMatchObject({ retract: true, state: 'held' });
    expect((await revisions()).map((r) => r.eventId)).toEqual(['fix-recent']);

    // Only a named admin decides.
    const id = holdA!.id as string;
    const bootstrap = await call(d.apiUrl, 'POST', `/v1/corrections/${id}/approve`, {
      token: d.adminToken,
      body: { rationale: 'checked' },
    });
    expect(bootstrap.status).toBe(403);
    expect(bootstrap.body.error.code).toBe('named_admin_required');
    const { token: grace } = await expectCall(d.apiUrl, 'POST', '/v1/admins', 201, {
      token: d.adminToken,
      body: { id: 'grace', name: 'Grace Hopper' },
    });
    expect(
      (await call(d.apiUrl, 'POST', `/v1/corrections/${id}/approve`, { token: grace, body: {} })).status,
    ).toBe(400);
    const unknown = await call(d.apiUrl, 'POST', `/v1/corrections/${'0'.repeat(32)}/approve`, {
      token: grace,
      body: { rationale: 'x' },
    });
    expect(unknown.status).toBe(404);

    const approved = await expectCall(d.apiUrl, 'POST', `/v1/corrections/${id}/approve`, 200, {
      token: grace,
      body: { rationale: 'the ledger confirms the wrong day' },
    });
    expect(approved).toMatchObject({ state: 'approved', decidedBy: 'grace' });
    const rejected = await expectCall(d.apiUrl, 'POST', `/v1/corrections/${holdB!.id}/reject`, 200, {
      token: grace,
      body: { rationale: 'no evidence of a double send' },
    });
    expect(rejected).toMatchObject({ state: 'rejected', decidedBy: 'grace' });
    const conflict = await call(d.apiUrl, 'POST', `/v1/corrections/${holdB!.id}/approve`, {
      token: grace,
      body: { rationale: 'changed my mind' },
    });
    expect(conflict.status).toBe(409);

    // The approved one applies, the rejected one never does.
    await wait(
      async () => ((await revisions()).some((r) => r.eventId === 'fix-old-a') ? true : undefined),
      'the approved correction applied',
    );
    expect((await held('approved')).map((c) => c.eventId)).toEqual(['fix-old-a']);
    expect((await held('rejected')).map((c) => c.eventId)).toEqual(['fix-old-b']);
    expect((await held()).map((c) => c.eventId)).toEqual([]);

    // Each decision is an audit entry by the named admin, with its rationale; the chain holds.
    const audit = await expectCall(d.apiUrl, 'GET', '/v1/audit?limit=1000', 200);
    const decisions = audit.items.filter((e: { action: string }) => e.action.startsWith('correction.'));
    expect(decisions.map((e: Record<string, unknown>) => [e.action, e.actor, e.rationale])).toEqual([
      ['correction.approve', 'admin:grace', 'the ledger confirms the wrong day'],
      ['correction.reject', 'admin:grace', 'no evidence of a double send'],
    ]);
    expect(await expectCall(d.apiUrl, 'GET', '/v1/audit/verify', 200)).toMatchObject({ valid: true });

    // The owner's scorecard: 5 events received, 2 of them applied corrections.
    const rates = await wait(async () => {
      const profile = await expectCall(d.apiUrl, 'GET', `/v1/sociotechnicians/${owner}`, 200);
      const c = profile.scorecard.corrections;
      return c?.events === 5 ? c : undefined;
    }, 'five events in the correction rate');
    expect(rates).toMatchObject({
      events: 5,
      corrections: 2,
      rate: 0.4,
      agencies: [{ agency, events: 5, corrections: 2, rate: 0.4 }],
    });

    // Held corrections are stored durably: a restart lists the same decisions.
    await d.restart();
    expect((await held('rejected')).map((c) => c.eventId)).toEqual(['fix-old-b']);
    expect((await held('approved')).map((c) => c.eventId)).toEqual(['fix-old-a']);
  });
});
