import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type AlertEvent, commandHeader, commandSignatureHeader } from '../../schemas/alert.js';
import type { PerformanceUpdate } from '../../schemas/performance.js';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { acknowledgementRoutes } from '../../services/api/routes/acknowledgements.js';
import { signCommand } from '../../services/core/validation/index.js';
import { AlertAcknowledger } from '../../services/oversight/acknowledge.js';
import { AlertVersions, AlertVersionsReader } from '../../services/oversight/alert-versions.js';
import type { Bus } from '../../services/ports/bus.js';
import { type Clock, systemClock } from '../../services/ports/clock.js';
import type { Store } from '../../services/ports/store.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { startApi } from '../support/api-harness.js';
import { signedAck, testCommandKey } from '../support/command-key.js';
import { LiveClient, RecordingAudit, startGateway } from '../support/gateway-harness.js';
import { collect, meanGoalModule, metricRecord, values, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

// Acknowledgement end to end with the processor as the only writer of alert versions, a restarted
// gateway's snapshot from the store, and a module that stays silent across a processor restart.
const logger = pino({ level: 'silent' });
const token = 'overseer-token-0123456789';

interface Deployment {
  bus: Bus;
  store: Store;
  waitMs: number;
}

const deployments: Array<[string, () => Promise<Deployment>]> = [
  [
    'in-process bus and DuckDB',
    async () => {
      const bus = new MemoryBus({ retryBaseMs: 5 });
      const store = new DuckDbStore({ path: ':memory:', logger });
      return { bus, store, waitMs: 10_000 };
    },
  ],
  [
    'Kafka and ClickHouse',
    async () => {
      const suffix = randomBytes(4).toString('hex');
      const bus = new KafkaBus({
        brokers: inject('kafkaBrokers').split(','),
        clientId: 'oversight-test',
        topicPrefix: `oversight-${suffix}`,
        logger,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 300,
        maxWaitTimeMs: 300,
      });
      const store = new ClickHouseStore({
        url: inject('clickhouseUrl'),
        database: `oversight_${suffix}`,
        logger,
      });
      return { bus, store, waitMs: 30_000 };
    },
  ],
];

const toStop: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const part of toStop.splice(0).reverse()) await part.stop().catch(() => {});
});

function registry(): FixtureRegistry {
  return new FixtureRegistry({
    modules: [meanGoalModule('er-wait'), { ...meanGoalModule('quiet-clinic'), maxSilence: '6s' }],
    sociotechnicians: [{ id: 'ada', name: 'Ada Lovelace' }],
    principals: [{ kind: 'overseer', id: 'oversight-desk', name: 'Oversight Desk', secret: token }],
  });
}

async function open(make: () => Promise<Deployment>): Promise<Deployment> {
  const d = await make();
  await d.bus.start();
  toStop.push(d.bus);
  await d.bus.ensureTopics(topicSpecs);
  await d.store.start();
  toStop.push(d.store);
  await d.store.migrate();
  return d;
}

async function processor(
  d: Deployment,
  reg: FixtureRegistry,
  metrics = new Registry(),
  clock: Clock = systemClock,
): Promise<Processor> {
  const p = new Processor({
    bus: d.bus,
    store: d.store,
    registry: reg,
    clock,
    logger,
    metrics: new ProcessorMetrics(metrics),
    commandKey: testCommandKey,
    tickMs: 100,
  });
  await p.start();
  toStop.push(p);
  return p;
}

describe.each(deployments)('oversight on %s', (_label, make) => {
  it('acknowledges over the socket and HTTP; the processor writes every version, once', async () => {
    const d = await open(make);
    const reg = registry();
    const metrics = new Registry();
    await processor(d, reg, metrics);
    const raw = await collect(d.bus, Topics.metricsRaw);
    const published = await collect(d.bus, Topics.alertsEvents);
    const dlq = await collect(d.bus, Topics.metricsDlq);
    toStop.push(raw, published, dlq);
    // The api role's side: its own reader of alert versions and the HTTP route.
    const reader = new AlertVersionsReader(d.bus, new AlertVersions());
    await reader.start();
    toStop.push(reader);
    const apiAudit = new RecordingAudit();
    const acknowledger = new AlertAcknowledger({
      bus: d.bus,
      store: d.store,
      audit: apiAudit,
      clock: systemClock,
      versions: reader.versions,
      commandKey: testCommandKey,
    });
    const gw = await startGateway({
      bus: d.bus,
      registry: reg,
      store: d.store,
      routes: (app) => acknowledgementRoutes(app, { registry: reg, acknowledger }),
    });
    toStop.push(gw);
    const post = (id: string, body: unknown, auth = `Bearer ${token}`) =>
      fetch(`http://127.0.0.1:${gw.port}/v1/alerts/${id}/ack`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify(body),
      });

    const t0 = Date.now();
    await d.bus.publish(Topics.metricsRaw, [
      metricRecord('er-wait', 'e1', 20, t0),
      metricRecord('er-wait', 'e2', 200, t0 + 1),
    ]);
    const firing = await waitUntil(
      'a firing goal_deviation',
      () => values<AlertEvent>(published.records).find((a) => a.state === 'firing'),
      d.waitMs,
    );

    // An agency producing straight to metrics.raw cannot forge an acknowledgement: unsigned, signed
    // with another key, or a signature lifted from another command, each goes to the DLQ unexecuted.
    const forged = { alertId: firing.alertId, by: 'agency-forger', note: 'all fine here', at: Date.now() };
    const unsigned = signedAck('er-wait', forged);
    delete (unsigned.headers as Record<string, string>)[commandSignatureHeader];
    const lifted = signedAck('er-wait', { ...forged, note: 'a note an overseer signed' });
    await d.bus.publish(Topics.metricsRaw, [
      unsigned,
      signedAck('er-wait', forged, randomBytes(32)),
      { ...lifted, value: JSON.stringify(forged) },
    ]);
    await waitUntil('the forged commands in the DLQ', () => dlq.records.length === 3, d.waitMs);
    expect(dlq.records.map((r) => r.headers['glasshouse-dlq-reason'])).toEqual([
      'command_unauthenticated',
      'command_unauthenticated',
      'command_unauthenticated',
    ]);

    const overseer = await LiveClient.connect(gw.url);
    toStop.push({ stop: async () => overseer.close() });
    overseer.send({ op: 'auth', token });
    overseer.send({ op: 'ack', alertId: firing.alertId, note: 'looking into it' });
    expect(await overseer.next('ok', (m) => m.op === 'ack', 0, d.waitMs)).toEqual({
      type: 'ok',
      op: 'ack',
      alertId: firing.alertId,
    });
    expect(gw.audit.records).toMatchObject([{ action: 'alert.acknowledge', rationale: 'looking into it' }]);

    const viaHttp = await post(firing.alertId, { note: 'extra shift from Monday' });
    expect(viaHttp.status).toBe(200);
    const second = (await viaHttp.json()) as AlertEvent;
    expect(second).toMatchObject({
      alertId: firing.alertId,
      version: firing.version + 2,
      state: 'firing',
      acknowledgedBy: 'oversight-desk',
      note: 'extra shift from Monday',
    });
    expect(apiAudit.records).toMatchObject([
      { actor: 'overseer:oversight-desk', action: 'alert.acknowledge' },
    ]);

    // The processor's next version (the resolve) keeps the acknowledgement.
    await d.bus.publish(
      Topics.metricsRaw,
      Array.from({ length: 20 }, (_, i) => metricRecord('er-wait', `r${i}`, 10, t0 + 2 + i)),
    );
    const resolved = await waitUntil(
      'the resolve',
      () => values<AlertEvent>(published.records).find((a) => a.state === 'resolved'),
      d.waitMs,
    );
    expect(resolved).toMatchObject({ version: second.version + 1, note: 'extra shift from Monday' });
    expect(resolved.acknowledgedAt).toBe(second.acknowledgedAt);

    // A resolved alert is acknowledged from its stored latest version.
    const late = await post(firing.alertId, { note: 'post-mortem filed' });
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ version: resolved.version + 1, state: 'resolved' });

    expect((await post('f'.repeat(32), { note: 'x' })).status).toBe(404);
    expect((await post(firing.alertId, { note: 'x' }, 'Bearer wrong-token-0123456789')).status).toBe(401);
    expect((await post(firing.alertId, { note: '  ' })).status).toBe(400);

    // A replayed command changes nothing; a malformed one is set aside, not judged as a metric event.
    const acks = () =>
      raw.records.filter(
        (r) =>
          r.headers[commandHeader] === 'alert.ack' && !JSON.parse(r.value.toString()).by.includes('forger'),
      );
    // The processor's answer shows it read the third command, not that this reader has yet.
    await waitUntil('three ack commands read', () => acks().length >= 3, d.waitMs);
    const commands = acks();
    expect(commands).toHaveLength(3);
    // Replayed in order, as after a restart: older commands followed by newer ones make no version.
    await d.bus.publish(Topics.metricsRaw, [
      ...commands.map((c) => ({ key: c.key, value: c.value, headers: c.headers })),
      {
        key: 'er-wait',
        value: '{"alertId":"nope"}',
        headers: {
          [commandHeader]: 'alert.ack',
          [commandSignatureHeader]: signCommand(testCommandKey, 'alert.ack', 'er-wait', '{"alertId":"nope"}'),
        },
      },
    ]);
    await waitUntil(
      'the replays seen as unchanged',
      async () => /outcome="unchanged"} 3/.test(await metrics.metrics()),
      d.waitMs,
    );
    await waitUntil('the bad command in the DLQ', () => dlq.records.length === 4, d.waitMs);
    expect(dlq.records[3]!.headers['glasshouse-dlq-reason']).toBe('invalid_command');
    expect(values<AlertEvent>(published.records).filter((a) => a.acknowledgedBy === 'agency-forger')).toEqual(
      [],
    );
    const stored = await d.store.select('alerts', {
      where: [{ column: 'alert_id', op: '=', value: firing.alertId }],
    });
    expect(stored.filter((r) => (r.body as AlertEvent).acknowledgedBy === 'agency-forger')).toEqual([]);

    // One writer: versions 1..n, each number carried by exactly one body.
    const mine = values<AlertEvent>(published.records).filter((a) => a.alertId === firing.alertId);
    const byVersion = new Map<number, Set<string>>();
    for (const a of mine)
      byVersion.set(a.version, (byVersion.get(a.version) ?? new Set()).add(JSON.stringify(a)));
    expect([...byVersion.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: resolved.version + 1 }, (_, i) => i + 1),
    );
    expect([...byVersion.values()].every((bodies) => bodies.size === 1)).toBe(true);
  });

  it('stops acknowledgements on an open socket once its overseer is revoked; the connection stays', async () => {
    const d = await open(make);
    const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
    const api = await startApi({ bus: d.bus, store: d.store, adminToken });
    toStop.push(api);
    const issued = await api.call('POST', '/v1/overseers', {
      token: adminToken,
      body: { id: 'night-desk', name: 'Night desk' },
    });
    expect(issued.status).toBe(201);
    // The gateway sees credentials through the same registry view as the api (as in one process).
    const gw = await startGateway({ bus: d.bus, registry: api.registry, store: d.store });
    toStop.push(gw);
    const overseer = await LiveClient.connect(gw.url);
    toStop.push({ stop: async () => overseer.close() });
    overseer.send({ op: 'auth', token: issued.body.token });
    await overseer.next('ok', (m) => m.op === 'auth');
    // Authenticated: an ack of an unknown alert gets past authentication to the lookup.
    overseer.send({ op: 'ack', alertId: 'f'.repeat(32), note: 'checking' });
    expect(await overseer.next('error', (m) => m.op === 'ack')).toMatchObject({ code: 'alert_not_found' });

    const from = overseer.messages.length;
    expect((await api.call('DELETE', '/v1/overseers/night-desk', { token: adminToken })).status).toBe(200);
    // The open socket is told at once, and its next ack is refused.
    expect(await overseer.next('error', (m) => m.op === 'auth', from)).toMatchObject({
      code: 'unauthorized',
    });
    overseer.send({ op: 'ack', alertId: 'f'.repeat(32), note: 'still checking' });
    expect(await overseer.next('error', (m) => m.op === 'ack', from)).toMatchObject({ code: 'unauthorized' });
    overseer.send({ op: 'subscribe', channel: 'alerts' });
    await overseer.next('ok', (m) => m.op === 'subscribe', from);
    expect(overseer.closed).toBeUndefined();
    expect(gw.audit.records).toEqual([]);
  });

  it('starts a gateway with the stored updates and open alerts, and gives a silent module its data_gap after a processor restart', async () => {
    const d = await open(make);
    const reg = registry();
    // The first processor's clock stands still, so quiet-clinic's 6 s of silence cannot pass before
    // it stops, however long the gateway below takes to start; the second runs on the system clock.
    const t0 = Date.now();
    const first = await processor(d, reg, new Registry(), { now: () => t0 });
    const published = await collect(d.bus, Topics.alertsEvents);
    toStop.push(published);
    await d.bus.publish(Topics.metricsRaw, [
      metricRecord('er-wait', 'e1', 200, t0),
      metricRecord('quiet-clinic', 'q1', 20, t0),
    ]);
    await waitUntil(
      'both modules stored',
      async () => {
        const updates = await d.store.select('performance_updates');
        const alerts = await d.store.select('alerts');
        return new Set(updates.map((u) => u.module_id)).size === 2 && alerts.length > 0;
      },
      d.waitMs,
    );

    // A gateway started now knows what the store knows before anything new is published.
    const gw = await startGateway({ bus: d.bus, registry: reg, store: d.store });
    toStop.push(gw);
    const viewer = await LiveClient.connect(gw.url);
    toStop.push({ stop: async () => viewer.close() });
    viewer.send({ op: 'subscribe', channel: 'module:er-wait' });
    viewer.send({ op: 'subscribe', channel: 'alerts' });
    const moduleSnapshot = await viewer.next('snapshot', (m) => m.channel === 'module:er-wait');
    expect(moduleSnapshot.data as PerformanceUpdate[]).toMatchObject([
      { goalId: 'wait', status: 'off_track' },
    ]);
    const alertSnapshot = await viewer.next('snapshot', (m) => m.channel === 'alerts');
    expect(alertSnapshot.data as AlertEvent[]).toMatchObject([{ moduleId: 'er-wait', state: 'firing' }]);

    // The processor restarts; quiet-clinic sends nothing more, yet its silence is noticed.
    await first.stop();
    expect(values<AlertEvent>(published.records).some((a) => a.kind === 'data_gap')).toBe(false);
    await processor(d, reg);
    const gap = await waitUntil(
      'a data_gap for the silent module',
      () => values<AlertEvent>(published.records).find((a) => a.kind === 'data_gap'),
      d.waitMs,
    );
    expect(gap).toMatchObject({ moduleId: 'quiet-clinic', state: 'firing' });
  });
});
