import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertAckCommand, commandHeader, publicAlert, storedAlert } from '../../schemas/alert.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { acknowledgeAlert } from '../../services/core/performance/index.js';
import { Topics } from '../../services/ports/topics.js';
import {
  LiveClient,
  publishLive,
  type RunningGateway,
  sampleAlert,
  sampleUpdate,
  startGateway,
} from '../support/gateway-harness.js';
import { collect, waitUntil } from '../support/processor-harness.js';
import { sampleRegistry } from '../support/registry-fixture.js';

// The live protocol end to end over real sockets, on the in-process bus.
let bus: MemoryBus;
let gw: RunningGateway;
const clients: LiveClient[] = [];
const collectors: Array<{ stop(): Promise<void> }> = [];

async function connect(): Promise<LiveClient> {
  const client = await LiveClient.connect(gw.url);
  clients.push(client);
  return client;
}

beforeEach(async () => {
  bus = new MemoryBus({ topicPrefix: 'gw-live' });
  await bus.start();
  gw = await startGateway({ bus, registry: sampleRegistry(), limits: { historyPerChannel: 5 } });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const c of collectors.splice(0)) await c.stop();
  await gw?.stop();
  await bus.stop();
});

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

describe('subscribe', () => {
  it('answers ok, then a snapshot, then updates with increasing seq on module and domain channels', async () => {
    const client = await connect();
    client.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
    client.send({ op: 'subscribe', channel: 'domain:transit' });
    const snapshot = await client.next('snapshot', (m) => m.channel === 'module:bus-punctuality');
    expect(snapshot).toMatchObject({ seq: 0, data: [], epoch: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(client.messages[0]).toEqual({ type: 'ok', op: 'subscribe', channel: 'module:bus-punctuality' });
    await client.next('snapshot', (m) => m.channel === 'domain:transit');

    await publishLive(bus, [
      sampleUpdate({ asOf: at(1), value: 91 }),
      sampleUpdate({ asOf: at(2), value: 92 }),
      sampleUpdate({ asOf: at(3), value: 80, status: 'off_track', shortfall: 0.11 }),
    ]);
    const updates = await client.until('three module updates', (ms) => {
      const found = ms.filter((m) => m.type === 'update' && m.channel === 'module:bus-punctuality');
      return found.length === 3 && found;
    });
    expect(updates.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(updates.map((m) => (m.data as { value: number }).value)).toEqual([91, 92, 80]);
    expect(updates.every((m) => m.epoch === snapshot.epoch)).toBe(true);
    const domain = await client.until('three domain updates', (ms) => {
      const found = ms.filter((m) => m.type === 'update' && m.channel === 'domain:transit');
      return found.length === 3 && found;
    });
    expect(domain.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('frames carry the public update (asOf as RFC 3339 text) for the epoch ms the bus carries, and read a record written in the public shape', async () => {
    const client = await connect();
    client.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
    await client.next('snapshot', (m) => m.channel === 'module:bus-punctuality');
    const sent = sampleUpdate({ asOf: at(1), value: 91 });
    await publishLive(bus, [sent]);
    // A record of the public shape (as written before the bus carried epoch ms) is read as well.
    const legacy = sampleUpdate({ asOf: at(2), value: 92 });
    await bus.publish(Topics.performanceUpdates, [{ key: legacy.moduleId, value: JSON.stringify(legacy) }]);
    const frames = await client.until('two module updates', (ms) => {
      const found = ms.filter((m) => m.type === 'update' && m.channel === 'module:bus-punctuality');
      return found.length === 2 && found;
    });
    expect(frames.map((m) => m.data)).toEqual([sent, legacy]);
    expect(JSON.stringify(frames[0]!.data)).toBe(JSON.stringify(sent));
  });

  it('snapshots the latest update per goal and the open alerts', async () => {
    await publishLive(bus, [
      sampleUpdate({ asOf: at(1), value: 91 }),
      sampleUpdate({ asOf: at(2), value: 70, status: 'off_track', shortfall: 0.22 }),
      sampleUpdate({
        asOf: at(2),
        goalId: 'cost',
        ruleKind: 'constraint',
        metric: 'cost_per_trip',
        target: 12,
        value: 11,
      }),
      sampleAlert({ alertId: 'b'.repeat(32) }),
      sampleAlert({ alertId: 'c'.repeat(32) }),
      sampleAlert({ alertId: 'c'.repeat(32), version: 2, state: 'resolved', resolvedAt: at(3) }),
    ]);
    const client = await connect();
    client.send({ op: 'subscribe', channel: 'alerts' });
    const alerts = await client.until('an alerts snapshot with one alert', (ms) => {
      const s = ms.find((m) => m.type === 'snapshot');
      return s && (s.data as unknown[]).length === 1 ? s : undefined;
    });
    expect((alerts.data as Array<{ alertId: string }>)[0]?.alertId).toBe('b'.repeat(32));
    client.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
    const module = await client.next('snapshot', (m) => m.channel === 'module:bus-punctuality');
    const data = module.data as Array<{ goalId: string; value: number }>;
    expect(data.map((u) => [u.goalId, u.value]).sort()).toEqual([
      ['cost', 11],
      ['ontime', 70],
    ]);
    expect(module.seq).toBe(3);
    client.send({ op: 'subscribe', channel: 'scoreboard' });
    const board = await client.next('snapshot', (m) => m.channel === 'scoreboard');
    expect(board.data).toEqual([
      {
        owner: 'ada',
        name: 'Ada Lovelace',
        modules: 1,
        goals: { on_track: 0, at_risk: 0, off_track: 1, no_data: 0 },
        stagnating: 0,
        openAlerts: 1,
      },
      {
        owner: 'grace',
        name: 'Grace Hopper',
        modules: 1,
        goals: { on_track: 0, at_risk: 0, off_track: 0, no_data: 1 },
        stagnating: 0,
        openAlerts: 0,
      },
    ]);
  });
});

describe('resume', () => {
  it('replays exactly the missed messages after a drop, with the same epoch', async () => {
    const first = await connect();
    first.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
    const snapshot = await first.next('snapshot');
    await publishLive(bus, [
      sampleUpdate({ asOf: at(1), value: 1 }),
      sampleUpdate({ asOf: at(2), value: 2 }),
    ]);
    await first.until('two updates', (ms) => ms.filter((m) => m.type === 'update').length === 2);
    first.close();
    await first.closedWith();

    await publishLive(bus, [
      sampleUpdate({ asOf: at(3), value: 3 }),
      sampleUpdate({ asOf: at(4), value: 4 }),
      sampleUpdate({ asOf: at(5), value: 5 }),
    ]);
    const again = await connect();
    again.send({ op: 'subscribe', channel: 'module:bus-punctuality', since: 2, epoch: snapshot.epoch });
    await again.until('three replayed updates', (ms) => ms.filter((m) => m.type === 'update').length === 3);
    await publishLive(bus, [sampleUpdate({ asOf: at(6), value: 6 })]);
    await again.until('the next live update', (ms) => ms.filter((m) => m.type === 'update').length === 4);
    expect(
      again.messages.map((m) =>
        m.type === 'update' ? [m.seq, (m.data as { value: number }).value] : m.type,
      ),
    ).toEqual(['ok', [3, 3], [4, 4], [5, 5], [6, 6]]);
  });

  it('sends a fresh snapshot marked recovered:false for another epoch or a gap beyond history', async () => {
    await publishLive(
      bus,
      Array.from({ length: 8 }, (_, i) => sampleUpdate({ asOf: at(i + 1), value: i + 1 })),
    );
    const client = await connect();
    client.send({ op: 'subscribe', channel: 'module:bus-punctuality', since: 3, epoch: 'another-replica' });
    const stale = await client.next('snapshot');
    expect(stale).toMatchObject({ recovered: false, seq: 8 });
    expect((stale.data as Array<{ value: number }>).map((u) => u.value)).toEqual([8]);

    // History keeps 5 messages (seq 4-8): resuming after seq 1 would miss 2 and 3.
    client.send({ op: 'unsubscribe', channel: 'module:bus-punctuality' });
    client.send({ op: 'subscribe', channel: 'module:bus-punctuality', since: 1, epoch: stale.epoch });
    const gap = await client.next('snapshot', () => true, client.messages.length);
    expect(gap).toMatchObject({ recovered: false, seq: 8 });

    const from = client.messages.length;
    client.send({ op: 'unsubscribe', channel: 'module:bus-punctuality' });
    client.send({ op: 'subscribe', channel: 'module:bus-punctuality', since: 3, epoch: stale.epoch });
    await client.until(
      'five replayed updates',
      (ms) => ms.slice(from).filter((m) => m.type === 'update').length === 5,
    );
    expect(
      client.messages
        .slice(from)
        .filter((m) => m.type === 'update')
        .map((m) => m.seq),
    ).toEqual([4, 5, 6, 7, 8]);
    expect(client.messages.slice(from).some((m) => m.type === 'snapshot')).toBe(false);
  });
});

describe('alerts and oversight', () => {
  it('delivers alert versions live; an overseer ack becomes a command for the processor, answered with its version', async () => {
    const viewer = await connect();
    viewer.send({ op: 'subscribe', channel: 'alerts:bus-punctuality' });
    await viewer.next('snapshot');
    const alert = sampleAlert();
    await publishLive(bus, [alert]);
    const live = await viewer.next('alert');
    expect(live).toMatchObject({
      channel: 'alerts:bus-punctuality',
      seq: 1,
      data: { alertId: alert.alertId, version: 1 },
    });
    const raw = await collect(bus, Topics.metricsRaw);
    const versions = await collect(bus, Topics.alertsEvents);
    collectors.push(raw, versions);

    const overseer = await connect();
    overseer.send({ op: 'ack', alertId: alert.alertId, note: 'looking into it' });
    expect(await overseer.next('error')).toMatchObject({ code: 'unauthorized', op: 'ack' });
    overseer.send({ op: 'auth', token: 'not-a-token' });
    expect(await overseer.next('error', (m) => m.op === 'auth')).toMatchObject({ code: 'unauthorized' });
    overseer.send({ op: 'auth', token: 'overseer-token-0123456789' });
    await overseer.next('ok', (m) => m.op === 'auth');
    overseer.send({ op: 'ack', alertId: 'f'.repeat(32), note: 'unknown' });
    expect(await overseer.next('error', (m) => m.op === 'ack' && m.code !== 'unauthorized')).toMatchObject({
      code: 'alert_not_found',
    });
    const note = 'Depot B short of drivers; extra shift from Monday';
    overseer.send({ op: 'ack', alertId: alert.alertId, note });

    // The gateway writes no alert version itself: it sends the processor a command, keyed by module.
    const [command] = await waitUntil('the ack command', () =>
      raw.records.length > 0 ? raw.records : undefined,
    );
    expect(command).toMatchObject({ key: 'bus-punctuality', headers: { [commandHeader]: 'alert.ack' } });
    const body = AlertAckCommand.parse(JSON.parse(command!.value.toString('utf8')));
    expect(body).toMatchObject({ alertId: alert.alertId, by: 'oversight-desk', note });
    expect(gw.audit.records).toEqual([
      expect.objectContaining({
        actor: 'overseer:oversight-desk',
        action: 'alert.acknowledge',
        subject: `alert:${alert.alertId}`,
        rationale: note,
      }),
    ]);
    expect(overseer.messages.some((m) => m.type === 'ok' && m.op === 'ack')).toBe(false);

    // What the processor then writes: the next version carrying the acknowledgement.
    await publishLive(bus, [publicAlert(acknowledgeAlert(storedAlert(alert), body.by, body.note, body.at))]);
    expect(await overseer.next('ok', (m) => m.op === 'ack')).toEqual({
      type: 'ok',
      op: 'ack',
      alertId: alert.alertId,
    });
    const acked = await viewer.next('alert', (m) => (m.data as { version: number }).version === 2);
    expect(acked).toMatchObject({
      seq: 2,
      data: { alertId: alert.alertId, acknowledgedBy: 'oversight-desk', note, state: 'firing' },
    });
    expect(versions.records).toHaveLength(2);
  });

  it('answers ack_pending when the acknowledged version does not arrive in time', async () => {
    const slow = await startGateway({ bus, registry: sampleRegistry(), ackWaitMs: 300 });
    try {
      const alert = sampleAlert({ alertId: 'b'.repeat(32) });
      await publishLive(bus, [alert]);
      await waitUntil('the alert known', () => slow.gateway.state.alert(alert.alertId));
      const overseer = await LiveClient.connect(slow.url);
      clients.push(overseer);
      overseer.send({ op: 'auth', token: 'overseer-token-0123456789' });
      overseer.send({ op: 'ack', alertId: alert.alertId, note: 'no processor is running' });
      expect(await overseer.next('error', (m) => m.op === 'ack')).toMatchObject({ code: 'ack_pending' });
    } finally {
      await slow.stop();
    }
  });
});

describe('two gateways on one bus', () => {
  it('both deliver every update to their own subscribers', async () => {
    const other = await startGateway({ bus, registry: sampleRegistry() });
    try {
      const a = await connect();
      const b = await LiveClient.connect(other.url);
      clients.push(b);
      for (const c of [a, b]) c.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
      const [snapA, snapB] = await Promise.all([a.next('snapshot'), b.next('snapshot')]);
      expect(snapA.epoch).not.toBe(snapB.epoch);
      await publishLive(
        bus,
        Array.from({ length: 20 }, (_, i) => sampleUpdate({ asOf: at(i + 1), value: i })),
      );
      for (const c of [a, b]) {
        await c.until('20 updates', (ms) => ms.filter((m) => m.type === 'update').length === 20);
        expect(
          c.messages.filter((m) => m.type === 'update').map((m) => (m.data as { value: number }).value),
        ).toEqual(Array.from({ length: 20 }, (_, i) => i));
      }
    } finally {
      await other.stop();
    }
  });
});
