import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LiveClient } from '../support/gateway-harness.js';
import { call, eventually, expectCall, seedModule } from '../support/http-client.js';
import { type Deployment, distributed, standalone } from './setups.js';

/**
 * A flood of wrong keys for a real (public) agency id and wrong tokens for a real overseer id must not
 * lock out the holders of right credentials, neither on first use nor after a restart (nothing cached).
 */
const setups: Array<[string, () => Promise<Deployment>]> = [
  ['standalone', standalone],
  ['distributed (Kafka, ClickHouse)', () => distributed(inject('kafkaBrokers'), inject('clickhouseUrl'))],
];

const moduleId = 'flood-permits';
const liveUrl = (d: Deployment) => new URL('/v1/live', d.liveUrl).href.replace('http', 'ws');
const agency = 'flood-agency';
const desk = 'flood-desk';

function metricsBody() {
  return {
    events: [
      {
        eventId: `ev-${randomBytes(6).toString('hex')}`,
        moduleId,
        metric: 'permits_processed',
        value: 100,
        observedAt: Date.now(),
      },
    ],
  };
}

/**
 * 32 HTTP workers posting with wrong agency keys and 16 sockets sending wrong oversight tokens 10
 * times a second each, until stopped. Returns the statuses the HTTP flood got.
 */
function flood(d: Deployment) {
  let running = true;
  const statuses = new Map<number, number>();
  const http = Array.from({ length: 32 }, async () => {
    while (running) {
      const bogus = `gh_agency_${agency}_${randomBytes(32).toString('hex')}`;
      const answer = await call(d.ingestUrl, 'POST', '/v1/metrics', {
        token: bogus,
        body: metricsBody(),
      }).catch(() => ({ status: 0 }));
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
  });
  const sockets: LiveClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  const ws = (async () => {
    for (let i = 0; i < 16; i += 1) {
      const client = await LiveClient.connect(liveUrl(d));
      sockets.push(client);
      timers.push(
        setInterval(() => {
          client.send({ op: 'auth', token: `gh_overseer_${desk}_${randomBytes(32).toString('hex')}` });
        }, 100),
      );
    }
  })();
  return {
    statuses,
    /** Waits until the flood has been answered `n` times, so it is under way. */
    async underWay(n: number) {
      await ws;
      await eventually(
        async () => ([...statuses.values()].reduce((a, b) => a + b, 0) >= n ? true : undefined),
        20_000,
        () => `flood answered ${JSON.stringify([...statuses])}`,
      );
    },
    async stop() {
      running = false;
      await ws;
      for (const timer of timers) clearInterval(timer);
      await Promise.all(http);
      const flooded = sockets.filter((s) => s.closed === undefined).length;
      for (const s of sockets) s.socket.terminate();
      return flooded;
    },
  };
}

describe.each(setups)('credential checks under a flood: %s', (_name, setup) => {
  let d: Deployment;

  beforeAll(async () => {
    d = await setup();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('lets a right agency key and oversight token in while wrong ones flood, before and after a restart', async () => {
    const key = await seedModule(d.apiUrl, d.adminToken, {
      id: moduleId,
      owner: 'flood-owner',
      agency,
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
      body: { id: desk, name: 'Desk' },
    });
    // Issued last, on the one-partition registry topic: once ingest knows it, it knows the rest. The
    // agency's key and the overseer's token are not used before the flood, so nothing caches them.
    const probe = await expectCall(d.apiUrl, 'POST', '/v1/agencies', 201, {
      token: d.adminToken,
      body: { id: 'flood-probe', name: 'Probe' },
    });
    await eventually(
      async () =>
        (await call(d.ingestUrl, 'POST', '/v1/metrics', { token: probe.key, body: metricsBody() })).status ===
        202
          ? true
          : undefined,
      10_000,
      () => 'ingest has not read the new credentials',
    );
    const probeDesk = await expectCall(d.apiUrl, 'POST', '/v1/overseers', 201, {
      token: d.adminToken,
      body: { id: 'flood-probe-desk', name: 'Probe desk' },
    });
    await eventually(
      async () => {
        const live = await LiveClient.connect(liveUrl(d));
        try {
          live.send({ op: 'auth', token: probeDesk.token });
          const reply = await live.until('the auth answer', (messages) =>
            messages.find((m) => m.op === 'auth' || m.type === 'error'),
          );
          return reply.type === 'ok' ? true : undefined;
        } finally {
          live.socket.terminate();
        }
      },
      10_000,
      () => 'the gateway has not read the new credentials',
    );

    for (const round of ['first use', 'after a restart']) {
      if (round === 'after a restart') await d.restart();
      const f = flood(d);
      try {
        await f.underWay(200);
        const answer = await call(d.ingestUrl, 'POST', '/v1/metrics', { token: key, body: metricsBody() });
        expect({ round, status: answer.status, body: answer.body }).toMatchObject({ round, status: 202 });
        const live = await LiveClient.connect(liveUrl(d));
        try {
          live.send({ op: 'auth', token: overseer.token });
          const reply = await live.until('the auth answer', (messages) =>
            messages.find((m) => m.op === 'auth' || m.type === 'error'),
          );
          expect({ round, reply }).toEqual({ round, reply: { type: 'ok', op: 'auth' } });
        } finally {
          live.socket.terminate();
        }
      } finally {
        const open = await f.stop();
        // The flood was refused, never let in, and the flooding sockets were not the ones closed for it.
        expect([...f.statuses.keys()].every((s) => s === 401 || s === 429)).toBe(true);
        expect(open).toBeGreaterThan(0);
      }
    }
  });
});
