/**
 * The storage catalog: every table Glasshouse stores, its columns and how duplicates collapse.
 *
 * Every table is append-only. A row is identified by its `key`; when a replay or a new version
 * writes the same key again, reads see one row per key: the one with the greatest `version`
 * column (or, with no version column, any one of them, as they are identical replays).
 * ClickHouse implements this with ReplacingMergeTree (ORDER BY key, version column), whose merges
 * drop superseded versions, and at read time a GROUP BY over the key with `argMax` by version;
 * DuckDB with a window over the key at read time (and its compaction). No unique index is used anywhere, so a process
 * killed mid-write can never leave a store that refuses to replay its log.
 *
 * Times are epoch milliseconds in Int64 `*_ms` columns. ClickHouse additionally keeps a DateTime
 * beside some of them for partitioning (see the migrations); readers never need it.
 */
export type ColumnType = 'string' | 'int64' | 'uint32' | 'float64' | 'bool' | 'json';

export interface TableSpec {
  columns: Record<string, ColumnType>;
  /** Columns that identify one logical row. */
  key: readonly string[];
  /** Column whose greatest value wins among rows with the same key. */
  version?: string;
}

export const tables = {
  metric_events: {
    columns: {
      module_id: 'string',
      agency_id: 'string',
      event_id: 'string',
      metric: 'string',
      value: 'float64',
      observed_ms: 'int64',
      received_ms: 'int64',
      dimensions: 'json',
      late: 'bool',
      module_version: 'uint32',
      /**
       * A correction: the eventId of the version it replaced (the newest of its chain when it was
       * counted, whatever the agency named), '' for a plain event. The corrected set, which every
       * number is computed over, is the events no counted correction names here, retractions aside.
       */
      supersedes: 'string',
      /** A retraction: with `supersedes`, removes that version and is not counted itself. */
      retract: 'bool',
      /** The agency's reason for a correction, public. */
      note: 'string',
    },
    key: ['module_id', 'agency_id', 'event_id'],
  },
  rollups: {
    columns: {
      module_id: 'string',
      rule_id: 'string',
      metric: 'string',
      width_ms: 'int64',
      bucket_ms: 'int64',
      module_version: 'uint32',
      count: 'int64',
      sum: 'float64',
      min: 'float64',
      max: 'float64',
      last_value: 'float64',
      last_ms: 'int64',
      last_event_id: 'string',
      sketch: 'string',
      updated_ms: 'int64',
    },
    key: ['module_id', 'rule_id', 'width_ms', 'bucket_ms'],
    // The newest row wins: `updated_ms` is the processing time of the batch that wrote it, strictly
    // increasing per partition and never below a stored one after a restore (processor/partition.ts).
    // Not the count: a correction can take events out of a bucket.
    version: 'updated_ms',
  },
  performance_updates: {
    columns: {
      module_id: 'string',
      goal_id: 'string',
      as_of_ms: 'int64',
      module_version: 'uint32',
      status: 'string',
      value: 'float64',
      body: 'json',
      /**
       * When it was published: the processing time of the batch that made it. A correction restates
       * a goal's value at an asOf already published; the newest publication wins, and the earlier
       * ones stay, so the history can answer what was published at any time (vintages).
       */
      published_ms: 'int64',
    },
    key: ['module_id', 'goal_id', 'as_of_ms'],
    version: 'published_ms',
  },
  alerts: {
    columns: {
      alert_id: 'string',
      version: 'uint32',
      module_id: 'string',
      rule_id: 'string',
      kind: 'string',
      state: 'string',
      opened_ms: 'int64',
      updated_ms: 'int64',
      body: 'json',
    },
    key: ['alert_id', 'version'],
  },
  module_versions: {
    columns: {
      module_id: 'string',
      version: 'uint32',
      updated_ms: 'int64',
      body: 'json',
    },
    key: ['module_id', 'version'],
  },
  registry_entities: {
    columns: {
      kind: 'string',
      id: 'string',
      version: 'uint32',
      updated_ms: 'int64',
      deleted: 'bool',
      body: 'json',
    },
    key: ['kind', 'id'],
    version: 'version',
  },
  audit_log: {
    columns: {
      seq: 'int64',
      at_ms: 'int64',
      actor: 'string',
      action: 'string',
      subject: 'string',
      hash: 'string',
      body: 'json',
    },
    key: ['seq'],
  },
  /**
   * Signed checkpoints of the audit log's Merkle tree (services/api/checkpoints.ts): the note as
   * served, with the log's signature and every witness cosignature collected so far. The row with
   * the most cosignatures wins; the newest checkpoint is the one of greatest size.
   */
  audit_checkpoints: {
    columns: {
      origin: 'string',
      size: 'int64',
      signed_ms: 'int64',
      cosignatures: 'uint32',
      note: 'string',
    },
    key: ['origin', 'size'],
    version: 'cosignatures',
  },
  /**
   * Corrections held for an admin's approval (their target was observed more than the module's
   * `correctionWindow` ago; processor/corrections.ts), keyed by `id` (core/performance/correction-policy.ts).
   * The processor writes the held row (`version` 1), an admin's decision (`approved` or `rejected`)
   * is version 2 and wins, so a held row written again by a replay changes nothing.
   */
  held_corrections: {
    columns: {
      id: 'string',
      module_id: 'string',
      agency_id: 'string',
      event_id: 'string',
      metric: 'string',
      /** The eventId the correction named, and the newest version of its chain when it was held. */
      supersedes: 'string',
      replaces: 'string',
      target_observed_ms: 'int64',
      held_ms: 'int64',
      state: 'string',
      version: 'uint32',
      decided_by: 'string',
      decided_ms: 'int64',
      rationale: 'string',
      /** The MetricEvent as the agency sent it (applied as is once approved). */
      event: 'json',
    },
    key: ['id'],
    version: 'version',
  },
  /**
   * The last cumulative point ingest took of each OTLP series (services/core/otlp/series.ts), so a
   * cumulative sum becomes the same deltas whichever ingest replica receives the next export, and
   * after a restart. The newest point wins.
   */
  otlp_series: {
    columns: {
      agency_id: 'string',
      series_id: 'string',
      start_ns: 'string',
      time_ns: 'string',
      time_ms: 'int64',
      value: 'float64',
      base: 'float64',
    },
    key: ['agency_id', 'series_id'],
    version: 'time_ms',
  },
  dead_letters: {
    columns: {
      id: 'string',
      source_topic: 'string',
      source_partition: 'uint32',
      source_offset: 'string',
      reason: 'string',
      received_ms: 'int64',
      headers: 'json',
      payload: 'string',
      replayed_ms: 'int64',
    },
    key: ['id'],
    version: 'replayed_ms',
  },
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof tables;

type TsOf<C> = C extends 'string' ? string : C extends 'bool' ? boolean : C extends 'json' ? unknown : number;

/** The row shape of a table, derived from the catalog. */
export type Row<T extends TableName> = {
  -readonly [K in keyof (typeof tables)[T]['columns']]: TsOf<(typeof tables)[T]['columns'][K]>;
};
