import { describe, expect, it } from 'vitest';
import { CompactionSchedule, compactedTables } from '../../services/adapters/duckdb/compaction.js';

describe('CompactionSchedule', () => {
  it('compacts only versioned tables', () => {
    expect(compactedTables).toContain('rollups');
    expect(compactedTables).not.toContain('metric_events');
    const schedule = new CompactionSchedule(10);
    expect(schedule.noteInserted('metric_events', 1_000)).toBe(false);
  });

  it('is due every so many inserted rows, and the next pass starts where the last one looked', () => {
    const schedule = new CompactionSchedule(10);
    expect(schedule.sinceOf('rollups')).toBeUndefined();
    expect(schedule.noteInserted('rollups', 9)).toBe(false);
    expect(schedule.noteInserted('rollups', 1)).toBe(true);
    expect(schedule.noteInserted('rollups', 5)).toBe(true);
    schedule.notePass('rollups', { removed: 12, rows: 3, since: 1_234 });
    expect(schedule.sinceOf('rollups')).toBe(1_234);
    expect(schedule.noteInserted('rollups', 9)).toBe(false);
    expect(schedule.noteInserted('rollups', 1)).toBe(true);
    expect(schedule.noteInserted('registry_entities', 9)).toBe(false);
  });
});
