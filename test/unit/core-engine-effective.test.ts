import { describe, expect, it } from 'vitest';
import { ModuleVersion } from '../../schemas/registry.js';
import { Engine } from '../../services/core/performance/engine.js';
import { exampleGoal } from '../support/examples.js';

const E = 1_800_000_000_000; // effectiveAt of the approved change

function version(target: number, number: number, effectiveAt?: number): ModuleVersion {
  return ModuleVersion.parse({
    id: 'bus',
    domain: 'transit',
    title: 'Bus punctuality',
    owner: 'ada',
    goals: [exampleGoal({ target, hold: '0s' })],
    version: number,
    updatedAt: new Date(E - 86_400_000).toISOString(),
    updatedBy: 'admin:carol',
    rationale: 'test',
    ...(effectiveAt === undefined ? {} : { effectiveAt: new Date(effectiveAt).toISOString() }),
  });
}

function harness() {
  let now = E - 5_000;
  const engine = new Engine({ clock: { now: () => now }, coalesceMs: 0 });
  engine.setModule(version(90, 1));
  let seq = 0;
  return {
    engine,
    at(ms: number) {
      now = ms;
    },
    /** Sends one value observed at `observedAt` and evaluates: the updates of that evaluation. */
    judge(value: number, observedAt: number) {
      seq += 1;
      engine.ingest({
        eventId: `e${seq}`,
        agencyId: 'transit-agency',
        moduleId: 'bus',
        metric: 'on_time_rate',
        value,
        observedAt,
        receivedAt: now,
      });
      return engine.evaluate(now).updates;
    },
  };
}

describe('Engine: a version with effectiveAt takes effect exactly then (in event time)', () => {
  it('judges an event just before effectiveAt by the old goal and one just after by the new', () => {
    const h = harness();
    expect(h.judge(92, E - 5_000)).toMatchObject([{ target: 90, status: 'on_track', moduleVersion: 1 }]);
    h.engine.setModule(version(95, 2, E));
    expect(h.engine.versions('bus')).toEqual({ inForce: 1, pending: 2 });
    // The clock is past effectiveAt, but the window ends at the newest event, 1 ms before it.
    h.at(E + 10_000);
    const before = h.judge(92, E - 1);
    expect(before.length).toBeGreaterThan(0);
    for (const update of before)
      expect(update).toMatchObject({ target: 90, status: 'on_track', moduleVersion: 1 });
    expect(h.engine.versions('bus')).toEqual({ inForce: 1, pending: 2 });
    expect(h.judge(92, E + 1)).toMatchObject([
      { target: 95, status: 'at_risk', moduleVersion: 2, asOfMs: E + 1 },
    ]);
    expect(h.engine.versions('bus')).toEqual({ inForce: 2, pending: undefined });
  });

  it('switches on the clock alone once the window slides past effectiveAt with no events', () => {
    const h = harness();
    h.judge(92, E - 5_000);
    h.engine.setModule(version(95, 2, E));
    // asOf = now − allowedLateness (30 s) when no newer event came.
    h.at(E + 30_000 - 1);
    h.engine.evaluate(E + 30_000 - 1);
    expect(h.engine.versions('bus').inForce).toBe(1);
    h.at(E + 30_000 + 1_000);
    const updates = h.engine.evaluate(E + 30_000 + 1_000).updates;
    expect(updates).toMatchObject([{ target: 95, moduleVersion: 2 }]);
  });

  it('keeps the old goal when the waiting version is dropped (rejected in its notice period)', () => {
    const h = harness();
    h.judge(92, E - 5_000);
    h.engine.setModule(version(95, 2, E));
    expect(h.engine.dropPending('bus')).toBe(true);
    h.at(E + 10_000);
    expect(h.judge(92, E + 1)).toMatchObject([{ target: 90, moduleVersion: 1 }]);
  });

  it('puts a version whose effectiveAt has passed in force at once', () => {
    const h = harness();
    h.at(E + 60_000);
    h.engine.setModule(version(95, 2, E));
    expect(h.engine.versions('bus')).toEqual({ inForce: 2, pending: undefined });
  });
});
