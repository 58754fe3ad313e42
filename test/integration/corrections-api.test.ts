import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { waitGoal } from '../support/examples.js';
import { call, eventually, seedModule } from '../support/http-client.js';
import { StandaloneBin } from '../support/process.js';

// The real bin, standalone: an agency restates a figure through ingest, the history shows the revision
// (revised, firstPublished), `asOf` answers the earlier vintage, and the revisions list says who, when, why.
const adminToken = `corr-api-${randomBytes(12).toString('hex')}`;
const bin = new StandaloneBin({ GLASSHOUSE_ADMIN_TOKEN: adminToken }, 'gh-corr-api-');

afterAll(() => bin.dispose());

describe('corrections through the public API', () => {
  it('history revised points, the earlier vintage with asOf, the revisions list, per-event rejection', async () => {
    const base = await bin.start();
    const moduleId = 'corr-wait';
    const key = await seedModule(base, adminToken, {
      id: moduleId,
      owner: 'corr-owner',
      agency: 'corr-agency',
      goals: [waitGoal({ window: '1h' })],
    });
    const t = Date.now() - 5_000;
    const post = (events: unknown[]) => call(base, 'POST', '/v1/metrics', { token: key, body: { events } });
    const sent = await post([
      { eventId: 'a', moduleId, metric: 'wait_minutes', value: 10, observedAt: t },
      { eventId: 'b', moduleId, metric: 'wait_minutes', value: 20, observedAt: t + 1 },
      { eventId: 'c', moduleId, metric: 'wait_minutes', value: 90, observedAt: t + 2 },
    ]);
    expect(sent.body).toMatchObject({ accepted: 3, rejected: [] });
    const history = (query = '') =>
      call(base, 'GET', `/v1/modules/${moduleId}/history?from=${t - 3_600_000}&step=1h${query}`);
    const pointOf = async (query = '') => (await history(query)).body?.points?.at(-1);
    await eventually(
      async () => ((await pointOf())?.count === 3 ? true : undefined),
      20_000,
      () => 'first points',
    );
    expect(await pointOf()).toMatchObject({ value: 40, count: 3 });
    const published = Date.now();

    const corrected = await post([
      {
        eventId: 'c-fix',
        moduleId,
        metric: 'wait_minutes',
        value: 30,
        observedAt: t + 2,
        supersedes: 'c',
        note: 'meter misread',
      },
      { eventId: 'x', moduleId, metric: 'wait_minutes', value: 1, observedAt: t, supersedes: 'never-sent' },
    ]);
    expect(corrected.body.accepted).toBe(1);
    expect(corrected.body.rejected).toEqual([
      {
        index: 1,
        eventId: 'x',
        errors: [
          {
            path: 'supersedes',
            message: `agency "corr-agency" sent no event "never-sent" for module "${moduleId}"`,
          },
        ],
      },
    ]);
    const now = await eventually(
      async () => {
        const p = await pointOf();
        return p?.value === 20 ? p : undefined;
      },
      20_000,
      () => 'the restated point',
    );
    expect(now).toMatchObject({ count: 3, revised: true, firstPublished: { value: 40, count: 3 } });
    // The vintage published before the correction: the old figure, not (yet) revised.
    const before = await pointOf(`&asOf=${published}`);
    expect(before).toMatchObject({ value: 40, count: 3 });
    expect(before).not.toHaveProperty('revised');
    expect((await history(`&asOf=${published}`)).body.asOf).toBe(new Date(published).toISOString());

    const { body: revisions } = await call(base, 'GET', `/v1/modules/${moduleId}/revisions`);
    expect(revisions.items).toEqual([
      {
        eventId: 'c-fix',
        agency: 'corr-agency',
        metric: 'wait_minutes',
        supersedes: 'c',
        retract: false,
        at: expect.any(String),
        old: { value: 90, observedAt: new Date(t + 2).toISOString() },
        new: { value: 30, observedAt: new Date(t + 2).toISOString() },
        note: 'meter misread',
      },
    ]);
    expect(Date.parse(revisions.items[0].at)).toBeGreaterThanOrEqual(published);
    expect((await call(base, 'GET', '/v1/modules/nope/revisions')).status).toBe(404);
  }, 120_000);
});
