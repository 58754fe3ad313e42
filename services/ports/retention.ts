/**
 * Retention: what the store forgets, and by which time. Every other table (registry, module
 * versions, the audit log, dead letters) is kept forever: the audit chain must stay complete.
 */

/** The tables whose rows may expire, each by one time column (epoch ms). */
export const expiryTimes = {
  /** Event time, which ClickHouse partitions by: an event is kept for N days after it was observed. */
  metric_events: 'observed_ms',
  performance_updates: 'as_of_ms',
  rollups: 'bucket_ms',
  /**
   * The newest version's `updated_ms`, for alerts whose newest version is `resolved`: all versions of
   * a closed alert expire together, and an open alert never expires.
   */
  alerts: 'updated_ms',
} as const;

export type ExpiringTable = keyof typeof expiryTimes;

export const expiringTables = Object.keys(expiryTimes) as ExpiringTable[];

/** What one `expire` call removed. */
export interface Expiry {
  table: ExpiringTable;
  /** Rows older than this (epoch ms) were eligible. */
  beforeMs: number;
  /** Stored rows removed (replayed copies ClickHouse had not yet merged count once each). */
  rows: number;
  /** ClickHouse: the partitions dropped (toYYYYMM ids); empty for DuckDB and for alerts. */
  partitions: string[];
}

/** The storage side of retention, implemented by every Store adapter. */
export interface Expiring {
  /**
   * Removes rows of `table` older than `beforeMs` by its expiry time (see `expiryTimes`), never a
   * newer one. DuckDB removes every older row; ClickHouse drops only whole monthly partitions that
   * lie entirely before `beforeMs`, so it keeps a row up to one month longer.
   */
  expire(table: ExpiringTable, beforeMs: number): Promise<Expiry>;
}
