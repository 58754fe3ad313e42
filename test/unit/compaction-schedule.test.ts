import { describe, expect, it } from 'vitest';
import { CompactionSchedule, compactedTables } from '../../services/adapters/duckdb/compaction.js';

describe('CompactionSchedule', () => {
  it('compacts only versioned tables', () => {
    expect(compactedTables).toContain('rollups');
    expect(compactedTables).not.toContain('metric_events');
    const schedule = new CompactionSchedule(10);
    expect(schedule.noteInserted('metric_events', 1_000)).toBe(false);
  });

  it('is due after the minimum, then once the table has doubled since its last pass', () => {
    const schedule = new CompactionSchedule(10);
    expect(schedule.noteInserted('rollups', 9)).toBe(false);
    expect(schedule.noteInserted('rollups', 1)).toBe(true);
    schedule.notePass('rollups', 25);
    expect(schedule.noteInserted('rollups', 24)).toBe(false);
    expect(schedule.noteInserted('rollups', 1)).toBe(true);
    schedule.notePass('rollups', 3);
    expect(schedule.noteInserted('rollups', 9)).toBe(false);
    expect(schedule.noteInserted('rollups', 1)).toBe(true);
  });
});
