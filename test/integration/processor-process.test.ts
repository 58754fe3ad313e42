import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import type { KafkaBus } from '../../services/adapters/kafka/index.js';
import { Topics } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { type KafkaClickHouseRig, kafkaClickHouseRig } from '../support/kafka-clickhouse-rig.js';
import { type GlasshouseProcess, runGlasshouse } from '../support/process.js';
import { collect, meanGoalModule, metricRecord, values, waitUntil } from '../support/processor-harness.js';

// The processor as its own OS process (the real bin), killed with SIGKILL mid-stream: exactly-once
// rollups, no alert opened twice, open alerts still open; and two processes splitting the partitions.
const toStop: Array<{ stop(): Promise<void> }> = [];
const processes: GlasshouseProcess[] = [];

afterAll(async () => {
  for (const p of processes)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const part of toStop.reverse()) await part.stop().catch(() => {});
});

// Modules m0, m1 report off-target values only (one alert each, open to the end); the rest on target.
const modules = Array.from({ length: 8 }, (_, i) => meanGoalModule(`m${i}`));
const offTarget = new Set(['m0', 'm1']);

type Setup = KafkaClickHouseRig;

const setup = (name: string) => kafkaClickHouseRig(name, modules, toStop);

function startProcessor(env: NodeJS.ProcessEnv): GlasshouseProcess {
  const p = runGlasshouse(['start', '--role', 'processor'], env);
  processes.push(p);
  return p;
}

/** Publishes `rounds` rounds of one event per module, `perRound` ms of event time apart. */
async function stream(bus: KafkaBus, t0: number, from: number, to: number): Promise<void> {
  for (let round = from; round < to; round++) {
    await bus.publish(
      Topics.metricsRaw,
      modules.map((m) =>
        metricRecord(
          m.id,
          `${m.id}-${round}`,
          offTarget.has(m.id) ? 200 + (round % 7) : 10 + (round % 5),
          t0 + round * 20,
        ),
      ),
    );
  }
}

/** Everything counted exactly once, alerts opened once and still open, ground truth agrees. */
async function checkOutcome(s: Setup, rounds: number, alerts: AlertEvent[]): Promise<void> {
  await waitUntil(
    'every event in the stored rollups',
    async () => {
      const rows = await s.store.select('rollups');
      return rows.reduce((n, r) => n + r.count, 0) === rounds * modules.length;
    },
    60_000,
    250,
  );
  const events = await s.store.select('metric_events');
  expect(events.length).toBe(rounds * modules.length);
  for (const m of modules) {
    const report = await waitUntil(
      `ground truth for ${m.id}`,
      async () => {
        const r = await verifyModule(s.store, m.id);
        return r?.differences.length === 0 ? r : undefined;
      },
      20_000,
      250,
    );
    expect(report.events).toBe(rounds);
  }
  const stored = await s.store.select('alerts');
  const deviations = stored.filter((r) => r.kind === 'goal_deviation');
  expect(new Set(deviations.map((r) => r.module_id))).toEqual(offTarget);
  for (const id of offTarget) {
    const ids = new Set(deviations.filter((r) => r.module_id === id).map((r) => r.alert_id));
    expect(ids.size, `alerts opened for ${id}`).toBe(1);
    const latest = deviations.filter((r) => r.module_id === id).sort((a, b) => b.version - a.version)[0]!;
    expect(latest.state).toBe('firing');
  }
  // On the bus too: one alert id per off-target module (versions may be redelivered, never a second episode).
  const published = alerts.filter((a) => a.kind === 'goal_deviation');
  expect(new Set(published.map((a) => a.alertId)).size).toBe(offTarget.size);
}

describe('processor as an OS process', () => {
  let single: Setup;
  beforeAll(async () => {
    single = await setup('crash');
  });

  it('killed with SIGKILL mid-stream and restarted: nothing lost, nothing counted twice, alerts open once', async () => {
    const alerts = await collect(single.bus, Topics.alertsEvents);
    toStop.push(alerts);
    const first = startProcessor(single.env);
    await first.ready();
    const t0 = Date.now();
    await stream(single.bus, t0, 0, 100);
    // Kill once some of the stream is processed and stored, but (very likely) not all of it.
    await waitUntil(
      'part of the stream stored',
      async () => (await single.store.select('metric_events')).length >= 200,
      30_000,
      20,
    );
    first.child.kill('SIGKILL');
    await first.exited();
    await stream(single.bus, t0, 100, 150);
    const second = startProcessor(single.env);
    await second.ready();
    await stream(single.bus, t0, 150, 200);
    await checkOutcome(single, 200, values<AlertEvent>(alerts.records));
  });

  it('two processes split the partitions; killing one hands its partitions over without loss or double counting', async () => {
    const s = await setup('pair');
    const alerts = await collect(s.bus, Topics.alertsEvents);
    toStop.push(alerts);
    const a = startProcessor(s.env);
    await a.ready();
    const b = startProcessor(s.env);
    await b.ready();
    const owned = (p: GlasshouseProcess) => assignedPartitions(p.output());
    await waitUntil(
      'both processes own partitions',
      () => owned(a).length > 0 && owned(b).length > 0,
      40_000,
      200,
    );
    expect([...owned(a), ...owned(b)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const t0 = Date.now();
    await stream(s.bus, t0, 0, 100);
    await waitUntil(
      'part of the stream stored',
      async () => (await s.store.select('metric_events')).length >= 200,
      30_000,
      20,
    );
    b.child.kill('SIGKILL');
    await b.exited();
    await stream(s.bus, t0, 100, 200);
    await waitUntil('the survivor owns every partition', () => owned(a).length === 6, 60_000, 200);
    await checkOutcome(s, 200, values<AlertEvent>(alerts.records));
  });
});

/** The partitions a processor process holds now, from its last "partitions assigned"/"revoked" log lines. */
function assignedPartitions(output: string): number[] {
  const held = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { msg?: string; partitions?: number[] };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.msg === 'partitions assigned') for (const p of entry.partitions ?? []) held.add(p);
    if (entry.msg === 'partitions revoked') for (const p of entry.partitions ?? []) held.delete(p);
  }
  return [...held].sort((x, y) => x - y);
}
