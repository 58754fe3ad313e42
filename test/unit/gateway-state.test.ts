import { describe, expect, it } from 'vitest';
import { storedAlert } from '../../schemas/alert.js';
import { LiveState } from '../../services/gateway/state.js';
import { sampleAlert, sampleUpdate, updateRecord } from '../support/gateway-harness.js';
import { sampleRegistry } from '../support/registry-fixture.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

/** An update as the gateway reads it from the bus. */
const sampled = (overrides: Parameters<typeof sampleUpdate>[0]) => updateRecord(sampleUpdate(overrides));

/** An alert version as the gateway keeps it: its times in epoch ms. */
const version = (overrides: Parameters<typeof sampleAlert>[0] = {}) => storedAlert(sampleAlert(overrides));

describe('LiveState', () => {
  it('keeps the latest update per rule and ignores older ones', () => {
    const state = new LiveState(sampleRegistry());
    expect(state.applyUpdate(sampled({ asOf: at(2), value: 2 }))).toEqual({
      fresh: true,
      statusChanged: true,
    });
    expect(state.applyUpdate(sampled({ asOf: at(1), value: 1 }))).toEqual({
      fresh: false,
      statusChanged: false,
    });
    expect(state.applyUpdate(sampled({ asOf: at(3), value: 3 }))).toEqual({
      fresh: true,
      statusChanged: false,
    });
    expect(state.applyUpdate(sampled({ asOf: at(4), status: 'at_risk', shortfall: 0.01 }))).toEqual({
      fresh: true,
      statusChanged: true,
    });
    state.applyUpdate(sampled({ asOf: at(4), goalId: 'cost', ruleKind: 'constraint' }));
    expect(state.moduleUpdates('bus-punctuality').map((u) => u.goalId)).toEqual(['ontime', 'cost']);
    expect(state.snapshot('domain:transit')).toHaveLength(2);
    expect(state.snapshot('domain:housing')).toEqual([]);
  });

  it('keeps the latest version of open alerts and drops resolved ones', () => {
    const state = new LiveState(sampleRegistry());
    const id = 'a'.repeat(32);
    expect(state.applyAlert(version({ alertId: id, version: 2 }))).toBe(true);
    expect(state.applyAlert(version({ alertId: id, version: 1 }))).toBe(false);
    expect(state.alert(id)?.version).toBe(2);
    expect(state.applyAlert(version({ alertId: id, version: 3, state: 'resolved', resolvedAt: at(9) }))).toBe(
      true,
    );
    expect(state.alert(id)).toBeUndefined();
    expect(state.applyAlert(version({ alertId: id, version: 2 }))).toBe(false);
    expect(state.snapshot('alerts')).toEqual([]);
  });

  it('lists open alerts newest change first, in their public shape', () => {
    const state = new LiveState(sampleRegistry());
    const older = sampleAlert({ alertId: 'b'.repeat(32), openedAt: at(1), updatedAt: at(5) });
    const newer = sampleAlert({ alertId: 'c'.repeat(32), openedAt: at(2), updatedAt: at(7) });
    const middle = sampleAlert({ alertId: 'd'.repeat(32), openedAt: at(3), updatedAt: at(6) });
    for (const a of [older, newer, middle]) state.applyAlert(storedAlert(a));
    expect(state.alerts()).toEqual([newer, middle, older]);
    expect(state.snapshot('alerts:bus-punctuality')).toEqual([newer, middle, older]);
  });

  it('builds the scoreboard from active modules, their goals and open alerts', () => {
    const state = new LiveState(sampleRegistry());
    state.applyUpdate(sampled({ status: 'off_track', shortfall: 0.3, stagnating: true }));
    state.applyAlert(version());
    expect(state.scoreboard()).toEqual([
      {
        owner: 'ada',
        name: 'Ada Lovelace',
        modules: 1,
        goals: { on_track: 0, at_risk: 0, off_track: 1, no_data: 0 },
        stagnating: 1,
        openAlerts: 1,
      },
      {
        owner: 'grace',
        name: 'Grace Hopper',
        modules: 1,
        goals: { on_track: 0, at_risk: 0, off_track: 0, no_data: 1 },
        stagnating: 0,
        openAlerts: 0,
      },
    ]);
  });
});
