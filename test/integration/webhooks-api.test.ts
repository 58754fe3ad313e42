import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import { verifySignature } from '../../services/api/webhooks/signing.js';
import type { Bus } from '../../services/ports/bus.js';
import { Topics } from '../../services/ports/topics.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { type Deployment, distributed, standalone, waitFor } from '../support/store-setups.js';

const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
const admin = { token: adminToken };
// Fast retries so a failing receiver is given up on within a test: 3 attempts, 50 ms then 100 ms.
// The receivers listen on this host, which deliveries may reach only when the operator allows it.
const env = {
  GLASSHOUSE_WEBHOOK_ATTEMPTS: '3',
  GLASSHOUSE_WEBHOOK_RETRY_MS: '50',
  GLASSHOUSE_WEBHOOK_ALLOW: '127.0.0.1/32',
};

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1 that answers with `status(n)` for its n-th request (1-based). */
async function receiver(status: (n: number) => number) {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(status(received.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let sequence = 0;
function alert(moduleId: string, over: Partial<AlertEvent> = {}): AlertEvent {
  sequence += 1;
  const now = new Date().toISOString();
  return {
    alertId: randomBytes(16).toString('hex'),
    version: 1,
    moduleId,
    moduleVersion: 1,
    ruleId: 'ontime',
    kind: 'goal_deviation',
    severity: 'critical',
    state: 'firing',
    owner: 'ada',
    openedAt: now,
    updatedAt: now,
    observed: 70 + sequence,
    target: 90,
    shortfall: 0.2,
    message: `on_time_rate mean ${70 + sequence} < 90 — "quoted", ünïcode`,
    ...over,
  };
}

async function publish(bus: Bus, alerts: AlertEvent[]) {
  await bus.publish(
    Topics.alertsEvents,
    alerts.map((a) => ({ key: a.moduleId, value: JSON.stringify(a) })),
  );
}

function webhookSuite(name: string, deploy: () => Promise<Deployment>) {
  describe(`webhooks (${name})`, () => {
    let deployment: Deployment;
    const apis: RunningApi[] = [];
    const receivers: Array<{ close(): Promise<void> }> = [];
    let bus: Bus;
    let api: RunningApi;

    beforeAll(async () => {
      deployment = await deploy();
      bus = await deployment.bus();
      api = await startApi({ bus, store: deployment.store, adminToken, env });
      apis.push(api);
    });
    afterAll(async () => {
      for (const instance of apis.reverse()) await instance.stop();
      for (const r of receivers) await r.close();
      await deployment?.cleanup();
    });

    async function subscribe(url: string, extra: Record<string, unknown> = {}) {
      const created = await api.call('POST', '/v1/webhooks', { ...admin, body: { url, ...extra } });
      expect(created.status).toBe(201);
      return created.body as { webhook: { id: string }; secret: string };
    }

    async function deliveries(id: string, state?: string) {
      const answer = await api.call(
        'GET',
        `/v1/webhooks/${id}/deliveries${state ? `?state=${state}` : ''}`,
        admin,
      );
      expect(answer.status).toBe(200);
      return answer.body.items as Array<{
        state: string;
        attempts: number;
        alertId: string;
        alertVersion: number;
        lastError?: string;
      }>;
    }

    it('refuses subscriptions without an admin token or with a non-http(s) URL, and audits creation', async () => {
      expect((await api.call('POST', '/v1/webhooks', { body: { url: 'http://127.0.0.1:1/x' } })).status).toBe(
        401,
      );
      expect((await api.call('GET', '/v1/webhooks')).status).toBe(401);
      const bad = await api.call('POST', '/v1/webhooks', { ...admin, body: { url: 'file:///etc/passwd' } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe('url');
      const chosen = await subscribe('http://127.0.0.1:1/unused', { secret: 'a-secret-of-my-own-choosing' });
      expect(chosen.secret).toBe('a-secret-of-my-own-choosing');
      const list = await api.call('GET', '/v1/webhooks', admin);
      const shown = list.body.items.find((w: { id: string }) => w.id === chosen.webhook.id);
      expect(shown).toMatchObject({
        url: 'http://127.0.0.1:1/unused',
        events: expect.arrayContaining(['goal_deviation']),
      });
      expect(JSON.stringify(list.body)).not.toContain('a-secret-of-my-own-choosing');
      const removed = await api.call('DELETE', `/v1/webhooks/${chosen.webhook.id}`, admin);
      expect(removed.status).toBe(200);
      expect((await api.call('DELETE', `/v1/webhooks/${chosen.webhook.id}`, admin)).status).toBe(404);
      const after = await api.call('GET', '/v1/webhooks', admin);
      expect(after.body.items.map((w: { id: string }) => w.id)).not.toContain(chosen.webhook.id);
      const audit = await api.call('GET', '/v1/audit?limit=1000');
      const entries = audit.body.items.filter(
        (e: { subject: string }) => e.subject === `webhook:${chosen.webhook.id}`,
      );
      expect(entries.map((e: { action: string; actor: string }) => [e.action, e.actor])).toEqual([
        ['webhook.create', 'admin:bootstrap'],
        ['webhook.delete', 'admin:bootstrap'],
      ]);
      expect(JSON.stringify(entries)).not.toContain('a-secret-of-my-own-choosing');
    });

    it('POSTs every alert version, signed, in order; retries a failing receiver; keeps failures visible', async () => {
      const good = await receiver(() => 200);
      // Fails twice, then accepts: delivered on the third attempt.
      const flaky = await receiver((n) => (n <= 2 ? 503 : 200));
      const dead = await receiver(() => 500);
      receivers.push(good, flaky, dead);
      const goodHook = await subscribe(good.url);
      const flakyHook = await subscribe(flaky.url);
      const deadHook = await subscribe(dead.url, { events: ['goal_deviation'] });
      const onlyGaps = await subscribe(good.url.replace('/hook', '/gaps'), { events: ['data_gap'] });

      const first = alert('bus');
      const versions = [
        first,
        { ...first, version: 2, state: 'resolved' as const, resolvedAt: new Date().toISOString() },
      ];
      await publish(bus, versions);

      await waitFor(
        async () => (good.received.length >= 2 ? true : undefined),
        'two deliveries to the good receiver',
      );
      const bodies = good.received.map((r) => JSON.parse(r.body));
      expect(bodies.map((b) => [b.alert.alertId, b.alert.version])).toEqual([
        [first.alertId, 1],
        [first.alertId, 2],
      ]);
      expect(bodies[0]).toMatchObject({ type: 'alert', webhookId: goodHook.webhook.id, alert: versions[0] });
      for (const r of good.received) {
        expect(r.headers['content-type']).toBe('application/json');
        expect(verifySignature(goodHook.secret, r.body, r.headers['x-glasshouse-signature'] as string)).toBe(
          true,
        );
        expect(verifySignature(flakyHook.secret, r.body, r.headers['x-glasshouse-signature'] as string)).toBe(
          false,
        );
        const sent = Number(r.headers['x-glasshouse-timestamp']);
        expect(Math.abs(sent * 1000 - Date.parse(JSON.parse(r.body).sentAt))).toBeLessThan(1000);
        expect(r.headers['x-glasshouse-delivery']).toBe(JSON.parse(r.body).deliveryId);
      }

      // The flaky receiver got version 1 three times (two refusals, one success), then version 2.
      await waitFor(
        async () => (flaky.received.length >= 4 ? true : undefined),
        'the flaky receiver to recover',
      );
      expect(flaky.received.map((r) => JSON.parse(r.body).alert.version)).toEqual([1, 1, 1, 2]);
      const flakyDeliveries = await waitFor(async () => {
        const items = await deliveries(flakyHook.webhook.id);
        return items.length === 2 && items.every((d) => d.state === 'delivered') ? items : undefined;
      }, 'flaky deliveries recorded');
      expect(flakyDeliveries.map((d) => d.attempts).sort()).toEqual([1, 3]);

      // The dead receiver: 3 attempts for the first version, kept as failed and tried again with
      // backoff; the second waits behind it as pending and is never sent ahead of it.
      const queued = await waitFor(async () => {
        const items = await deliveries(deadHook.webhook.id);
        const failed = items.filter((d) => d.state === 'failed');
        const pending = items.filter((d) => d.state === 'pending');
        return failed.length === 1 && pending.length === 1 ? { failed, pending } : undefined;
      }, 'a failed delivery with one pending behind it');
      expect(queued.failed[0]).toMatchObject({
        alertVersion: 1,
        lastError: 'http_status_500',
      });
      expect(queued.failed[0]!.attempts).toBeGreaterThanOrEqual(3);
      expect(queued.pending[0]).toMatchObject({ alertVersion: 2, attempts: 0 });
      expect(dead.received.length).toBeGreaterThanOrEqual(3);
      expect(dead.received.every((r) => JSON.parse(r.body).alert.version === 1)).toBe(true);
      const status = (await api.call('GET', '/v1/webhooks', admin)).body.items;
      const deadStatus = status.find((w: { id: string }) => w.id === deadHook.webhook.id).delivery;
      expect(deadStatus).toMatchObject({
        failed: 1,
        pending: 1,
        delivered: 0,
        lastError: 'http_status_500',
      });
      expect(deadStatus.lastFailureAt).toEqual(expect.any(String));
      expect(deadStatus.lastSuccessAt).toBeUndefined();
      const goodStatus = status.find((w: { id: string }) => w.id === goodHook.webhook.id).delivery;
      expect(goodStatus).toMatchObject({ delivered: 2, failed: 0 });
      expect(goodStatus.lastSuccessAt).toEqual(expect.any(String));
      // A subscription to data_gap alerts only received nothing.
      expect(await deliveries(onlyGaps.webhook.id)).toEqual([]);
    });

    it('keeps every version for a receiver that is down and sends them all, in order, once it is back', async () => {
      let up = false;
      const accepted: Array<[string, number]> = [];
      const desk = await receiver((n) => {
        if (!up) return 503;
        const { alert: sent } = JSON.parse(desk.received[n - 1]!.body) as { alert: AlertEvent };
        accepted.push([sent.alertId, sent.version]);
        return 200;
      });
      receivers.push(desk);
      const hook = await subscribe(desk.url);
      const first = alert('desk');
      const other = alert('desk-2');
      const sent = [
        first,
        { ...first, version: 2, observed: 60 },
        { ...first, version: 3, state: 'resolved' as const, resolvedAt: new Date().toISOString() },
        other,
      ];
      await publish(bus, sent);

      // Down: the first version spends its attempts and is kept; the others queue behind it.
      await waitFor(async () => {
        const items = await deliveries(hook.webhook.id);
        const states = items.map((d) => d.state).sort();
        return states.join() === 'failed,pending,pending,pending' ? true : undefined;
      }, 'one failed and three pending deliveries');
      const listed = (await api.call('GET', '/v1/webhooks', admin)).body.items;
      expect(listed.find((w: { id: string }) => w.id === hook.webhook.id).delivery).toMatchObject({
        failed: 1,
        pending: 3,
        delivered: 0,
      });

      up = true;
      await waitFor(
        async () => {
          const items = await deliveries(hook.webhook.id, 'delivered');
          return items.length === sent.length ? true : undefined;
        },
        'every version delivered after the receiver recovered',
        30_000,
      );
      // Each version once; the versions of one alert in order (alerts of other modules travel on
      // other partitions, so their order relative to each other is not defined).
      expect(accepted).toHaveLength(sent.length);
      expect(accepted.filter(([id]) => id === first.alertId).map(([, v]) => v)).toEqual([1, 2, 3]);
      expect(accepted.filter(([id]) => id === other.alertId).map(([, v]) => v)).toEqual([1]);
      expect(await deliveries(hook.webhook.id, 'pending')).toEqual([]);
      expect(await deliveries(hook.webhook.id, 'failed')).toEqual([]);
    });

    it('delivers each alert version exactly once across two api replicas (one consumer group)', async () => {
      const second = await startApi({
        bus: await deployment.bus(),
        store: deployment.store,
        adminToken,
        env,
      });
      apis.push(second);
      const sink = await receiver(() => 200);
      receivers.push(sink);
      const hook = await subscribe(sink.url);
      const alerts = ['bus', 'tram', 'ferry', 'metro', 'bike', 'road', 'port', 'rail'].map((m) => alert(m));
      await publish(bus, alerts);
      await waitFor(
        async () => {
          const items = await deliveries(hook.webhook.id);
          return items.filter((d) => d.state === 'delivered').length >= alerts.length ? true : undefined;
        },
        'every alert delivered',
        60_000,
      );
      const ids = sink.received.map((r) => JSON.parse(r.body).alert.alertId).sort();
      expect(ids).toEqual(alerts.map((a) => a.alertId).sort());
    });
  });
}

webhookSuite('in-process bus + DuckDB', () => standalone('webhooks'));
webhookSuite('Kafka + ClickHouse', () => distributed('webhooks'));
