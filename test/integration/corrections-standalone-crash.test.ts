import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { correctedTotals, repeatedEventRows, storedEventRows } from '../support/duckdb-raw.js';
import { call, eventually, postUntilStopped, seedModule } from '../support/http-client.js';
import { runGlasshouse, StandaloneBin } from '../support/process.js';

const adminToken = `corr-admin-${randomBytes(12).toString('hex')}`;
const moduleId = 'corr-jobs';
const kills = 4;

const bin = StandaloneBin.unthrottled(adminToken, 'gh-corr-crash-');

afterAll(() => bin.dispose());

/**
 * Posts batches back to back until stopped: new events, and corrections and retractions of events
 * answered 202 before (corrections of corrections among them). Remembers every id answered 202.
 */
function postContinuously(
  baseUrl: string,
  key: string,
  acked: string[],
  round: number,
  corrected: Set<string>,
  retractions: Set<string>,
) {
  let sequence = 0;
  let corrections = 0;
  const client = postUntilStopped(
    baseUrl,
    key,
    () => {
      const events: Array<Record<string, unknown>> = [];
      for (let i = 0; i < 20; i++) {
        const eventId = `r${round}-${sequence++}`;
        const base = { eventId, moduleId, metric: 'jobs', value: 1 + (sequence % 9) };
        const target = acked.length > 0 && i % 4 === 0 ? acked[(sequence * 7919) % acked.length] : undefined;
        if (target === undefined) events.push({ ...base, observedAt: Date.now() });
        else
          events.push({
            ...base,
            observedAt: Date.now() - (sequence % 50) * 1_000,
            supersedes: target,
            ...(sequence % 5 === 0 ? { retract: true } : { note: `restated in round ${round}` }),
          });
      }
      return events;
    },
    (events) => {
      for (const e of events) {
        acked.push(e.eventId as string);
        if (e.supersedes !== undefined) corrected.add(e.eventId as string);
        if (e.retract === true) retractions.add(e.eventId as string);
      }
      corrections += events.filter((e) => e.supersedes !== undefined).length;
    },
  );
  return { ...client, corrections: () => corrections };
}

describe('standalone process killed with SIGKILL during a stream of corrections', () => {
  it(`stays exact over ${kills} kills: live windows, rollups and verify-rollups agree with the corrected set`, async () => {
    let baseUrl = await bin.start();
    const goal = (id: string, aggregation: string) => ({
      id,
      metric: 'jobs',
      unit: 'jobs',
      direction: 'increase',
      target: 1e9,
      tolerance: 0.1,
      window: '24h',
      aggregation,
      minSamples: 1,
      hold: '0s',
    });
    const key = await seedModule(baseUrl, adminToken, {
      id: moduleId,
      owner: 'corr-owner',
      agency: 'corr-agency',
      allowedLateness: '1h',
      goals: [goal('volume', 'count'), goal('total', 'sum'), goal('peak', 'max')],
    });
    const acked: string[] = [];
    const retractions = new Set<string>();
    const floor = (ids: string[]) => ids.filter((id) => !corrected.has(id)).length - retractions.size;
    const corrected = new Set<string>();
    let corrections = 0;
    for (let round = 0; round < kills; round++) {
      const client = postContinuously(baseUrl, key, acked, round, corrected, retractions);
      await eventually(
        async () => (client.answered() >= 4 ? true : undefined),
        30_000,
        () => `round ${round}: no 202 answers`,
      );
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1_500)));
      expect(await bin.stop('SIGKILL')).toBe('SIGKILL');
      await client.stop();
      corrections += client.corrections();

      baseUrl = await bin.start();
      // Settled: the live count stays put for a while (every stored batch processed).
      let settled = { count: -1, since: Date.now() };
      let last: unknown;
      const live = await eventually(
        async () => {
          const { body } = await call(baseUrl, 'GET', `/v1/modules/${moduleId}`);
          const goals = (body?.goals ?? []) as Array<{
            id: string;
            current?: { count: number; value: number };
          }>;
          last = goals.map((g) => g.current);
          const volume = goals.find((g) => g.id === 'volume')?.current;
          const total = goals.find((g) => g.id === 'total')?.current;
          const count = typeof volume?.count === 'number' ? volume.count : -1;
          if (count !== settled.count) settled = { count, since: Date.now() };
          // At least every acknowledged plain event, less one per acknowledged retraction (a
          // correction keeps the count); then stable for a while (a batch whose answer the kill cut
          // off may be counted too).
          return count >= floor(acked) && total && Date.now() - settled.since >= 3_000
            ? { count, sum: total.value }
            : undefined;
        },
        60_000,
        () => `round ${round}: live numbers never settled; last ${JSON.stringify(last)}`,
      );
      await bin.stopCleanly();
      await checkStore(acked, live, round);
      const verify = runGlasshouse(['verify-rollups', '--module', moduleId], {
        GLASSHOUSE_DATA_DIR: bin.dataDir,
      });
      const exit = await verify.exited();
      expect(exit, `round ${round}: verify-rollups\n${verify.output()}`).toBe(0);
      baseUrl = await bin.start();
    }
    expect(corrections, 'corrections answered 202').toBeGreaterThan(20);
    await bin.stopCleanly();
  }, 600_000);
});

async function checkStore(
  acked: string[],
  live: { count: number; sum: number },
  round: number,
): Promise<void> {
  const path = join(bin.dataDir, 'glasshouse.duckdb');
  const stored = await storedEventRows(path, moduleId);
  const store = new DuckDbStore({ path });
  await store.start();
  const letters = await store.select('dead_letters', { limit: 100_000 });
  await store.stop();
  // Corrections of a chain that a retraction (maybe in a batch whose answer the kill cut off)
  // already closed are refused, with that reason; nothing else is refused.
  expect(new Set(letters.map((l) => l.reason.split(':')[0]))).toEqual(
    new Set(letters.length > 0 ? ['correction_conflict'] : []),
  );
  const refused = new Set(
    letters.map(
      (l) => (JSON.parse(Buffer.from(l.payload, 'base64').toString('utf8')) as { eventId: string }).eventId,
    ),
  );
  expect(
    acked.filter((id) => !stored.has(id) && !refused.has(id)),
    `round ${round}: acknowledged events neither stored nor refused`,
  ).toEqual([]);
  // A batch replayed after the kill writes its rows again: same content (a correction resolved to the
  // same version), only the batch time differs.
  const differing = [...(await repeatedEventRows(path, moduleId))].filter(([, copies]) => {
    const content = copies.map(({ received_ms: _, ...rest }) =>
      JSON.stringify(rest, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
    );
    return new Set(content).size > 1;
  });
  expect(differing, `round ${round}: events stored twice with different content`).toEqual([]);
  const truth = await correctedTotals(path, moduleId);
  expect(live, `round ${round}: live window vs the corrected set`).toEqual(truth);
  const reopened = new DuckDbStore({ path });
  await reopened.start();
  try {
    const rollups = await reopened.select('rollups', {
      where: [{ column: 'module_id', op: '=', value: moduleId }],
      limit: 100_000,
    });
    const volume = rollups.filter((r) => r.rule_id === 'volume');
    expect(
      volume.reduce((sum, r) => sum + r.count, 0),
      `round ${round}: rollup counts`,
    ).toBe(truth.count);
  } finally {
    await reopened.stop();
  }
}
