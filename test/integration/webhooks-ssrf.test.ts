import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import type { Bus } from '../../services/ports/bus.js';
import { Topics } from '../../services/ports/topics.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { type Deployment, distributed, standalone, waitFor } from '../support/store-setups.js';

const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
const admin = { token: adminToken };
const env = { GLASSHOUSE_WEBHOOK_ATTEMPTS: '2', GLASSHOUSE_WEBHOOK_RETRY_MS: '50' };

/** A receiver on this host that counts what reaches it (nothing should, unless allowed). */
async function receiver() {
  let received = 0;
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function alert(): AlertEvent {
  const now = new Date().toISOString();
  return {
    alertId: randomBytes(16).toString('hex'),
    version: 1,
    moduleId: 'bus',
    moduleVersion: 1,
    ruleId: 'ontime',
    kind: 'goal_deviation',
    severity: 'critical',
    state: 'firing',
    owner: 'ada',
    openedAt: now,
    updatedAt: now,
    observed: 70,
    target: 90,
    shortfall: 0.2,
    message: 'on_time_rate mean 70 < 90',
  };
}

describe.each([
  ['in-process bus + DuckDB', () => standalone('webhook-ssrf')],
  ['Kafka + ClickHouse', () => distributed('webhook-ssrf')],
])('webhook destinations and the audit trail (%s)', (_name, deploy: () => Promise<Deployment>) => {
  let deployment: Deployment;
  let bus: Bus;
  let api: RunningApi;
  let sink: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    deployment = await deploy();
    bus = await deployment.bus();
    api = await startApi({ bus, store: deployment.store, adminToken, env });
    sink = await receiver();
  });
  afterAll(async () => {
    await api?.stop();
    await sink?.close();
    await deployment?.cleanup();
  });

  async function subscribe(url: string): Promise<string> {
    const created = await api.call('POST', '/v1/webhooks', { ...admin, body: { url } });
    expect(created.status).toBe(201);
    return created.body.webhook.id;
  }

  async function lastErrors(ids: string[]): Promise<Map<string, unknown>> {
    const listed = (await api.call('GET', '/v1/webhooks', admin)).body.items as Array<{
      id: string;
      delivery: { lastError?: string; delivered: number };
    }>;
    return new Map(listed.filter((w) => ids.includes(w.id)).map((w) => [w.id, w.delivery.lastError]));
  }

  it('shows scheme, host and a hash of a webhook URL in the public audit trail, never its credentials, path or port', async () => {
    const url = 'https://hook-user:hook-pass@hooks.example.org:8443/services/T0/B1?token=sekrit-token';
    const id = await subscribe(url);
    expect((await api.call('DELETE', `/v1/webhooks/${id}`, admin)).status).toBe(200);
    const audit = await api.call('GET', '/v1/audit?limit=1000');
    const entries = audit.body.items.filter((e: { subject: string }) => e.subject === `webhook:${id}`);
    expect(entries).toHaveLength(2);
    const target = {
      scheme: 'https',
      host: 'hooks.example.org',
      urlSha256: createHash('sha256').update(url).digest('hex'),
    };
    expect(entries[0].after).toMatchObject(target);
    expect(entries[1].before).toMatchObject(target);
    const text = JSON.stringify(entries);
    for (const secret of ['hook-user', 'hook-pass', 'sekrit-token', 'services/T0', '8443'])
      expect(text).not.toContain(secret);
  });

  it('refuses loopback, unspecified, mapped and metadata destinations after resolution, unless allowed; errors are categories', async () => {
    const port = sink.port;
    const urls = [
      `http://127.0.0.1:${port}/hook`,
      `http://localhost:${port}/hook`, // a name: refused after resolution
      `http://[::ffff:127.0.0.1]:${port}/hook`,
      `http://[::ffff:7f00:1]:${port}/hook`,
      `http://0.0.0.0:${port}/hook`,
      `http://[::]:${port}/hook`,
      `http://[::1]:${port}/hook`,
      `http://2130706433:${port}/hook`, // 127.0.0.1 as one number
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/meta-data/',
      'http://100.100.100.200/latest/meta-data/',
      'http://10.0.0.1:8123/?query=DROP',
      'http://127.0.0.1:1/closed-port',
    ];
    const ids: string[] = [];
    for (const url of urls) ids.push(await subscribe(url));
    await bus.publish(Topics.alertsEvents, [{ key: 'bus', value: JSON.stringify(alert()) }]);
    const errors = await waitFor(async () => {
      const found = await lastErrors(ids);
      return [...found.values()].every((e) => e !== undefined) ? found : undefined;
    }, 'a failed attempt for every destination');
    // The same answer for an open and a closed port, and nothing reached the receiver.
    expect([...errors.values()]).toEqual(urls.map(() => 'refused_address'));
    expect(sink.received()).toBe(0);

    // Every attempt is checked anew: with the same subscriptions, a replica whose operator allows
    // this receiver's host:port delivers the kept version on its next attempt.
    await api.stop();
    api = await startApi({
      bus,
      store: deployment.store,
      adminToken,
      env: { ...env, GLASSHOUSE_WEBHOOK_ALLOW: `localhost:${port}` },
    });
    const allowed = [ids[1]!];
    await waitFor(async () => {
      const listed = (await api.call('GET', '/v1/webhooks', admin)).body.items as Array<{
        id: string;
        delivery: { delivered: number };
      }>;
      return allowed.every((id) => listed.find((w) => w.id === id)?.delivery.delivered === 1)
        ? true
        : undefined;
    }, 'the allowed destinations delivered');
    expect(sink.received()).toBe(1);
    // The rest are still refused.
    const after = await lastErrors(ids.filter((id) => !allowed.includes(id)));
    expect([...after.values()].every((e) => e === 'refused_address')).toBe(true);
  });
});
