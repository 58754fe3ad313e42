import { agencyHeader, type IngestResponse, type RejectedEvent } from '../../schemas/metric-event.js';
import { type ModuleLookup, type ValidEvent, validateMetricEvent } from '../core/validation/index.js';
import type { Bus, OutgoingRecord } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import { Topics } from '../ports/topics.js';
import { UnavailableError } from '../runtime/errors.js';
import { UnreadableRow } from './csv-body.js';
import type { IngestMetrics } from './metrics.js';
import type { RecentEventIds } from './recent-event-ids.js';

export interface SubmitDeps {
  /**
   * Where a batch's records go (`metrics.raw`). The bus adapter is the one coalescing point: the
   * Kafka bus sends what concurrent requests publish as one request, the in-process bus fsyncs them
   * as one group commit.
   */
  bus: Pick<Bus, 'publish'>;
  registry: ModuleLookup;
  clock: Clock;
  recent: RecentEventIds;
  metrics: IngestMetrics;
  /** A publish not confirmed within this long answers 503 (the client retries; dedup is downstream). */
  publishTimeoutMs: number;
  /**
   * Which `module eventId` pairs the store holds an event of this agency for (ports/event-queries.ts):
   * a correction must name one (or one sent in this request, or remembered as sent). Absent: the
   * processor alone decides (it refuses an unknown target to the DLQ).
   */
  known?: (agencyId: string, refs: Array<{ moduleId: string; eventId: string }>) => Promise<Set<string>>;
}

/**
 * Validates a batch (for a CSV upload, `lines[i]` is the file line of event i, named in its rejection), drops what this agency already sent, publishes the rest and resolves with the
 * `202` answer only once the bus confirmed them. Throws UnavailableError (`bus_unavailable`, 503)
 * when it could not: then nothing of the batch is counted or remembered as accepted.
 */
export async function submitEvents(
  deps: SubmitDeps,
  agencyId: string,
  events: readonly unknown[],
  lines?: readonly number[],
): Promise<IngestResponse> {
  const now = deps.clock.now();
  const rules = { agencyId, registry: deps.registry, now };
  const rejected: RejectedEvent[] = [];
  const fresh: ValidEvent[] = [];
  const inBatch = new Set<string>();
  let duplicates = 0;
  for (let index = 0; index < events.length; index++) {
    const raw = events[index];
    const line = lines?.[index];
    const at = line === undefined ? { index } : { index, line };
    if (raw instanceof UnreadableRow) {
      rejected.push({ ...at, errors: raw.errors });
      deps.metrics.rejected.inc({ agency: agencyId, reason: 'unreadable_row' });
      continue;
    }
    const verdict = validateMetricEvent(raw, rules);
    if (!verdict.ok) {
      rejected.push({
        ...at,
        ...(verdict.eventId === undefined ? {} : { eventId: verdict.eventId }),
        errors: verdict.errors,
      });
      deps.metrics.rejected.inc({ agency: agencyId, reason: verdict.reason });
      continue;
    }
    const { eventId } = verdict.event;
    if (inBatch.has(eventId) || deps.recent.has(agencyId, eventId, now)) {
      duplicates++;
      continue;
    }
    inBatch.add(eventId);
    fresh.push(verdict.event);
  }
  for (const id of await refuseUnknownTargets(deps, agencyId, events, fresh, rejected, now))
    inBatch.delete(id);
  if (fresh.length > 0) {
    const headers = { [agencyHeader]: agencyId };
    const records: OutgoingRecord[] = fresh.map((event) => ({
      key: event.moduleId,
      value: JSON.stringify(event),
      headers,
    }));
    const started = performance.now();
    try {
      await withTimeout(deps.bus.publish(Topics.metricsRaw, records), deps.publishTimeoutMs);
    } catch (err) {
      deps.metrics.publishSeconds.observe(
        { agency: agencyId, outcome: 'failed' },
        (performance.now() - started) / 1000,
      );
      throw new UnavailableError(
        'bus_unavailable',
        'the bus could not confirm the write; nothing of this request was accepted, retry later',
        err,
      );
    }
    deps.metrics.publishSeconds.observe(
      { agency: agencyId, outcome: 'ok' },
      (performance.now() - started) / 1000,
    );
    deps.recent.remember(agencyId, [...inBatch], deps.clock.now());
    deps.metrics.accepted.inc({ agency: agencyId }, fresh.length);
  }
  if (duplicates > 0) deps.metrics.duplicates.inc({ agency: agencyId }, duplicates);
  return { accepted: fresh.length, duplicates, rejected };
}

/**
 * Rejects (and returns the ids of), per event, a correction whose `supersedes` names no event this agency sent for the module:
 * not earlier in this request, not remembered as sent, not in the store. Another agency's event is
 * unknown too (an agency corrects only its own figures). Corrections are rare: one store read per
 * request that has any, none otherwise. The processor checks again (chains, retractions, metric).
 */
async function refuseUnknownTargets(
  deps: SubmitDeps,
  agencyId: string,
  events: readonly unknown[],
  fresh: ValidEvent[],
  rejected: RejectedEvent[],
  now: number,
): Promise<string[]> {
  const sentBefore = new Map<string, number>();
  for (const [i, e] of fresh.entries()) sentBefore.set(`${e.moduleId} ${e.eventId}`, i);
  const open = fresh.filter(
    (e, i) =>
      e.supersedes !== undefined &&
      !((sentBefore.get(`${e.moduleId} ${e.supersedes}`) ?? i) < i) &&
      !deps.recent.has(agencyId, e.supersedes, now),
  );
  if (open.length === 0 || !deps.known) return [];
  let known: Set<string>;
  try {
    known = await deps.known(
      agencyId,
      open.map((e) => ({ moduleId: e.moduleId, eventId: e.supersedes! })),
    );
  } catch (err) {
    throw new UnavailableError(
      'store_unavailable',
      'the events this request corrects could not be looked up; nothing of this request was accepted, retry later',
      err,
    );
  }
  const unknown = new Set(open.filter((e) => !known.has(`${e.moduleId} ${e.supersedes}`)));
  if (unknown.size === 0) return [];
  for (const event of unknown) {
    rejected.push({
      index: events.findIndex((raw) => (raw as { eventId?: unknown } | null)?.eventId === event.eventId),
      eventId: event.eventId,
      errors: [
        {
          path: 'supersedes',
          message: `agency "${agencyId}" sent no event "${event.supersedes}" for module "${event.moduleId}"`,
        },
      ],
    });
    deps.metrics.rejected.inc({ agency: agencyId, reason: 'unknown_supersedes' });
  }
  rejected.sort((a, b) => a.index - b.index);
  fresh.splice(0, fresh.length, ...fresh.filter((e) => !unknown.has(e)));
  return [...unknown].map((e) => e.eventId);
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no confirmation within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
