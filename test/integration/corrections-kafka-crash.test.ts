import { afterAll, describe, expect, it } from 'vitest';
import { agencyHeader } from '../../schemas/metric-event.js';
import type { PerformanceUpdate } from '../../schemas/performance.js';
import type { PolicyModuleInput } from '../../schemas/registry.js';
import type { OutgoingRecord } from '../../services/ports/bus.js';
import { Topics } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { kafkaClickHouseRig } from '../support/kafka-clickhouse-rig.js';
import { type GlasshouseProcess, runGlasshouse } from '../support/process.js';
import { waitUntil } from '../support/processor-harness.js';

// The processor as its own OS process on Kafka and ClickHouse, killed with SIGKILL while a stream of
// events and corrections (of corrections, and retractions) flows: afterwards every number agrees
// with the corrected set, which the test knows (it produced every record straight to metrics.raw).
const toStop: Array<{ stop(): Promise<void> }> = [];
const processes: GlasshouseProcess[] = [];

afterAll(async () => {
  for (const p of processes)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const part of toStop.reverse()) await part.stop().catch(() => {});
});

const goal = (id: string, aggregation: string) => ({
  id,
  metric: 'wait_minutes',
  unit: 'min',
  direction: 'decrease' as const,
  target: 1e9,
  tolerance: 0.1,
  window: '1h',
  aggregation: aggregation as 'count',
  minSamples: 1,
  hold: '0s',
});

const modules: PolicyModuleInput[] = Array.from({ length: 4 }, (_, i) => ({
  id: `c${i}`,
  domain: 'health',
  title: `Module c${i}`,
  owner: 'ada',
  agencies: ['clinic-agency'],
  allowedLateness: '10m',
  goals: [goal('volume', 'count'), goal('total', 'sum'), goal('peak', 'max')],
}));

/** What the test sent, per module: each chain's ids (oldest first), its value now, retracted or not. */
class Model {
  readonly chains = new Map<string, Array<{ ids: string[]; value: number; retracted: boolean }>>();

  records(t0: number, round: number): OutgoingRecord[] {
    const out: OutgoingRecord[] = [];
    for (const m of modules) {
      const chains = this.chains.get(m.id) ?? [];
      this.chains.set(m.id, chains);
      const value = 1 + ((round * 7 + m.id.length) % 50);
      const eventId = `${m.id}-${round}`;
      out.push(record(m.id, { eventId, value, observedAt: t0 + round * 100 }));
      chains.push({ ids: [eventId], value, retracted: false });
      const live = chains.filter((c) => !c.retracted);
      if (round % 3 === 2 && live.length > 1) {
        const chain = live[(round * 31) % live.length]!;
        // Name the newest version, or an older one: the chain resolves to its newest either way.
        const supersedes = chain.ids[(round % 2) * (chain.ids.length - 1)]!;
        const id = `${m.id}-r${round}`;
        const restated = value + 60;
        out.push(
          record(m.id, {
            eventId: id,
            value: restated,
            observedAt: t0 + round * 100 - 5_000,
            supersedes,
            note: 'restated',
          }),
        );
        chain.ids.push(id);
        chain.value = restated;
      }
      if (round % 10 === 9 && live.length > 2) {
        const chain = live[(round * 17) % live.length]!;
        if (chain.retracted) continue;
        const id = `${m.id}-x${round}`;
        out.push(
          record(m.id, {
            eventId: id,
            value: chain.value,
            observedAt: t0 + round * 100,
            supersedes: chain.ids.at(-1),
            retract: true,
          }),
        );
        chain.ids.push(id);
        chain.retracted = true;
      }
    }
    return out;
  }

  totals(moduleId: string): { count: number; sum: number; max: number } {
    const live = (this.chains.get(moduleId) ?? []).filter((c) => !c.retracted);
    return {
      count: live.length,
      sum: live.reduce((s, c) => s + c.value, 0),
      max: Math.max(...live.map((c) => c.value)),
    };
  }
}

function record(moduleId: string, event: Record<string, unknown>): OutgoingRecord {
  return {
    key: moduleId,
    value: JSON.stringify({ moduleId, metric: 'wait_minutes', ...event }),
    headers: { [agencyHeader]: 'clinic-agency' },
  };
}

describe('processor on Kafka and ClickHouse killed with SIGKILL during corrections', () => {
  it('is exact afterwards: windows, rollups and verify-rollups agree with the corrected set', async () => {
    const s = await kafkaClickHouseRig('corr', modules, toStop);
    const start = () => {
      const p = runGlasshouse(['start', '--role', 'processor'], s.env);
      processes.push(p);
      return p;
    };
    const model = new Model();
    const t0 = Date.now() - 60_000;
    const stream = async (from: number, to: number) => {
      for (let round = from; round < to; round++)
        await s.bus.publish(Topics.metricsRaw, model.records(t0, round));
    };
    const first = start();
    await first.ready();
    await stream(0, 60);
    await waitUntil(
      'part of the stream stored',
      async () =>
        (await s.store.select('metric_events', { where: [{ column: 'supersedes', op: '!=', value: '' }] }))
          .length >= 20,
      30_000,
      20,
    );
    first.child.kill('SIGKILL');
    await first.exited();
    await stream(60, 90);
    const second = start();
    await second.ready();
    await stream(90, 120);

    for (const m of modules) {
      const expected = model.totals(m.id);
      const latest = async (goalId: string) => {
        const [row] = await s.store.select('performance_updates', {
          where: [
            { column: 'module_id', op: '=', value: m.id },
            { column: 'goal_id', op: '=', value: goalId },
          ],
          orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
          limit: 1,
        });
        return row?.body as PerformanceUpdate | undefined;
      };
      await waitUntil(
        `${m.id}: live numbers of the corrected set ${JSON.stringify(expected)}`,
        async () =>
          (await latest('volume'))?.value === expected.count &&
          (await latest('total'))?.value === expected.sum &&
          (await latest('peak'))?.value === expected.max,
        60_000,
        250,
      );
      // Rollups are a batch's last write, after its performance updates: wait for them too.
      const rollupCount = async () => {
        const rollups = await s.store.select('rollups', {
          where: [
            { column: 'module_id', op: '=', value: m.id },
            { column: 'rule_id', op: '=', value: 'volume' },
          ],
        });
        return rollups.reduce((n, r) => n + r.count, 0);
      };
      await waitUntil(
        `${m.id}: rollup count`,
        async () => (await rollupCount()) === expected.count,
        30_000,
        250,
      ).catch(() => {}); // the assertion below names the figures
      expect(await rollupCount(), `${m.id}: rollup count`).toBe(expected.count);
      const report = await verifyModule(s.store, m.id);
      expect(report?.differences, `${m.id}: verify-rollups`).toEqual([]);
    }
    expect(await s.store.select('dead_letters')).toEqual([]);
  }, 240_000);
});
