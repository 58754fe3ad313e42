import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IngestMetrics } from '../../services/ingest/metrics.js';
import { RateLimiter } from '../../services/ingest/rate-limit.js';
import { RecentEventIds } from '../../services/ingest/recent-event-ids.js';
import { submitEvents } from '../../services/ingest/submit.js';
import type { OutgoingRecord } from '../../services/ports/bus.js';
import { event, ingestRegistry } from '../support/ingest-harness.js';

describe('RateLimiter', () => {
  it('admits a burst, then refills at the rate, counted in events', () => {
    const limiter = new RateLimiter(100, 300);
    expect(limiter.take('a', 300, 0)).toEqual({ ok: true });
    expect(limiter.take('a', 10, 0)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(limiter.take('b', 10, 0)).toEqual({ ok: true });
    expect(limiter.take('a', 10, 100)).toEqual({ ok: true });
    expect(limiter.hasTokens('a', 100)).toEqual({ ok: false, retryAfterMs: 10 });
  });
  it('lets a batch larger than the burst through once full, and makes later ones wait out the debt', () => {
    const limiter = new RateLimiter(10, 5);
    expect(limiter.take('a', 20, 0)).toEqual({ ok: true });
    const next = limiter.take('a', 1, 0);
    expect(next).toEqual({ ok: false, retryAfterMs: 1600 });
    expect(limiter.take('a', 1, 1600)).toEqual({ ok: true });
  });
});

describe('RecentEventIds', () => {
  it('remembers per agency until the ttl', () => {
    const recent = new RecentEventIds(10, 1000);
    recent.remember('a', ['e1'], 0);
    expect(recent.has('a', 'e1', 999)).toBe(true);
    expect(recent.has('b', 'e1', 0)).toBe(false);
    expect(recent.has('a', 'e1', 1000)).toBe(false);
  });
  it('stays within its size, forgetting the oldest', () => {
    const recent = new RecentEventIds(3, 60_000);
    recent.remember('a', ['1', '2', '3', '4', '5'], 0);
    expect(recent.size).toBe(3);
    expect(recent.has('a', '2', 1)).toBe(false);
    expect(recent.has('a', '5', 1)).toBe(true);
  });
});

class RecordingBus {
  readonly published: OutgoingRecord[] = [];
  failing = false;
  async publish(_topic: string, records: OutgoingRecord[]): Promise<void> {
    if (this.failing) throw new Error('broker away');
    this.published.push(...records);
  }
}

function deps(bus: RecordingBus, publishTimeoutMs = 1_000) {
  const registry = new Registry();
  return {
    bus: bus as Pick<RecordingBus, 'publish'>,
    registry: ingestRegistry(),
    clock: { now: () => Date.now() },
    recent: new RecentEventIds(),
    metrics: new IngestMetrics(registry),
    publishTimeoutMs,
    prom: registry,
  };
}

describe('submitEvents', () => {
  it('publishes valid events keyed by module with the agency header, epoch-ms observedAt', async () => {
    const bus = new RecordingBus();
    const d = deps(bus);
    const answer = await submitEvents(d, 'transit-agency', [
      event('s-1', { observedAt: '2025-01-01T00:00:00Z' }),
      event('s-2', { moduleId: 'nope' }),
      event('s-1'),
    ]);
    expect(answer).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [expect.objectContaining({ index: 1, eventId: 's-2' })],
    });
    expect(bus.published).toEqual([
      {
        key: 'bus-punctuality',
        value: JSON.stringify({
          eventId: 's-1',
          moduleId: 'bus-punctuality',
          metric: 'on_time_rate',
          value: 91.5,
          observedAt: 1735689600000,
        }),
        headers: { 'glasshouse-agency': 'transit-agency' },
      },
    ]);
    const text = await d.prom.metrics();
    expect(text).toContain('glasshouse_ingest_events_accepted_total{agency="transit-agency"} 1');
    expect(text).toContain(
      'glasshouse_ingest_events_rejected_total{agency="transit-agency",reason="unknown_module"} 1',
    );
    expect(text).toContain('glasshouse_ingest_events_duplicate_total{agency="transit-agency"} 1');
  });

  it('counts a retried batch as duplicates', async () => {
    const bus = new RecordingBus();
    const d = deps(bus);
    await submitEvents(d, 'transit-agency', [event('r-1'), event('r-2')]);
    expect(await submitEvents(d, 'transit-agency', [event('r-1'), event('r-2')])).toEqual({
      accepted: 0,
      duplicates: 2,
      rejected: [],
    });
    expect(bus.published).toHaveLength(2);
  });

  it('on a failed publish throws bus_unavailable and remembers nothing', async () => {
    const bus = new RecordingBus();
    const d = deps(bus);
    bus.failing = true;
    await expect(submitEvents(d, 'transit-agency', [event('f-1')])).rejects.toMatchObject({
      code: 'bus_unavailable',
      status: 503,
    });
    bus.failing = false;
    expect(await submitEvents(d, 'transit-agency', [event('f-1')])).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [],
    });
    expect(await d.prom.metrics()).toContain(
      'glasshouse_ingest_events_accepted_total{agency="transit-agency"} 1',
    );
  });

  it('answers 503 when the bus does not confirm in time', async () => {
    const d = deps(new RecordingBus(), 50);
    d.bus = { publish: () => new Promise<void>(() => {}) };
    await expect(submitEvents(d, 'transit-agency', [event('t-1')])).rejects.toMatchObject({
      code: 'bus_unavailable',
    });
  });
});
