import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, eventually, expectCall, seedModule } from '../support/http-client.js';
import { type Deployment, distributed, standalone } from './setups.js';

/**
 * One agency must not be able to hide another's failures by pushing event time: an event observed
 * too far ahead is rejected, and one inside the module's maxFuture neither ends the live window early
 * nor makes the other agency's current events late.
 */
const setups: Array<[string, () => Promise<Deployment>]> = [
  ['standalone', standalone],
  ['distributed', () => distributed(inject('kafkaBrokers'), inject('clickhouseUrl'))],
];

describe.each(setups)('event time one reporter cannot push: %s', (_name, setup) => {
  let d: Deployment;
  beforeAll(async () => {
    d = await setup();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it("a future-dated event of one agency does not hide another agency's failing values", async () => {
    const moduleId = 'clock-permits';
    const goal = {
      id: 'processed',
      metric: 'permits_processed',
      unit: 'permits',
      direction: 'increase',
      target: 100,
      tolerance: 0.1,
      window: '1m',
      aggregation: 'mean',
      minSamples: 1,
      hold: '0s',
    };
    // Both agencies report for the module from its first version (a later change of its agencies
    // would be a proposal).
    const { key: keyB } = await expectCall(d.apiUrl, 'POST', '/v1/agencies', 201, {
      token: d.adminToken,
      body: { id: 'clock-agency-b', name: 'Agency B' },
    });
    const keyA = await seedModule(d.apiUrl, d.adminToken, {
      id: moduleId,
      owner: 'clock-owner',
      agency: 'clock-agency-a',
      agencies: ['clock-agency-a', 'clock-agency-b'],
      title: 'Permits',
      summary: 'Two agencies report.',
      goals: [goal],
    });
    const post = (key: string, events: unknown[]) =>
      eventually(
        async () => {
          const answer = await call(d.ingestUrl, 'POST', '/v1/metrics', { token: key, body: { events } });
          // Distributed: ingest may not have read the new key or module version yet.
          return answer.status === 202 &&
            answer.body.rejected.every((r: { errors: Array<{ path: string }> }) =>
              r.errors.every((e) => e.path === 'observedAt'),
            )
            ? answer.body
            : undefined;
        },
        15_000,
        () => 'ingest never took the events',
      );
    const event = (id: string, value: number, observedAt: number) => ({
      eventId: id,
      moduleId,
      metric: 'permits_processed',
      value,
      observedAt,
    });

    const now = Date.now();
    // 295 s ahead (the attack as found): rejected with the reason. 55 s ahead: inside the default 60 s.
    const far = await post(keyA, [event('a-far', 100, now + 295_000)]);
    expect(far.rejected).toEqual([
      {
        index: 0,
        eventId: 'a-far',
        errors: [
          { path: 'observedAt', message: "must be at most 60s in the future (the module's maxFuture)" },
        ],
      },
    ]);
    const ahead = await post(keyA, [event('a-ahead', 100, now + 55_000)]);
    expect(ahead.accepted).toBe(1);
    // Agency B's current values are failing: 10 against a target of 100.
    const failing = await post(
      keyB,
      Array.from({ length: 5 }, (_, i) => event(`b-${i}`, 10, Date.now() - i * 100)),
    );
    expect(failing.accepted).toBe(5);

    const current = await eventually(
      async () => {
        const { body } = await call(d.apiUrl, 'GET', `/v1/modules/${moduleId}`);
        const c = body?.goals?.[0]?.current;
        return c?.status === 'off_track' ? c : undefined;
      },
      15_000,
      () => "agency B's failing values never showed as off_track",
    );
    expect(current).toMatchObject({ value: 10, count: 5 });
    const alert = await eventually(
      async () => {
        const { body } = await call(d.apiUrl, 'GET', `/v1/alerts?moduleId=${moduleId}`);
        return (body?.items as Array<{ kind: string; state: string }> | undefined)?.find(
          (a) => a.kind === 'goal_deviation' && a.state === 'firing',
        );
      },
      15_000,
      () => 'no goal_deviation alert fired',
    );
    expect(alert).toBeDefined();
  });
});
