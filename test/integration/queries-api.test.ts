import { randomBytes } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import { toTimestamp } from '../../schemas/common.js';
import {
  AlertList,
  BreakdownAnswer,
  ComparisonAnswer,
  HistoryAnswer,
  SociotechnicianList,
  SociotechnicianProfile,
} from '../../schemas/queries.js';
import { eventColumns } from '../../services/api/routes/events.js';
import { addObservation, emptySummary } from '../../services/core/performance/aggregate.js';
import { toRollupRow } from '../../services/core/performance/rollup.js';
import type { Row } from '../../services/ports/tables.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { type Deployment, distributed, standalone } from '../support/store-setups.js';

const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
const admin = { token: adminToken };
const hour = 3_600_000;

const goal = (over: Record<string, unknown> = {}) => ({
  id: 'ontime',
  metric: 'on_time_rate',
  unit: '%',
  direction: 'increase',
  target: 90,
  tolerance: 0.05,
  window: '1h',
  aggregation: 'mean',
  minSamples: 4,
  ...over,
});
const moduleBody = (over: Record<string, unknown> = {}) => ({
  domain: 'transit',
  title: 'Bus punctuality',
  owner: 'ada',
  goals: [goal()],
  comparisonGroup: 'punctuality',
  rationale: 'initial definition',
  ...over,
});

function alertRow(
  id: string,
  version: number,
  moduleId: string,
  state: AlertEvent['state'],
  openedMs: number,
  extra: Partial<AlertEvent> = {},
): Row<'alerts'> {
  const body: AlertEvent = {
    alertId: id.repeat(32).slice(0, 32),
    version,
    moduleId,
    moduleVersion: 1,
    ruleId: 'ontime',
    kind: 'goal_deviation',
    severity: 'warning',
    state,
    owner: 'ada',
    openedAt: toTimestamp(openedMs),
    updatedAt: toTimestamp(openedMs + version * 60_000),
    observed: 80,
    target: 90,
    shortfall: 0.11,
    message: 'on_time_rate mean 80 < 90',
    ...extra,
  };
  return {
    alert_id: body.alertId,
    version,
    module_id: moduleId,
    rule_id: 'ontime',
    kind: body.kind,
    state,
    opened_ms: openedMs,
    updated_ms: openedMs + version * 60_000,
    body,
  };
}

function querySuite(name: string, deploy: () => Promise<Deployment>) {
  describe(`query API (${name})`, () => {
    let deployment: Deployment;
    let api: RunningApi;
    // Data lives in a past hour aligned to the hour, so step alignment is predictable.
    const t0 = Math.floor((Date.now() - 5 * hour) / hour) * hour;

    beforeAll(async () => {
      deployment = await deploy();
      api = await startApi({ bus: await deployment.bus(), store: deployment.store, adminToken });
      for (const [id, name] of [
        ['ada', 'Ada Lovelace'],
        ['grace', 'Grace Hopper'],
      ]) {
        expect(
          (await api.call('PUT', `/v1/sociotechnicians/${id}`, { ...admin, body: { name } })).status,
        ).toBe(200);
      }
      const busDimensions = [
        { name: 'route', description: 'Route', publish: 'open' },
        { name: 'note', description: 'Free note', publish: 'open' },
        { name: 'depot', description: 'Depot', values: ['north', 'south'], publish: 'aggregate' },
        { name: 'driver', description: 'Driver', publish: 'never' },
      ];
      expect(
        (
          await api.call('PUT', '/v1/modules/bus', {
            ...admin,
            body: moduleBody({ dimensions: busDimensions }),
          })
        ).status,
      ).toBe(200);
      const tram = moduleBody({
        title: 'Tram punctuality',
        owner: 'grace',
        goals: [
          goal({ id: 'tram-ontime' }),
          goal({ id: 'cost', metric: 'cost', direction: 'decrease', target: 10 }),
        ],
      });
      expect((await api.call('PUT', '/v1/modules/tram', { ...admin, body: tram })).status).toBe(200);
      const ferry = moduleBody({
        title: 'Ferry punctuality',
        owner: 'grace',
        goals: [goal(), goal({ id: 'cost', metric: 'cost', direction: 'decrease', target: 10 })],
      });
      expect((await api.call('PUT', '/v1/modules/ferry', { ...admin, body: ferry })).status).toBe(200);
    });
    afterAll(async () => {
      await api?.stop();
      await deployment?.cleanup();
    });

    it('merges stored rollups into step-aligned history points with the goal status', async () => {
      const key = {
        moduleId: 'bus',
        ruleId: 'ontime',
        metric: 'on_time_rate',
        widthMs: 60_000,
        moduleVersion: 1,
      };
      const row = (bucketMs: number, values: number[]) => {
        const summary = emptySummary(false);
        values.forEach((value, i) => {
          addObservation(summary, { eventId: `e${bucketMs}-${i}`, value, observedAt: bucketMs + i });
        });
        return toRollupRow(key, bucketMs, summary, undefined, bucketMs);
      };
      await deployment.store.insert('rollups', [
        row(t0, [95, 91]),
        row(t0 + 60_000, [92, 96]),
        row(t0 + 120_000, [80]),
        row(t0 + 600_000, [86, 88, 87, 89]),
        row(t0 + 2 * hour, [50, 50, 50, 50]),
      ]);
      const from = toTimestamp(t0);
      const history = await api.call(
        'GET',
        `/v1/modules/bus/history?goal=ontime&from=${from}&to=${t0 + hour}&step=5m`,
      );
      expect(history.status).toBe(200);
      expect(history.body).toMatchObject({
        moduleId: 'bus',
        goalId: 'ontime',
        step: '5m',
        aggregation: 'mean',
      });
      expect(history.body.points).toEqual([
        { t: toTimestamp(t0), value: (95 + 91 + 92 + 96 + 80) / 5, count: 5, status: 'on_track' },
        { t: toTimestamp(t0 + 600_000), value: 87.5, count: 4, status: 'at_risk' },
      ]);
      expect(history.body.method).toContain('Steps without events are omitted');
      expect(HistoryAnswer.safeParse(history.body).success).toBe(true);
      const minutes = await api.call('GET', `/v1/modules/bus/history?from=${t0}&to=${t0 + hour}&step=1m`);
      expect(minutes.body.points.map((p: { count: number }) => p.count)).toEqual([2, 2, 1, 4]);
    });

    it('answers 400 naming the limit, or the bad parameter, for unbounded or malformed history queries', async () => {
      const tooMany = await api.call(
        'GET',
        `/v1/modules/bus/history?from=${t0 - 2 * 86_400_000}&to=${t0}&step=1s`,
      );
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error).toMatchObject({
        code: 'limit_exceeded',
        details: { limit: 'historyPoints', max: 10_000 },
      });
      expect(tooMany.body.error.message).toContain('10,000');
      const tooLong = await api.call('GET', `/v1/modules/bus/history?from=0&to=${t0}&step=1d`);
      expect(tooLong.body.error).toMatchObject({
        code: 'limit_exceeded',
        details: { limit: 'historyRangeMs' },
      });
      const subSecond = await api.call(
        'GET',
        `/v1/modules/bus/history?from=${t0}&to=${t0 + hour}&step=500ms`,
      );
      expect(subSecond.status).toBe(400);
      expect(subSecond.body.error.details[0].path).toBe('step');
      const badTime = await api.call('GET', '/v1/modules/bus/history?from=yesterday');
      expect(badTime.body.error.details[0]).toEqual({
        path: 'from',
        message: 'must be an RFC 3339 time or epoch milliseconds',
      });
      expect((await api.call('GET', `/v1/modules/bus/history?from=${t0 + hour}&to=${t0}`)).status).toBe(400);
      expect((await api.call('GET', '/v1/modules/bus/history?goal=nope')).status).toBe(404);
      expect((await api.call('GET', '/v1/modules/none/history')).status).toBe(404);
    });

    it('exports raw events as NDJSON and as properly quoted CSV, late flag included', async () => {
      const events: Row<'metric_events'>[] = [
        { event_id: 'e-1', value: 91.5, late: false, dimensions: { route: '7, "express"' } },
        { event_id: 'e-2', value: -3, late: true, dimensions: { note: 'line one\r\nline two' } },
        { event_id: 'e-3', value: 1e-7, late: false, dimensions: {} },
        // Stored before the declarations settled: aggregate and undeclared dimensions are not exported.
        {
          event_id: 'e-4',
          value: 2,
          late: false,
          dimensions: { route: '9', depot: 'zz-depot-north', undeclared: 'zz-secret' },
        },
      ].map((e, i) => ({
        module_id: 'bus',
        agency_id: 'transit',
        event_id: e.event_id,
        metric: 'on_time_rate',
        value: e.value,
        observed_ms: t0 + i * 1000,
        received_ms: t0 + i * 1000 + 5,
        dimensions: e.dimensions,
        late: e.late,
        module_version: 1,
        supersedes: '',
        retract: false,
        note: '',
      }));
      await deployment.store.insert('metric_events', events);
      const range = `from=${toTimestamp(t0)}&to=${t0 + hour}`;
      const ndjson = await fetch(`${api.url}/v1/modules/bus/events?${range}`);
      expect(ndjson.status).toBe(200);
      expect(ndjson.headers.get('content-type')).toContain('application/x-ndjson');
      const lines = (await ndjson.text())
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines).toEqual(
        events.map((e) => ({
          moduleId: 'bus',
          agencyId: 'transit',
          eventId: e.event_id,
          metric: 'on_time_rate',
          value: e.value,
          observedAt: toTimestamp(e.observed_ms),
          receivedAt: toTimestamp(e.received_ms),
          late: e.late,
          moduleVersion: 1,
          dimensions: e.event_id === 'e-4' ? { route: '9' } : e.dimensions,
        })),
      );
      const csv = await fetch(`${api.url}/v1/modules/bus/events?${range}`, {
        headers: { accept: 'text/csv' },
      });
      expect(csv.headers.get('content-type')).toContain('text/csv');
      const text = await csv.text();
      expect(text).toContain('"{""route"":""7, \\""express\\""""}"');
      const [header, ...rows] = parse(text);
      expect(header).toEqual([...eventColumns]);
      expect(rows).toEqual(
        lines.map((line) =>
          eventColumns.map((c) => (c === 'dimensions' ? JSON.stringify(line[c]) : String(line[c]))),
        ),
      );
      expect(rows.map((r) => Number(r[4]))).toEqual([91.5, -3, 1e-7, 2]);
      expect(text).not.toContain('zz-');
      const onlyOther = await fetch(`${api.url}/v1/modules/bus/events?${range}&metric=cost`);
      expect(await onlyOther.text()).toBe('');
      const tooLong = await api.call('GET', `/v1/modules/bus/events?from=0&to=${t0}`);
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.error).toMatchObject({
        code: 'limit_exceeded',
        details: { limit: 'eventsRangeMs' },
      });
      expect((await api.call('GET', '/v1/modules/bus/events')).status).toBe(400);
    });

    it('breaks a goal down by a declared dimension per closed day, with small counts protected', async () => {
      const day = 86_400_000;
      const d0 = Math.floor(Date.now() / day) * day - 3 * day;
      // Days 0-2 at half past midnight (far from the other tests' hours); day 3 (today) a minute ago.
      const at = (d: number, i: number) =>
        d === 3 ? Math.max(d0 + d * day, Date.now() - 60_000) + i : d0 + d * day + 1_800_000 + i * 1000;
      const spec: Array<[number, string | undefined, number, number]> = [
        // day, depot, how many, value
        [0, 'north', 23, 80],
        [0, 'south', 4, 50],
        [0, undefined, 12, 70],
        [1, 'north', 30, 90],
        [2, 'north', 1, 10],
        [2, 'south', 1, 20],
        // Today: not closed, never shown.
        [3, 'north', 40, 99],
      ];
      const rows: Row<'metric_events'>[] = spec.flatMap(([d, depot, n, value], k) =>
        Array.from({ length: n }, (_, i) => ({
          module_id: 'bus',
          agency_id: 'transit',
          event_id: `bd-${k}-${i}`,
          metric: 'on_time_rate',
          value,
          observed_ms: at(d, i),
          received_ms: at(d, i),
          dimensions: depot ? { depot, route: '7' } : { route: '7' },
          late: false,
          module_version: 1,
          supersedes: '',
          retract: false,
          note: '',
        })),
      );
      await deployment.store.insert('metric_events', rows);
      const answer = await api.call(
        'GET',
        `/v1/modules/bus/breakdown?goal=ontime&by=depot&from=${d0}&to=${d0 + 10 * day}`,
      );
      expect(answer.status).toBe(200);
      const body = BreakdownAnswer.parse(answer.body);
      expect(body).toMatchObject({ dimension: 'depot', statistic: 'mean', minCell: 10, base: 5 });
      expect(body.days).toEqual([
        {
          day: toTimestamp(d0).slice(0, 10),
          withheld: false,
          total: 40,
          // south (4) is suppressed, then the reports without a depot (12) to protect it; they are
          // not a listed value, so they are left out rather than named.
          cells: [
            { value: 'north', count: 25, statistic: 80 },
            { value: 'south', count: null, statistic: null },
          ],
        },
        {
          day: toTimestamp(d0 + day).slice(0, 10),
          withheld: false,
          total: 30,
          cells: [
            { value: 'north', count: 30, statistic: 90 },
            { value: 'south', count: 0, statistic: null },
          ],
        },
        // Two single reports: no suppression pattern protects them, so the day is withheld whole.
        { day: toTimestamp(d0 + 2 * day).slice(0, 10), withheld: true, total: null, cells: [] },
      ]);
      expect(body.method).toContain('Counts from 1 to 9 are suppressed');
      const never = await api.call('GET', '/v1/modules/bus/breakdown?goal=ontime&by=driver');
      expect(never.status).toBe(400);
      expect(never.body.error.details[0].message).toContain('never');
      expect((await api.call('GET', '/v1/modules/bus/breakdown?goal=ontime&by=colour')).status).toBe(400);
      expect((await api.call('GET', '/v1/modules/bus/breakdown?goal=nope&by=depot')).status).toBe(404);
      expect((await api.call('GET', '/v1/modules/bus/breakdown?goal=ontime')).status).toBe(400);
      const tooLong = await api.call('GET', `/v1/modules/bus/breakdown?goal=ontime&by=depot&from=0`);
      expect(tooLong.body.error).toMatchObject({ code: 'limit_exceeded' });
    });

    it('writes CSV cells a spreadsheet would run as formulas as text, and numbers as numbers', async () => {
      const t = t0 + 2 * hour;
      const ids = ['=HYPERLINK(1)', '+1', '-2+3', '@SUM(A1)', '\tx', 'plain'];
      await deployment.store.insert(
        'metric_events',
        ids.map((id, i) => ({
          module_id: 'bus',
          agency_id: 'transit',
          event_id: id,
          metric: 'cost',
          value: -4,
          observed_ms: t + i,
          received_ms: t + i,
          dimensions: {},
          late: false,
          module_version: 1,
          supersedes: '',
          retract: false,
          note: '',
        })),
      );
      const csv = await fetch(`${api.url}/v1/modules/bus/events?from=${t}&to=${t + 1000}&format=csv`);
      const [, ...rows] = parse(await csv.text());
      expect(rows.map((r) => r[2])).toEqual(["'=HYPERLINK(1)", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", 'plain']);
      expect(rows.map((r) => r[4])).toEqual(ids.map(() => '-4'));
    });

    it('bounds the events export per source address and in concurrency, with Retry-After', async () => {
      const limited = await startApi({
        bus: await deployment.bus(),
        store: deployment.store,
        adminToken,
        env: { GLASSHOUSE_EXPORT_RATE: '3', GLASSHOUSE_EXPORT_CONCURRENCY: '1' },
      });
      try {
        const path = `/v1/modules/bus/events?from=${t0}&to=${t0 + hour}`;
        // One at a time, each released when its answer is sent: three pass, the fourth is over the rate.
        for (let i = 0; i < 3; i += 1) expect((await fetch(limited.url + path)).status).toBe(200);
        const over = await fetch(limited.url + path);
        expect(over.status).toBe(429);
        expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(await over.json()).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
      } finally {
        await limited.stop();
      }
      const busy = await startApi({
        bus: await deployment.bus(),
        store: deployment.store,
        adminToken,
        env: { GLASSHOUSE_EXPORT_CONCURRENCY: '1', GLASSHOUSE_EXPORT_RATE: '1000' },
      });
      try {
        const path = `/v1/modules/bus/events?from=${t0}&to=${t0 + hour}`;
        const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(busy.url + path)));
        const statuses = answers.map((a) => a.status);
        expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
        for (const answer of answers.filter((a) => a.status !== 200)) {
          expect(answer.status).toBe(429);
          expect(answer.headers.get('retry-after')).toBe('1');
          expect((await answer.json()).error.code).toBe('export_busy');
        }
        await Promise.all(answers.filter((a) => a.status === 200).map((a) => a.text()));
        // Every slot is given back once the answers are sent.
        expect((await fetch(busy.url + path)).status).toBe(200);
      } finally {
        await busy.stop();
      }
    });

    it('lists the latest version of each alert, filtered by state and module, paged', async () => {
      await deployment.store.insert('alerts', [
        alertRow('a', 1, 'bus', 'firing', t0),
        alertRow('a', 2, 'bus', 'resolved', t0, { resolvedAt: toTimestamp(t0 + 120_000) }),
        alertRow('b', 1, 'bus', 'pending', t0 + 1000),
        alertRow('b', 2, 'bus', 'firing', t0 + 1000),
        alertRow('c', 1, 'tram', 'firing', t0 + 2000),
      ]);
      const all = await api.call('GET', '/v1/alerts');
      expect(all.status).toBe(200);
      expect(all.body.items.map((a: AlertEvent) => [a.alertId[0], a.version, a.state])).toEqual([
        ['c', 1, 'firing'],
        ['b', 2, 'firing'],
        ['a', 2, 'resolved'],
      ]);
      expect(all.body.next).toBeUndefined();
      expect(AlertList.safeParse(all.body).success).toBe(true);
      const resolved = await api.call('GET', '/v1/alerts?state=resolved');
      expect(resolved.body.items.map((a: AlertEvent) => a.alertId[0])).toEqual(['a']);
      const firingBus = await api.call('GET', '/v1/alerts?state=firing&moduleId=bus');
      expect(firingBus.body.items.map((a: AlertEvent) => a.alertId[0])).toEqual(['b']);
      const open = await api.call('GET', '/v1/alerts?state=open');
      expect(open.body.items).toHaveLength(2);
      const first = await api.call('GET', '/v1/alerts?limit=2');
      expect(first.body.items.map((a: AlertEvent) => a.alertId[0])).toEqual(['c', 'b']);
      const second = await api.call('GET', `/v1/alerts?limit=2&after=${first.body.next}`);
      expect(second.body.items.map((a: AlertEvent) => a.alertId[0])).toEqual(['a']);
      expect(second.body.next).toBeUndefined();
      expect((await api.call('GET', '/v1/alerts?limit=1001')).status).toBe(400);
      expect((await api.call('GET', '/v1/alerts?state=lost')).status).toBe(400);
      expect((await api.call('GET', '/v1/alerts?after=x')).status).toBe(400);
    });

    it("compares a group with Welch's t-test and a plain-language verdict", async () => {
      const low = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
      const start = t0 + 3 * hour;
      const rows = (moduleId: string, metric: string, values: number[]): Row<'metric_events'>[] =>
        values.map((value, i) => ({
          module_id: moduleId,
          agency_id: 'transit',
          event_id: `${metric}-${i}`,
          metric,
          value,
          observed_ms: start + i * 1000,
          received_ms: start + i * 1000,
          dimensions: {},
          late: false,
          module_version: 1,
          supersedes: '',
          retract: false,
          note: '',
        }));
      await deployment.store.insert('metric_events', [
        ...rows(
          'bus',
          'on_time_rate',
          low.map((v) => v + 5),
        ),
        ...rows('tram', 'on_time_rate', low),
        ...rows('ferry', 'on_time_rate', low.slice(0, 1)),
        ...rows('tram', 'cost', [10, 11, 12, 10, 11]),
        ...rows('ferry', 'cost', [11, 10, 12, 11, 10, 12]),
      ]);
      const answer = await api.call('GET', `/v1/comparisons/punctuality?to=${start + 60_000}&window=5m`);
      expect(answer.status).toBe(200);
      expect(answer.body.modules.map((m: { id: string }) => m.id)).toEqual(['bus', 'ferry', 'tram']);
      expect(answer.body.window.length).toBe('5m');
      const onTime = answer.body.metrics.find((m: { metric: string }) => m.metric === 'on_time_rate');
      expect(onTime.samples.map((s: { moduleId: string; n: number }) => [s.moduleId, s.n])).toEqual([
        ['bus', 10],
        ['ferry', 1],
        ['tram', 10],
      ]);
      const busTram = onTime.pairs.find((p: { a: string; b: string }) => p.a === 'bus' && p.b === 'tram');
      expect(busTram).toMatchObject({ significant: true, better: 'bus' });
      expect(busTram.p).toBeLessThan(0.001);
      expect(busTram.alpha).toBeCloseTo(0.05 / 3, 12);
      expect(busTram.verdict).toBe(
        'Bus punctuality performs better than Tram punctuality (p < 0.001, n = 10 vs 10)',
      );
      expect(onTime.pairs.find((p: { b: string }) => p.b === 'ferry').verdict).toMatch(/^not enough data/);
      const cost = answer.body.metrics.find((m: { metric: string }) => m.metric === 'cost');
      expect(cost.pairs).toHaveLength(1);
      expect(cost.pairs[0].verdict).toMatch(
        /^no significant difference between Ferry punctuality and Tram punctuality \(p = 0\.\d+, n = 6 vs 5\)$/,
      );
      expect(answer.body.method).toContain('Welch');
      expect(ComparisonAnswer.safeParse(answer.body).success).toBe(true);
      const tooLong = await api.call('GET', '/v1/comparisons/punctuality?window=40d');
      expect(tooLong.body.error).toMatchObject({
        code: 'limit_exceeded',
        details: { limit: 'comparisonWindowMs' },
      });
      expect((await api.call('GET', '/v1/comparisons/nobody')).status).toBe(404);
    });

    it('scores sociotechnicians by time on track, with open alerts, time to acknowledge and trend', async () => {
      const now = Date.now();
      const update = (
        moduleId: string,
        goalId: string,
        asOf: number,
        status: string,
      ): Row<'performance_updates'> => ({
        module_id: moduleId,
        goal_id: goalId,
        as_of_ms: asOf,
        module_version: 1,
        status,
        value: 0,
        body: {},
        published_ms: asOf,
      });
      await deployment.store.insert('performance_updates', [
        update('bus', 'ontime', now - 30 * hour, 'on_track'),
        update('bus', 'ontime', now - 12 * hour, 'off_track'),
        update('bus', 'ontime', now - 6 * hour, 'on_track'),
      ]);
      const opened = now - hour;
      await deployment.store.insert('alerts', [
        alertRow('d', 1, 'bus', 'firing', opened),
        alertRow('d', 2, 'bus', 'firing', opened, {
          acknowledgedBy: 'overseer:desk',
          acknowledgedAt: toTimestamp(opened + 600_000),
          note: 'looking into it',
        }),
      ]);
      const ada = await api.call('GET', '/v1/sociotechnicians/ada');
      expect(ada.status).toBe(200);
      expect(ada.body).toMatchObject({ id: 'ada', name: 'Ada Lovelace', modules: [{ id: 'bus' }] });
      const card = ada.body.scorecard;
      expect(card.score).toBe(75);
      expect(card.onTrackShare).toBeCloseTo(0.75, 3);
      expect(card.trend).toEqual({ direction: 'worsening', changePoints: -50 });
      // 'b' (firing since t0) and 'd' are open; 'a' was resolved.
      expect(card.openAlerts).toBe(2);
      expect(card.meanTimeToAcknowledgeMs).toBe(600_000);
      expect(card.acknowledgedAlerts).toBe(1);
      expect(card.goals).toEqual([
        expect.objectContaining({ moduleId: 'bus', goalId: 'ontime', status: 'on_track' }),
      ]);
      expect(card.method).toContain('score = round(100 × onTrackShare)');
      expect(SociotechnicianProfile.safeParse(ada.body).success).toBe(true);

      // A later status change is picked up by the next request.
      await deployment.store.insert('performance_updates', [
        update('bus', 'ontime', Date.now() - 1, 'at_risk'),
      ]);
      const list = await api.call('GET', '/v1/sociotechnicians');
      expect(list.status).toBe(200);
      expect(SociotechnicianList.safeParse(list.body).success).toBe(true);
      expect(list.body.items.map((p: { id: string; score: number | null }) => [p.id, p.score])).toEqual([
        ['ada', 75],
        ['grace', null],
      ]);
      expect(list.body.items[0]).toMatchObject({
        name: 'Ada Lovelace',
        modules: 1,
        openAlerts: 2,
        trend: 'worsening',
      });
      expect((await api.call('GET', '/v1/sociotechnicians/ada')).body.scorecard.goals[0].status).toBe(
        'at_risk',
      );
      expect((await api.call('GET', '/v1/sociotechnicians/nobody')).status).toBe(404);
    });
  });
}

querySuite('in-process bus + DuckDB', () => standalone('queries'));
querySuite('Kafka + ClickHouse', () => distributed('queries'));
