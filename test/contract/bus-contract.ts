import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, Consumption, IncomingRecord, RecordBatch } from '../../services/ports/bus.js';
import { Deferred } from '../../services/runtime/sync.js';

/** What every Bus adapter must do; run by test/unit/memory-bus.test.ts and test/integration/bus-kafka.test.ts. */
export interface BusContractOptions {
  /** A started bus with a topic prefix no other test uses. */
  createBus(): Promise<Bus>;
  /** Upper bound for one condition to come true (a Kafka rebalance takes seconds). */
  waitMs: number;
}

const TOPIC = 'contract.events';

export function busContract(label: string, { createBus, waitMs }: BusContractOptions): void {
  describe(`Bus contract: ${label}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    });

    async function setup(partitions = 3): Promise<Bus> {
      const bus = await createBus();
      cleanups.push(() => bus.stop());
      await bus.ensureTopics([{ name: TOPIC, partitions }]);
      await bus.ensureTopics([{ name: TOPIC, partitions }]); // idempotent
      return bus;
    }

    async function consume(
      bus: Bus,
      sink: Sink,
      group: string | null,
      fromBeginning = true,
    ): Promise<Consumption> {
      const c = await bus.consume({
        topic: TOPIC,
        group,
        fromBeginning,
        onBatch: (batch) => sink.onBatch(batch),
        onAssign: async (ps) => void sink.events.push(...ps.map((p) => `assign:${p}`)),
        onRevoke: async (ps) => void sink.events.push(...ps.map((p) => `revoke:${p}`)),
      });
      cleanups.push(() => c.stop());
      return c;
    }

    it('delivers every record once to a group, in order per key', async () => {
      const bus = await setup();
      await bus.publish(TOPIC, records(['a', 'b', 'c', 'd', 'e', 'f'], 0, 20));
      const sink = new Sink();
      const c = await consume(bus, sink, 'g1');
      await expect.poll(() => sink.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(120);
      expect(c.healthy()).toBe(true);
      expect(sink.values().sort()).toEqual(
        records(['a', 'b', 'c', 'd', 'e', 'f'], 0, 20)
          .map((r) => r.value)
          .sort(),
      );
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const seqs = sink.records.filter((r) => r.key === key).map((r) => seq(r));
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        // One key, one partition.
        expect(new Set(sink.records.filter((r) => r.key === key).map((r) => r.partition)).size).toBe(1);
      }
      expect(new Set(sink.records.map((r) => r.partition)).size).toBeGreaterThan(1);
      // Records carry their headers and the logical topic name.
      expect(sink.records[0]!.headers['glasshouse-agency']).toBe('agency-1');
      expect(sink.records[0]!.topic).toBe(TOPIC);
      expect(sink.events.filter((e) => e.startsWith('assign:')).sort()).toEqual([
        'assign:0',
        'assign:1',
        'assign:2',
      ]);
    });

    it('resumes from the committed offsets after a restart, without redelivery', async () => {
      const bus = await setup();
      await bus.publish(TOPIC, records(['a', 'b', 'c'], 0, 10));
      const first = new Sink();
      const c1 = await consume(bus, first, 'g2');
      await expect.poll(() => first.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(30);
      await c1.stop();
      await bus.publish(TOPIC, records(['a', 'b', 'c'], 10, 5));
      const second = new Sink();
      await consume(bus, second, 'g2');
      await expect.poll(() => second.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(15);
      // A barrier: a record published now arrives after anything that could have been redelivered.
      await bus.publish(TOPIC, [{ key: 'a', value: 'barrier' }]);
      await expect.poll(() => second.values().includes('barrier'), { timeout: waitMs }).toBe(true);
      expect(
        second
          .values()
          .filter((v) => v !== 'barrier')
          .sort(),
      ).toEqual(
        records(['a', 'b', 'c'], 10, 5)
          .map((r) => r.value)
          .sort(),
      );
    });

    it('redelivers a batch whose handler threw, and commits none of it', async () => {
      const bus = await setup(1);
      await bus.publish(TOPIC, records(['a'], 0, 5));
      const attempts: string[][] = [];
      let failuresLeft = 2;
      const c1 = await bus.consume({
        topic: TOPIC,
        group: 'g3',
        fromBeginning: true,
        onBatch: async (batch) => {
          attempts.push(batch.records.map((r) => r.offset));
          if (failuresLeft-- > 0) throw new Error('store unavailable');
        },
      });
      cleanups.push(() => c1.stop());
      await expect.poll(() => attempts.length, { timeout: waitMs }).toBeGreaterThanOrEqual(3);
      expect(attempts[0]![0]).toBe('0');
      expect(attempts[1]![0]).toBe('0');
      expect(attempts[2]![0]).toBe('0');
      await c1.stop();

      // A handler that always throws commits nothing: the next member starts again at offset 0.
      const neverOk: string[] = [];
      const c2 = await bus.consume({
        topic: TOPIC,
        group: 'g4',
        fromBeginning: true,
        onBatch: async (batch) => {
          neverOk.push(batch.records[0]!.offset);
          throw new Error('poison');
        },
      });
      await expect.poll(() => neverOk.length, { timeout: waitMs }).toBeGreaterThanOrEqual(2);
      expect(c2.healthy()).toBe(true);
      await c2.stop();
      const again = new Sink();
      await consume(bus, again, 'g4');
      await expect.poll(() => again.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(5);
      expect(again.records[0]!.offset).toBe('0');
    });

    it('with receipts, delivers on before a batch is durable and commits it only once it is', async () => {
      const bus = await setup(1);
      const handed: Array<{ offsets: string[]; durable: Deferred }> = [];
      const delivered = () => handed.flatMap((h) => h.offsets);
      const c1 = await bus.consume({
        topic: TOPIC,
        group: 'g-receipts',
        fromBeginning: true,
        onBatch: async (batch) => {
          const durable = new Deferred();
          handed.push({ offsets: batch.records.map((r) => r.offset), durable });
          return { durable: durable.promise };
        },
      });
      cleanups.push(() => c1.stop());
      await bus.publish(TOPIC, records(['a'], 0, 3));
      await expect.poll(() => delivered().length, { timeout: waitMs }).toBeGreaterThanOrEqual(3);
      // The first records are not durable yet, and the next ones still come.
      await bus.publish(TOPIC, records(['a'], 3, 3));
      await expect.poll(() => delivered().length, { timeout: waitMs }).toBeGreaterThanOrEqual(6);
      expect(delivered()).toEqual(['0', '1', '2', '3', '4', '5']);

      // The later batch becomes durable, the first one fails: nothing is committed, and the
      // partition comes again from the first record.
      const firstRound = handed.length;
      handed[firstRound - 1]!.durable.resolve();
      handed[0]!.durable.reject(new Error('store unavailable'));
      await expect
        .poll(() => handed.length > firstRound && delivered().filter((o) => o === '5').length >= 2, {
          timeout: waitMs,
        })
        .toBe(true);
      expect(handed[firstRound]!.offsets[0]).toBe('0');
      for (const h of handed.slice(firstRound)) h.durable.resolve();
      await c1.stop();

      // Everything durable was committed: the next member of the group starts after it.
      await bus.publish(TOPIC, records(['a'], 6, 1));
      const next = new Sink();
      await consume(bus, next, 'g-receipts');
      await expect.poll(() => next.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(1);
      expect(next.values()).toEqual(['a#6']);
    });

    it('delivers a refused batch again as soon as its partition is resumed, not after the backoff', async () => {
      const bus = await setup(1);
      await bus.publish(TOPIC, records(['a'], 0, 1));
      let attempts = 0;
      let refuse = true;
      const c = await bus.consume({
        topic: TOPIC,
        group: 'g-resume',
        fromBeginning: true,
        onBatch: async () => {
          attempts++;
          if (refuse) throw new Error('not ready');
        },
      });
      cleanups.push(() => c.stop());
      // After the fifth refusal the backoff is 1.6 to 3.2 s.
      await expect.poll(() => attempts, { timeout: waitMs + 5_000 }).toBeGreaterThanOrEqual(5);
      refuse = false;
      const before = attempts;
      c.resume([0]);
      await expect.poll(() => attempts, { timeout: 1_000 }).toBeGreaterThan(before);
    });

    it('splits the partitions between two members of one group', async () => {
      const bus = await setup();
      const a = new Sink();
      const b = new Sink();
      await consume(bus, a, 'g5');
      await consume(bus, b, 'g5');
      // Both members own some of the three partitions, and each partition has one owner.
      await expect
        .poll(
          () => [a.owned().length > 0, b.owned().length > 0, [...a.owned(), ...b.owned()].sort().join()],
          {
            timeout: waitMs,
          },
        )
        .toEqual([true, true, '0,1,2']);
      await bus.publish(TOPIC, records(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 0, 5));
      await expect
        .poll(() => a.records.length + b.records.length, { timeout: waitMs })
        .toBeGreaterThanOrEqual(40);
      expect([...a.values(), ...b.values()].sort()).toEqual(
        records(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 0, 5)
          .map((r) => r.value)
          .sort(),
      );
      for (const r of a.records) expect(a.owned()).toContain(r.partition);
      for (const r of b.records) expect(b.owned()).toContain(r.partition);
    });

    it('gives a broadcast reader every record, from the beginning or from now', async () => {
      const bus = await setup();
      await bus.publish(TOPIC, records(['a', 'b', 'c'], 0, 4));
      const all1 = new Sink();
      const all2 = new Sink();
      const fromNow = new Sink();
      await consume(bus, all1, null, true);
      await consume(bus, all2, null, true);
      await consume(bus, fromNow, null, false);
      await bus.publish(TOPIC, records(['a', 'b', 'c'], 4, 2));
      await expect
        .poll(() => all1.records.length >= 18 && all2.records.length >= 18 && fromNow.records.length >= 6, {
          timeout: waitMs,
        })
        .toBe(true);
      expect(all1.values().sort()).toEqual(all2.values().sort());
      expect(fromNow.values().sort()).toEqual(
        records(['a', 'b', 'c'], 4, 2)
          .map((r) => r.value)
          .sort(),
      );
      expect(all1.owned().sort()).toEqual([0, 1, 2]);
    });

    it('holds back a paused partition until it is resumed', async () => {
      const bus = await setup();
      const sink = new Sink();
      const c = await consume(bus, sink, 'g6');
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];
      await bus.publish(TOPIC, records(keys, 0, 1));
      await expect.poll(() => sink.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(keys.length);
      const partitionOf = new Map(sink.records.map((r) => [r.key, r.partition]));
      const paused = partitionOf.get('k0')!;
      const elsewhere = keys.filter((k) => partitionOf.get(k) !== paused);
      expect(elsewhere.length).toBeGreaterThan(0);
      c.pause([paused]);
      await bus.publish(TOPIC, records(keys, 1, 2));
      const round2 = (k: string) => sink.records.filter((r) => r.key === k && seq(r) >= 1).length;
      await expect.poll(() => elsewhere.map(round2), { timeout: waitMs }).toEqual(elsewhere.map(() => 2));
      expect(keys.filter((k) => !elsewhere.includes(k)).map(round2)).toEqual(
        keys.filter((k) => !elsewhere.includes(k)).map(() => 0),
      );
      c.resume([paused]);
      await expect.poll(() => keys.map(round2), { timeout: waitMs }).toEqual(keys.map(() => 2));
      expect(c.healthy()).toBe(true);
    });

    it('runs onAssign before the first batch of a partition', async () => {
      const bus = await setup();
      await bus.publish(TOPIC, records(['a', 'b', 'c', 'd'], 0, 2));
      const order: string[] = [];
      const c = await bus.consume({
        topic: TOPIC,
        group: 'g7',
        fromBeginning: true,
        onAssign: async (ps) => {
          await new Promise((r) => setTimeout(r, 50)); // a slow state restore
          order.push(...ps.map((p) => `assign:${p}`));
        },
        onBatch: async (batch) => void order.push(`batch:${batch.partition}`),
      });
      cleanups.push(() => c.stop());
      expect(order.filter((e) => e.startsWith('assign:')).length).toBe(3);
      await expect
        .poll(() => order.filter((e) => e.startsWith('batch:')).length, { timeout: waitMs })
        .toBeGreaterThanOrEqual(2);
      for (const [i, e] of order.entries()) {
        if (e.startsWith('batch:')) expect(order.slice(0, i)).toContain(`assign:${e.slice(6)}`);
      }
    });

    it('names the partition a key is published to (partitionFor)', async () => {
      const bus = await setup(5);
      const keys = Array.from({ length: 40 }, (_, i) => `module-${i}`);
      await bus.publish(TOPIC, records(keys, 0, 1));
      const sink = new Sink();
      await consume(bus, sink, 'g8');
      await expect.poll(() => sink.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(keys.length);
      for (const r of sink.records) expect(await bus.partitionFor(TOPIC, r.key!)).toBe(r.partition);
      expect(new Set(sink.records.map((r) => r.partition)).size).toBeGreaterThan(2);
      const err = await bus.partitionFor('contract.missing', 'a').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'bus_topic_unknown' });
    });

    it('with concurrency, keeps each partition in order, one batch at a time, committed after onBatch', async () => {
      const bus = await setup();
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
      await bus.publish(TOPIC, records(keys, 0, 30));
      const sink = new Sink();
      const inFlight = new Set<number>();
      let twice = false;
      const c = await bus.consume({
        topic: TOPIC,
        group: 'g9',
        fromBeginning: true,
        concurrency: 3,
        onBatch: async (batch) => {
          if (inFlight.has(batch.partition)) twice = true;
          inFlight.add(batch.partition);
          await new Promise((r) => setTimeout(r, 5));
          sink.records.push(...batch.records);
          inFlight.delete(batch.partition);
        },
      });
      cleanups.push(() => c.stop());
      await expect.poll(() => sink.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(180);
      expect(twice).toBe(false);
      for (const key of keys) {
        const seqs = sink.records.filter((r) => r.key === key).map((r) => seq(r));
        expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i));
      }
      await c.stop();
      // Committed: the same group starts after everything it handled.
      await bus.publish(TOPIC, records(keys, 30, 1));
      const after = new Sink();
      await consume(bus, after, 'g9');
      await expect.poll(() => after.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(6);
      expect(after.records.map((r) => seq(r))).toEqual([30, 30, 30, 30, 30, 30]);
    });

    it('rejects a publish to a topic that does not exist, with a stable code', async () => {
      const bus = await setup();
      const err = await bus.publish('contract.missing', [{ key: 'a', value: 'x' }]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'bus_topic_unknown', retriable: false });
    });

    it('publishes one call bigger than a broker request may be, whole and in order', async () => {
      const bus = await setup(1);
      const sink = new Sink();
      await consume(bus, sink, 'g-big');
      const padding = 'x'.repeat(700);
      const big = Array.from({ length: 3000 }, (_, i) => ({ key: 'a', value: `a#${i}#${padding}` }));
      await bus.publish(TOPIC, big);
      await expect.poll(() => sink.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(3000);
      expect(sink.records.map(seq)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    });

    it('confirms concurrent publishes each on its own: one to a missing topic fails alone, the rest keep their order', async () => {
      const bus = await setup(3);
      const sink = new Sink();
      await consume(bus, sink, 'g-concurrent');
      const batches = Array.from({ length: 20 }, (_, i) => records(['a', 'b'], i * 5, 5));
      const results = await Promise.allSettled([
        ...batches.map((b) => bus.publish(TOPIC, b)),
        bus.publish('contract.missing', [{ key: 'a', value: 'x' }]),
      ]);
      expect(results.slice(0, 20).every((r) => r.status === 'fulfilled')).toBe(true);
      expect(results[20]).toMatchObject({ status: 'rejected', reason: { code: 'bus_topic_unknown' } });
      await expect.poll(() => sink.records.length, { timeout: waitMs }).toBeGreaterThanOrEqual(200);
      for (const key of ['a', 'b']) {
        const order = sink.records.filter((r) => r.key === key).map(seq);
        expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i));
      }
    });
  });
}

class Sink {
  readonly records: IncomingRecord[] = [];
  readonly events: string[] = [];
  async onBatch(batch: RecordBatch): Promise<void> {
    this.records.push(...batch.records);
  }
  values(): string[] {
    return this.records.map((r) => r.value.toString('utf8'));
  }
  /** Partitions currently assigned, from the assign/revoke events. */
  owned(): number[] {
    const owned = new Set<number>();
    for (const e of this.events) {
      const [kind, p] = e.split(':');
      if (kind === 'assign') owned.add(Number(p));
      else owned.delete(Number(p));
    }
    return [...owned];
  }
}

function records(keys: string[], from: number, count: number) {
  const out: { key: string; value: string; headers: Record<string, string> }[] = [];
  for (let i = from; i < from + count; i++) {
    for (const key of keys)
      out.push({ key, value: `${key}#${i}`, headers: { 'glasshouse-agency': 'agency-1' } });
  }
  return out;
}

function seq(r: IncomingRecord): number {
  return Number(r.value.toString('utf8').split('#')[1]);
}
