import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { LiveLimits } from '../../services/gateway/limits.js';
import {
  eventually,
  LiveClient,
  publishLive,
  type RunningGateway,
  sampleAlert,
  sampleUpdate,
  startGateway,
} from '../support/gateway-harness.js';
import { sampleRegistry } from '../support/registry-fixture.js';

// Every limit of /v1/live answers the way DESIGN.md documents, over real sockets.
let bus: MemoryBus;
let gw: RunningGateway | undefined;
const clients: LiveClient[] = [];

async function start(limits: Partial<LiveLimits>, allowedOrigins?: string[]): Promise<RunningGateway> {
  bus = new MemoryBus({ topicPrefix: 'gw-limits' });
  await bus.start();
  gw = await startGateway({
    bus,
    registry: sampleRegistry(),
    limits,
    ...(allowedOrigins ? { allowedOrigins } : {}),
  });
  return gw;
}

async function connect(headers: Record<string, string> = {}): Promise<LiveClient> {
  const client = await LiveClient.connect((gw as RunningGateway).url, headers);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await gw?.stop();
  gw = undefined;
  await bus?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (gw as RunningGateway).metricsText();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('bad input', () => {
  it('answers malformed JSON, unknown ops and invalid messages with an error and keeps the connection', async () => {
    await start({});
    const client = await connect();
    client.send('{"op":"subscribe",');
    expect(await client.next('error')).toEqual({
      type: 'error',
      code: 'malformed_json',
      message: 'the message is not valid JSON',
    });
    client.send({ op: 'shout', channel: 'alerts' });
    expect(await client.next('error', (m) => m.code === 'unknown_op')).toMatchObject({
      message: expect.stringContaining('subscribe'),
    });
    client.send('[1,2]');
    await client.until('a second unknown_op', (ms) => ms.filter((m) => m.code === 'unknown_op').length === 2);
    client.send({ op: 'subscribe', channel: 'module:Not Valid' });
    expect(await client.next('error', (m) => m.code === 'invalid_message')).toMatchObject({
      op: 'subscribe',
      message: expect.stringContaining('channel'),
    });
    client.send({ op: 'subscribe', channel: 'alerts', extra: true });
    await client.until(
      'a second invalid_message',
      (ms) => ms.filter((m) => m.code === 'invalid_message').length === 2,
    );
    // A lone surrogate (escaped, as JSON allows) is refused with its path before anything uses it.
    client.send('{"op":"ack","alertId":"a1","note":"x\\ud800"}');
    await client.until('an invalid_message naming the note', (ms) =>
      ms.some(
        (m) =>
          m.code === 'invalid_message' &&
          String(m.message).startsWith('note: ') &&
          /surrogate/.test(String(m.message)),
      ),
    );
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await client.next('error', (m) => m.code === 'binary_not_supported');
    client.send({ op: 'subscribe', channel: 'alerts' });
    await client.next('snapshot', (m) => m.channel === 'alerts');
    expect(client.closed).toBeUndefined();
  });

  it('closes with 1009 on a frame above maxPayload', async () => {
    await start({ maxPayload: 1024 });
    const client = await connect();
    client.send({ op: 'auth', token: 'x'.repeat(2000) });
    expect((await client.closedWith()).code).toBe(1009);
    expect(await metric('glasshouse_live_closed_total{reason="too_big"}')).toBe(1);
  });

  it('refuses subscriptions beyond the per-connection limit with an error, keeping the others', async () => {
    await start({ maxSubscriptions: 3 });
    const client = await connect();
    for (const channel of ['alerts', 'scoreboard', 'module:a', 'module:b', 'module:c'])
      client.send({ op: 'subscribe', channel });
    await client.until(
      'two refusals',
      (ms) => ms.filter((m) => m.code === 'too_many_subscriptions').length === 2,
    );
    expect(client.messages.filter((m) => m.type === 'snapshot').map((m) => m.channel)).toEqual([
      'alerts',
      'scoreboard',
      'module:a',
    ]);
    // Re-subscribing to a held channel is not a new subscription; unsubscribing frees a slot.
    client.send({ op: 'subscribe', channel: 'alerts' });
    client.send({ op: 'unsubscribe', channel: 'module:a' });
    client.send({ op: 'subscribe', channel: 'module:b' });
    await client.next('snapshot', (m) => m.channel === 'module:b');
    expect(client.messages.filter((m) => m.code === 'too_many_subscriptions')).toHaveLength(2);
  });

  it('closes a connection that floods messages with 4029', async () => {
    await start({ messagesPerSecond: 5, messageBurst: 10 });
    const flooder = await connect();
    const calm = await connect();
    for (let i = 0; i < 30; i += 1) flooder.send({ op: 'unsubscribe', channel: 'alerts' });
    expect((await flooder.closedWith()).code).toBe(4029);
    expect(flooder.messages.filter((m) => m.type === 'ok').length).toBeLessThanOrEqual(10);
    calm.send({ op: 'subscribe', channel: 'alerts' });
    await calm.next('snapshot');
  });
});

describe('upgrade guard', () => {
  it('refuses foreign origins with 403 and allows listed ones and non-browser clients', async () => {
    await start({}, ['https://glasshouse.example']);
    await expect(connect({ origin: 'https://evil.example' })).rejects.toThrow('upgrade refused with 403');
    await connect({ origin: 'https://glasshouse.example' });
    await connect();
    expect(await metric('glasshouse_live_refused_total{reason="origin_not_allowed"}')).toBe(1);
  });

  it('refuses connections beyond the per-address limit with 429, and frees the slot on close', async () => {
    await start({ maxConnectionsPerIp: 2 });
    const first = await connect();
    await connect();
    await expect(connect()).rejects.toThrow('upgrade refused with 429');
    first.socket.close();
    await first.closedWith();
    await eventually('a free slot', async () => {
      try {
        await connect();
        return true;
      } catch {
        return false;
      }
    });
  });

  it('holds the global limit under concurrent upgrades, counting handshakes in flight, and frees slots on close', async () => {
    await start({ maxConnections: 3, maxConnectionsPerIp: 100 });
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => connect()));
    const opened = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
    expect(opened).toHaveLength(3);
    expect(refused).toHaveLength(9);
    expect(refused.every((reason) => reason.includes('upgrade refused with 503'))).toBe(true);
    expect(await metric('glasshouse_live_refused_total{reason="too_many_connections"}')).toBe(9);
    const first = (opened[0] as PromiseFulfilledResult<LiveClient>).value;
    first.socket.close();
    await first.closedWith();
    await eventually('a free slot', async () => {
      try {
        await connect();
        return true;
      } catch {
        return false;
      }
    });
    await expect(connect()).rejects.toThrow('upgrade refused with 503');
  });

  it('answers 404 to upgrades on other paths', async () => {
    await start({});
    const socket = new WebSocket(`ws://127.0.0.1:${(gw as RunningGateway).port}/v1/elsewhere`);
    const status = await new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });
});

describe('slow consumers', () => {
  it('conflates a client that stops reading (alerts intact), then closes it with 4008 while others keep receiving', async () => {
    await start({
      conflateAboveBytes: 16 * 1024,
      closeAboveBytes: 8 * 1024 * 1024,
      slowConsumerGraceMs: 1_500,
    });
    const slow = await connect();
    const healthy = await connect();
    for (const client of [slow, healthy]) {
      client.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
      client.send({ op: 'subscribe', channel: 'alerts:bus-punctuality' });
      await client.until('two snapshots', (ms) => ms.filter((m) => m.type === 'snapshot').length === 2);
    }
    slow.socket.pause();

    // Phase 1: publish until the gateway conflates the paused client, with alert versions mixed in.
    // Each batch is published once the healthy client has everything before it, so the bus never runs ahead.
    let published = 0;
    let second = 0;
    const alertIds: string[] = [];
    const pump = async (withAlert: boolean) => {
      const updates = Array.from({ length: 500 }, (_, i) => {
        second += 1;
        return sampleUpdate({
          goalId: `goal-${i % 10}`,
          asOf: new Date(Date.UTC(2026, 0, 1) + second * 1000).toISOString(),
          value: second,
        });
      });
      await publishLive(bus, updates);
      published += updates.length;
      if (withAlert) {
        const alert = sampleAlert({ alertId: alertIds.length.toString(16).padStart(32, '0') });
        alertIds.push(alert.alertId);
        await publishLive(bus, [alert]);
      }
      await healthy.until(
        'every update so far',
        (ms) => ms.filter((m) => m.type === 'update').length === published,
        20_000,
      );
    };
    while ((await metric('glasshouse_live_conflated_total')) === 0) {
      if (published > 200_000) throw new Error('never conflated');
      await pump(true);
    }
    for (let i = 0; i < 5; i += 1) await pump(true);

    // Reading again in time: the backlog drains; every alert arrives, updates are the latest per goal.
    slow.socket.resume();
    await slow.until(
      'every alert version',
      (ms) => ms.filter((m) => m.type === 'alert').length === alertIds.length,
      20_000,
    );
    const updates = slow.messages.filter((m) => m.type === 'update');
    expect(updates.length).toBeLessThan(published);
    const lastPerGoal = new Map(
      updates.map((m) => [(m.data as { goalId: string }).goalId, (m.data as { value: number }).value]),
    );
    expect(Math.max(...lastPerGoal.values())).toBe(second);
    expect(
      slow.messages.filter((m) => m.type === 'alert').map((m) => (m.data as { alertId: string }).alertId),
    ).toEqual(alertIds);
    const seqs = updates.map((m) => m.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    // Phase 2: stop reading for good; once nothing drains for the grace period, the gateway closes it.
    slow.socket.pause();
    const before = published;
    while ((await metric('glasshouse_live_closed_total{reason="slow_consumer"}')) === 0) {
      if (published - before > 200_000) throw new Error('never closed');
      await pump(false);
    }
    slow.socket.resume();
    expect((await slow.closedWith()).code).toBe(4008);
    expect(healthy.closed).toBeUndefined();
  });
});
