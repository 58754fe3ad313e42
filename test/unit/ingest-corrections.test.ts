import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IngestMetrics } from '../../services/ingest/metrics.js';
import { RecentEventIds } from '../../services/ingest/recent-event-ids.js';
import { type SubmitDeps, submitEvents } from '../../services/ingest/submit.js';
import type { OutgoingRecord } from '../../services/ports/bus.js';
import { event, ingestRegistry } from '../support/ingest-harness.js';

/** Ingest with a recording publisher and a fixed set of stored `agency module eventId` triples. */
function deps(stored: string[], failing = false) {
  const published: OutgoingRecord[] = [];
  const lookups: string[][] = [];
  const prom = new Registry();
  const d: SubmitDeps = {
    bus: { publish: async (_topic: string, records: OutgoingRecord[]) => void published.push(...records) },
    registry: ingestRegistry(),
    clock: { now: () => Date.now() },
    recent: new RecentEventIds(),
    metrics: new IngestMetrics(prom),
    publishTimeoutMs: 1_000,
    known: async (agencyId, refs) => {
      lookups.push(refs.map((r) => r.eventId));
      if (failing) throw new Error('store down');
      return new Set(
        refs
          .filter((r) => stored.includes(`${agencyId} ${r.moduleId} ${r.eventId}`))
          .map((r) => `${r.moduleId} ${r.eventId}`),
      );
    },
  };
  return { d, published, lookups, prom };
}

const ids = (records: OutgoingRecord[]) => records.map((r) => JSON.parse(String(r.value)).eventId);

describe('ingest: corrections', () => {
  it('rejects per event a correction of an event this agency never sent (unknown, or another agency’s)', async () => {
    const { d, published, prom } = deps([
      'transit-agency bus-punctuality old-1',
      'other-agency bus-punctuality theirs',
    ]);
    const answer = await submitEvents(d, 'transit-agency', [
      event('n-1'),
      event('c-1', { supersedes: 'old-1', note: 'meter misread' }),
      event('c-2', { supersedes: 'nope' }),
      event('c-3', { supersedes: 'theirs', retract: true }),
      event('c-4', { supersedes: 'n-1' }),
    ]);
    expect(answer.accepted).toBe(3);
    expect(answer.rejected).toEqual([
      {
        index: 2,
        eventId: 'c-2',
        errors: [
          {
            path: 'supersedes',
            message: 'agency "transit-agency" sent no event "nope" for module "bus-punctuality"',
          },
        ],
      },
      {
        index: 3,
        eventId: 'c-3',
        errors: [
          {
            path: 'supersedes',
            message: 'agency "transit-agency" sent no event "theirs" for module "bus-punctuality"',
          },
        ],
      },
    ]);
    expect(ids(published)).toEqual(['n-1', 'c-1', 'c-4']);
    expect(JSON.parse(String(published[1]!.value))).toMatchObject({
      supersedes: 'old-1',
      note: 'meter misread',
    });
    expect(await prom.metrics()).toContain(
      'glasshouse_ingest_events_rejected_total{agency="transit-agency",reason="unknown_supersedes"} 2',
    );
    // A rejected correction is not remembered as sent: fixed and resent, it is not a duplicate.
    const again = await submitEvents(d, 'transit-agency', [event('c-2', { supersedes: 'c-1' })]);
    expect(again).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('reads the store only for targets neither in the request nor remembered as sent', async () => {
    const { d, lookups } = deps([]);
    await submitEvents(d, 'transit-agency', [event('a-1')]);
    expect(lookups).toEqual([]);
    const answer = await submitEvents(d, 'transit-agency', [
      event('a-2'),
      event('a-3', { supersedes: 'a-2' }),
      event('a-4', { supersedes: 'a-1' }),
    ]);
    expect(answer).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(lookups).toEqual([]);
  });

  it('answers 503 (nothing accepted) when the store cannot say', async () => {
    const { d, published } = deps([], true);
    await expect(
      submitEvents(d, 'transit-agency', [event('x-1'), event('x-2', { supersedes: 'old' })]),
    ).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    expect(published).toEqual([]);
  });
});
