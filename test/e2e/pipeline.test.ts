import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LiveClient } from '../support/gateway-harness.js';
import { call, eventually, expectCall, seedModule } from '../support/http-client.js';
import { type Deployment, distributed, standalone } from './setups.js';

/**
 * One end-to-end scenario, two deployments: the standalone process (in-process bus + DuckDB) and the
 * distributed roles (each its own server, on Kafka + ClickHouse). Same requests, same expectations.
 */
const setups: Array<[string, () => Promise<Deployment>]> = [
  ['standalone (one process, in-process bus, DuckDB)', standalone],
  [
    'distributed (one server per role, Kafka, ClickHouse)',
    () => distributed(inject('kafkaBrokers'), inject('clickhouseUrl')),
  ],
];

describe.each(setups)('pipeline end to end: %s', (_name, setup) => {
  let d: Deployment;
  let live: LiveClient | undefined;

  beforeAll(async () => {
    d = await setup();
  });
  afterAll(async () => {
    live?.socket.terminate();
    await d?.stop();
  });

  it('shows an off-target module live, alerts, and takes an audited acknowledgement', async () => {
    const moduleId = 'e2e-permits';
    const agencyKey = await seedModule(d.apiUrl, d.adminToken, {
      id: moduleId,
      owner: 'e2e-owner',
      agency: 'e2e-agency',
      goals: [
        {
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
        },
      ],
    });
    const overseer = await expectCall(d.apiUrl, 'POST', '/v1/overseers', 201, {
      token: d.adminToken,
      body: { id: 'e2e-desk', name: 'Oversight desk' },
    });
    // Every role has read the new module before events arrive (each role keeps its own registry view).
    await eventually(
      async () =>
        (await call(d.apiUrl, 'GET', `/v1/modules/${moduleId}`)).status === 200 ? true : undefined,
      10_000,
      () => 'module not readable',
    );

    live = await LiveClient.connect(new URL('/v1/live', d.liveUrl.replace(/^http/, 'ws')).toString());
    live.send({ op: 'subscribe', channel: `module:${moduleId}` });
    live.send({ op: 'subscribe', channel: 'alerts' });
    for (const channel of [`module:${moduleId}`, 'alerts']) {
      await live.until(`snapshot of ${channel}`, (ms) =>
        ms.find((m) => m.type === 'snapshot' && m.channel === channel),
      );
    }

    // Off target: 10 against 100 (shortfall 0.9 > tolerance 0.1), held 0 s → alert at once.
    const now = Date.now();
    const events = Array.from({ length: 5 }, (_, i) => ({
      eventId: `e2e-${now}-${i}`,
      moduleId,
      metric: 'permits_processed',
      value: 10,
      observedAt: now - i * 100,
    }));
    const posted = await eventually(
      async () => {
        const answer = await call(d.ingestUrl, 'POST', '/v1/metrics', { token: agencyKey, body: { events } });
        // Ingest may not have read the new agency key or module yet (distributed): retry until it has.
        return answer.status === 202 && answer.body.accepted + answer.body.duplicates === 5
          ? answer.body
          : undefined;
      },
      15_000,
      () => 'ingest never accepted the events',
    );
    expect(posted.rejected).toEqual([]);
    const postedAt = Date.now();

    const update = await live.until(
      'an off_track update',
      (ms) =>
        ms.find(
          (m) =>
            m.type === 'update' &&
            m.channel === `module:${moduleId}` &&
            (m.data as { status: string }).status === 'off_track',
        ),
      10_000,
    );
    expect(update.data).toMatchObject({ moduleId, goalId: 'processed', status: 'off_track', value: 10 });
    const alert = await live.until(
      'a goal_deviation alert',
      (ms) =>
        ms.find(
          (m) =>
            m.type === 'alert' &&
            m.channel === 'alerts' &&
            (m.data as { kind: string; moduleId: string }).kind === 'goal_deviation' &&
            (m.data as { moduleId: string }).moduleId === moduleId,
        ),
      10_000,
    );
    const opened = alert.data as { alertId: string; version: number; state: string };
    expect(opened.state).toBe('firing');
    expect(Date.now() - postedAt).toBeLessThan(10_000);

    // The overseer acknowledges over the socket: ok, then the new version is broadcast.
    live.send({ op: 'auth', token: overseer.token });
    await live.until('auth ok', (ms) => ms.find((m) => m.type === 'ok' && m.op === 'auth'));
    live.send({ op: 'ack', alertId: opened.alertId, note: 'Investigating the backlog' });
    await live.until('ack ok', (ms) =>
      ms.find((m) => m.type === 'ok' && m.op === 'ack' && m.alertId === opened.alertId),
    );
    const acked = await live.until(
      'the acknowledged version',
      (ms) =>
        ms.find(
          (m) =>
            m.type === 'alert' &&
            (m.data as { alertId: string; acknowledgedBy?: string }).alertId === opened.alertId &&
            (m.data as { acknowledgedBy?: string }).acknowledgedBy !== undefined,
        ),
      10_000,
    );
    expect(acked.data).toMatchObject({
      alertId: opened.alertId,
      acknowledgedBy: 'e2e-desk',
      note: 'Investigating the backlog',
    });
    expect((acked.data as { version: number }).version).toBeGreaterThan(opened.version);

    // The acknowledgement is in the public audit trail, and the chain verifies.
    const entry = await eventually(
      async () => {
        const { body } = await call(d.apiUrl, 'GET', '/v1/audit');
        return (body?.items as Array<{ action: string; subject: string; actor: string }> | undefined)?.find(
          (e) => e.action === 'alert.acknowledge' && e.subject === `alert:${opened.alertId}`,
        );
      },
      10_000,
      () => 'no alert.acknowledge entry in the audit trail',
    );
    expect(entry.actor).toBe('overseer:e2e-desk');
    const verify = await expectCall(d.apiUrl, 'GET', '/v1/audit/verify', 200);
    expect(verify).toMatchObject({ valid: true });
    expect(verify.length).toBeGreaterThanOrEqual(5);
  });
});
