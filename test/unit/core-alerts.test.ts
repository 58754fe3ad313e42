import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AlertEvent, AlertEventMs, publicAlert } from '../../schemas/alert.js';
import {
  type AlertReading,
  type AlertSubject,
  AlertTracker,
  acknowledgeAlert,
  alertIdOf,
} from '../../services/core/performance/alerts.js';

const subject: AlertSubject = {
  moduleId: 'bus',
  moduleVersion: 1,
  owner: 'ada',
  ruleId: 'ontime',
  kind: 'goal_deviation',
  holdMs: 60_000,
};

/** A goal reading with tolerance 0.1: off_track above 0.1, recovered at or below 0.08. */
function reading(
  t: number,
  shortfall: number | null,
  severity: 'warning' | 'critical' = 'warning',
): AlertReading {
  return {
    t,
    deviating: shortfall !== null && shortfall > 0.1,
    recovered: shortfall !== null && shortfall <= 0.08,
    severity,
    observed: shortfall === null ? null : 90 * (1 - shortfall),
    target: 90,
    shortfall,
    message: 'test',
  };
}

function run(
  tracker: AlertTracker,
  steps: Array<[number, number | null, ('warning' | 'critical')?]>,
  s = subject,
) {
  return steps.flatMap(([t, shortfall, severity]) => tracker.step(s, reading(t, shortfall, severity)));
}

describe('alertIdOf', () => {
  it('is the first 32 hex of SHA-256 over moduleId|ruleId|kind|start', () => {
    const expected = createHash('sha256').update('bus|ontime|goal_deviation|1000').digest('hex').slice(0, 32);
    expect(alertIdOf('bus', 'ontime', 'goal_deviation', 1000)).toBe(expected);
  });
});

describe('AlertTracker', () => {
  it('goes pending, fires after hold and resolves after recovery held', () => {
    const versions = run(new AlertTracker(), [
      [0, 0.2],
      [30_000, 0.2],
      [60_000, 0.2],
      [90_000, 0.05],
      [120_000, 0.05],
      [150_000, 0.05],
    ]);
    expect(versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'pending'],
      [2, 'firing'],
      [3, 'resolved'],
    ]);
    for (const v of versions) {
      expect(() => AlertEventMs.parse(v)).not.toThrow();
      expect(() => AlertEvent.parse(publicAlert(v))).not.toThrow();
    }
    expect(new Set(versions.map((v) => v.alertId))).toEqual(
      new Set([alertIdOf('bus', 'ontime', 'goal_deviation', 0)]),
    );
    expect(publicAlert(versions[2]!).resolvedAt).toBe(new Date(150_000).toISOString());
    expect(publicAlert(versions[2]!).openedAt).toBe(new Date(0).toISOString());
  });

  it('fires in the same evaluation with hold 0', () => {
    const versions = run(new AlertTracker(), [[5, 0.5]], { ...subject, holdMs: 0 });
    expect(versions.map((v) => v.state)).toEqual(['firing']);
  });

  it('does not flap around the threshold (hysteresis)', () => {
    const steps: Array<[number, number]> = [];
    for (let i = 0; i < 200; i += 1) steps.push([i * 10_000, i % 2 === 0 ? 0.101 : 0.099]);
    const tracker = new AlertTracker();
    const versions = run(tracker, [[-120_000, 0.3], [-60_000, 0.3], ...steps]);
    expect(versions.map((v) => v.state)).toEqual(['pending', 'firing']);
    expect(tracker.current?.state).toBe('firing');
  });

  it('restarts the recovery hold when shortfall rises above 0.8 × tolerance', () => {
    const versions = run(new AlertTracker(), [
      [0, 0.2],
      [60_000, 0.2],
      [70_000, 0.05],
      [120_000, 0.09],
      [130_000, 0.05],
      [180_000, 0.05],
      [190_000, 0.05],
    ]);
    expect(versions.map((v) => [v.state, publicAlert(v).updatedAt])).toEqual([
      ['pending', new Date(0).toISOString()],
      ['firing', new Date(60_000).toISOString()],
      ['resolved', new Date(190_000).toISOString()],
    ]);
  });

  it('never resolves on no data', () => {
    const tracker = new AlertTracker();
    const versions = run(tracker, [
      [0, 0.2],
      [60_000, 0.2],
      [120_000, null],
      [600_000, null],
    ]);
    expect(versions.map((v) => v.state)).toEqual(['pending', 'firing']);
    expect(tracker.current?.state).toBe('firing');
  });

  it('resolves a pending alert that recovers before the hold, without firing', () => {
    const tracker = new AlertTracker();
    const versions = run(tracker, [
      [0, 0.2],
      [20_000, 0.09],
      [40_000, 0.2],
      [90_000, 0.05],
    ]);
    expect(versions.map((v) => v.state)).toEqual(['pending', 'resolved']);
    expect(tracker.current).toBeUndefined();
  });

  it('makes a version when severity changes, and none for values alone', () => {
    const versions = run(new AlertTracker(), [
      [0, 0.2],
      [60_000, 0.25],
      [70_000, 0.3, 'critical'],
      [80_000, 0.35, 'critical'],
      [90_000, 0.2],
    ]);
    expect(versions.map((v) => [v.state, v.severity])).toEqual([
      ['pending', 'warning'],
      ['firing', 'warning'],
      ['firing', 'critical'],
      ['firing', 'warning'],
    ]);
  });

  it('carries a new module version without closing', () => {
    const tracker = new AlertTracker();
    run(tracker, [[0, 0.2]], { ...subject, holdMs: 0 });
    const versions = run(tracker, [[10, 0.2]], { ...subject, holdMs: 0, moduleVersion: 2, owner: 'bob' });
    expect(versions).toMatchObject([{ state: 'firing', moduleVersion: 2, owner: 'bob', version: 2 }]);
  });

  it('acknowledges with a new version and keeps the state', () => {
    const tracker = new AlertTracker();
    run(tracker, [[0, 0.2]], { ...subject, holdMs: 0 });
    const ack = tracker.acknowledge('olga', 'looking into it', 5_000)!;
    expect(ack).toMatchObject({
      version: 2,
      state: 'firing',
      acknowledgedBy: 'olga',
      note: 'looking into it',
    });
    expect(publicAlert(ack).acknowledgedAt).toBe(new Date(5_000).toISOString());
    expect(acknowledgeAlert(ack, 'pat', 'again', 6_000)).toMatchObject({ version: 3, acknowledgedBy: 'pat' });
    expect(new AlertTracker().acknowledge('x', 'y', 1)).toBeUndefined();
  });

  it('continues a restored alert with the same id', () => {
    const first = new AlertTracker();
    const opened = run(first, [[0, 0.2]]);
    const second = new AlertTracker();
    second.restore(opened[0]!);
    const versions = run(second, [[60_000, 0.2]]);
    expect(versions).toMatchObject([{ alertId: opened[0]!.alertId, version: 2, state: 'firing' }]);
  });
});
