import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { PerformanceUpdateMs } from '../../schemas/performance.js';
import type { RollupRow } from '../../services/core/performance/index.js';
import type { Bus, OutgoingRecord } from '../../services/ports/bus.js';
import type { Store } from '../../services/ports/store.js';
import type { Row } from '../../services/ports/tables.js';
import { emptyOutputs, type Outputs } from '../../services/processor/outputs.js';
import { PartitionWriter } from '../../services/processor/writer.js';
import { Deferred } from '../../services/runtime/sync.js';

/** A list of what happened, with a promise for each entry that resolves once it is there. */
function record() {
  const entries: string[] = [];
  const waiting = new Map<string, Deferred>();
  return {
    entries,
    push(entry: string) {
      entries.push(entry);
      waiting.get(entry)?.resolve();
    },
    /** Resolves once `entry` was pushed (at once if it already was). */
    seen(entry: string): Promise<void> {
      if (entries.includes(entry)) return Promise.resolve();
      const d = waiting.get(entry) ?? new Deferred();
      waiting.set(entry, d);
      return d.promise;
    },
  };
}

/**
 * A `timed` bound that expires when the test says so: `expire()` makes every flush being waited on time
 * out, and `flushes` are the flushes it was given (a timed-out one keeps running; awaiting it waits
 * for every step it starts).
 */
function manualTimeout() {
  const pending: Deferred[] = [];
  const flushes: Array<Promise<void>> = [];
  return {
    flushes,
    timed(work: Promise<void>): Promise<void> {
      const expiry = new Deferred();
      pending.push(expiry);
      flushes.push(work.catch(() => {}));
      return Promise.race([work, expiry.promise]);
    },
    expire() {
      for (const expiry of pending.splice(0)) expiry.reject(new Error('write took too long'));
    },
  };
}

/** A store and a bus that log every call as `table:ids` / `topic:ids`, and can be held or made to fail. */
function fakeTargets() {
  const calls = record();
  const log = calls.entries;
  const holds = new Map<string, Deferred>();
  const failures = new Map<string, number>();
  const settle = async (what: string) => {
    await holds.get(what)?.promise;
    const left = failures.get(what) ?? 0;
    if (left > 0) {
      failures.set(what, left - 1);
      throw new Error(`${what} unavailable`);
    }
  };
  const store = {
    async insert(table: string, rows: Array<Record<string, unknown>>) {
      const ids = rows.map((r) => String(r.event_id ?? r.bucket_ms ?? r.goal_id)).join(',');
      calls.push(`start ${table}:${ids}`);
      await settle(table);
      calls.push(`${table}:${ids}`);
    },
  } as unknown as Store;
  const bus = {
    async publish(topic: string, records: OutgoingRecord[]) {
      const ids = records.map((r) => (JSON.parse(String(r.value)) as { goalId: string }).goalId).join(',');
      await settle(topic);
      calls.push(`${topic}:${ids}`);
    },
  } as unknown as Bus;
  return {
    log,
    seen: calls.seen,
    targets: { bus, store },
    hold(what: string) {
      const d = new Deferred();
      holds.set(what, d);
      return () => {
        holds.delete(what);
        d.resolve();
      };
    },
    fail(what: string, times: number) {
      failures.set(what, times);
    },
  };
}

function outputs(
  at: number,
  { events = [] as string[], updates = [] as string[], buckets = [] as number[] },
) {
  const o: Outputs = emptyOutputs(at);
  o.events.push(
    ...events.map((id) => ({ event_id: id, received_ms: at }) as unknown as Row<'metric_events'>),
  );
  o.updates.push(
    ...updates.map(
      (goalId) =>
        ({
          moduleId: 'm',
          goalId,
          asOfMs: at,
          status: 'on_track',
          value: 1,
          moduleVersion: 1,
        }) as unknown as PerformanceUpdateMs,
    ),
  );
  o.rollups.push(
    ...buckets.map(
      (b) =>
        ({
          module_id: 'm',
          rule_id: 'g',
          width_ms: 1000,
          bucket_ms: b,
          updated_ms: at,
        }) as unknown as RollupRow,
    ),
  );
  return o;
}

function writer(
  t: ReturnType<typeof fakeTargets>,
  events = record(),
  timed: (work: Promise<void>) => Promise<void> = (work) => work,
  backoff = { baseMs: 5, capMs: 20 },
) {
  return new PartitionWriter({
    partition: 0,
    targets: t.targets,
    timed,
    backoff,
    logger: pino({ level: 'silent' }),
    onRetrying: () => events.push('retrying'),
    onRecovered: () => events.push('recovered'),
    onStepFailed: (err) => events.push(`failed ${err.step}`),
    onWritten: () => {},
  });
}

describe('PartitionWriter', () => {
  it('publishes a later batch while the store still writes an earlier one', async () => {
    const t = fakeTargets();
    const w = writer(t);
    const release = t.hold('metric_events');
    const first = w.write(outputs(1, { events: ['e1'], updates: ['u1'], buckets: [1] }));
    await t.seen('start metric_events:e1');
    const second = w.write(outputs(2, { events: ['e2'], updates: ['u2'], buckets: [2] }));
    await t.seen('performance.updates:u2');
    expect(t.log).toContain('performance.updates:u1');
    expect(t.log).toContain('performance.updates:u2');
    expect(t.log).not.toContain('rollups:1');
    expect(w.backlog).toBe(2);
    release();
    await Promise.all([first, second]);
    expect(w.backlog).toBe(0);
    await w.close();
  });

  it('stores rollups last, after their rows and publishes, and writes what queued meanwhile as one set', async () => {
    const t = fakeTargets();
    const w = writer(t);
    const release = t.hold('metric_events');
    const first = w.write(outputs(1, { events: ['e1'], updates: ['u1'], buckets: [1] }));
    await t.seen('start metric_events:e1');
    // Two batches queue behind the first; the second repeats bucket 2, whose later row wins.
    const rest = [
      w.write(outputs(2, { events: ['e2'], updates: ['u2'], buckets: [2] })),
      w.write(outputs(3, { events: ['e3'], updates: ['u3'], buckets: [2, 3] })),
    ];
    release();
    await Promise.all([first, ...rest]);
    const stored = t.log.filter((l) => !l.startsWith('start '));
    expect(stored.filter((l) => l.startsWith('metric_events'))).toEqual([
      'metric_events:e1',
      'metric_events:e2,e3',
    ]);
    expect(stored.filter((l) => l.startsWith('rollups'))).toEqual(['rollups:1', 'rollups:2,3']);
    for (const [row, rollup] of [
      ['metric_events:e1', 'rollups:1'],
      ['performance.updates:u1', 'rollups:1'],
      ['metric_events:e2,e3', 'rollups:2,3'],
      ['performance.updates:u3', 'rollups:2,3'],
      ['rollups:1', 'start metric_events:e2,e3'],
    ])
      expect(t.log.indexOf(row!), `${row} before ${rollup}`).toBeLessThan(t.log.indexOf(rollup!));
    await w.close();
  });

  it('retries a failed step until it succeeds, in order, and says when it starts and stops retrying', async () => {
    const t = fakeTargets();
    const events = record();
    const w = writer(t, events);
    t.fail('metric_events', 3);
    const first = w.write(outputs(1, { events: ['e1'], updates: ['u1'], buckets: [1] }));
    await events.seen('retrying');
    expect(w.retrying).toBe(true);
    const second = w.write(outputs(2, { events: ['e2'], updates: ['u2'], buckets: [2] }));
    await Promise.all([first, second]);
    expect(w.retrying).toBe(false);
    expect(events.entries).toEqual([
      'failed metric_events',
      'retrying',
      'failed metric_events',
      'failed metric_events',
      'recovered',
    ]);
    const stored = t.log.filter((l) => l.startsWith('metric_events') || l.startsWith('rollups'));
    expect(stored).toEqual(['metric_events:e1', 'rollups:1', 'metric_events:e2', 'rollups:2']);
    await w.close();
  });

  it('on close, lets the step in flight finish and rejects what is not written', async () => {
    const t = fakeTargets();
    const w = writer(t);
    const release = t.hold('rollups');
    const first = w.write(outputs(1, { events: ['e1'], buckets: [1] }));
    await t.seen('start rollups:1');
    const second = w.write(outputs(2, { events: ['e2'], buckets: [2] }));
    const closing = w.close();
    release();
    await closing;
    await expect(first).resolves.toBeUndefined();
    await expect(second).rejects.toThrow(/revoked/);
    expect(t.log).not.toContain('metric_events:e2');
    await expect(w.write(outputs(3, { events: ['e3'] }))).rejects.toThrow(/revoked/);
  });

  it('joins a flush that timed out on the retry instead of running its steps again', async () => {
    const t = fakeTargets();
    const events = record();
    const timeout = manualTimeout();
    const w = writer(t, events, timeout.timed);
    const release = t.hold('metric_events');
    const written = w.write(outputs(1, { events: ['e1'], buckets: [1] }));
    await t.seen('start metric_events:e1');
    // The bus lane's flush (nothing to publish) ends; the store lane's is held.
    await Promise.race(timeout.flushes);
    timeout.expire();
    await events.seen('retrying');
    expect(w.retrying).toBe(true);
    // The retry after the backoff is given the flush still running, not a new one.
    await expect.poll(() => timeout.flushes.length).toBe(2);
    release();
    await written;
    expect(t.log.filter((l) => l === 'start metric_events:e1')).toHaveLength(1);
    expect(t.log.filter((l) => l === 'start rollups:1')).toHaveLength(1);
    expect(events.entries).toContain('recovered');
    await w.close();
  });

  it('closes at once while both lanes wait out a long backoff', async () => {
    const t = fakeTargets();
    t.fail('metric_events', 1_000);
    t.fail('performance.updates', 1_000);
    const events = record();
    const w = writer(t, events, (work) => work, { baseMs: 60_000, capMs: 60_000 });
    const written = w.write(outputs(1, { events: ['e1'], updates: ['u1'], buckets: [1] }));
    await Promise.all([events.seen('failed metric_events'), events.seen('failed publish_updates')]);
    expect(w.retrying).toBe(true);
    const began = Date.now();
    await w.close();
    expect(Date.now() - began).toBeLessThan(1_000);
    await expect(written).rejects.toThrow(/revoked/);
  });

  it('writes the full rollups and the merged late rows in one insert, a late row merged into the full row of its own write', async () => {
    const inserts: Array<Array<{ bucket_ms: number; count: number }>> = [];
    const store = {
      async insert(table: string, rows: Array<{ bucket_ms: number; count: number }>) {
        if (table === 'rollups') inserts.push(rows.map((r) => ({ bucket_ms: r.bucket_ms, count: r.count })));
      },
      // Nothing stored yet: the late row of bucket 1 can only merge into this write's own full row.
      async select() {
        return [];
      },
    } as unknown as Store;
    const bus = { async publish() {} } as unknown as Bus;
    const w = new PartitionWriter({
      partition: 0,
      targets: { bus, store },
      timed: (work) => work,
      backoff: { baseMs: 5, capMs: 20 },
      logger: pino({ level: 'silent' }),
      onRetrying: () => {},
      onRecovered: () => {},
      onStepFailed: () => {},
      onWritten: () => {},
    });
    const row = (bucketMs: number, count: number, updatedMs: number): RollupRow => ({
      module_id: 'm',
      rule_id: 'g',
      metric: 'wait_minutes',
      width_ms: 1000,
      bucket_ms: bucketMs,
      module_version: 1,
      count,
      sum: count,
      min: 1,
      max: 1,
      last_value: 1,
      last_ms: bucketMs,
      last_event_id: `e${count}`,
      sketch: '',
      updated_ms: updatedMs,
    });
    const full = outputs(1, {});
    full.rollups.push(row(1, 2, 1), row(2, 2, 1));
    const late = outputs(2, {});
    late.merges.push(row(1, 1, 2));
    await Promise.all([w.write(full), w.write(late)]);
    expect(inserts).toEqual([
      [
        { bucket_ms: 2, count: 2 },
        { bucket_ms: 1, count: 3 },
      ],
    ]);
    await w.close();
  });

  it('starts no rollup write for a set whose earlier step outlived a close', async () => {
    const t = fakeTargets();
    const events = record();
    const timeout = manualTimeout();
    const w = writer(t, events, timeout.timed);
    const release = t.hold('metric_events');
    const written = w.write(outputs(1, { events: ['e1'], buckets: [1] }));
    await t.seen('start metric_events:e1');
    // The bus lane's flush (nothing to publish) ends; the store lane's is held.
    await Promise.race(timeout.flushes);
    timeout.expire();
    await events.seen('retrying');
    await w.close();
    release();
    // Every flush handed out has ended: a rollup write it started would be in the log by now.
    await Promise.all(timeout.flushes);
    expect(t.log).toContain('metric_events:e1');
    expect(t.log.some((l) => l.includes('rollups'))).toBe(false);
    await expect(written).rejects.toThrow(/revoked/);
  });
});
