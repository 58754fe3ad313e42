import type { Store } from '../ports/store.js';
import type { Row, TableName } from '../ports/tables.js';

interface Waiter {
  rows: Row<TableName>[];
  resolve(): void;
  reject(err: unknown): void;
}

interface Lane {
  /** Callers whose rows go into the next insert. */
  queued: Waiter[];
  /** True while an insert into this table runs or is about to start. */
  busy: boolean;
}

/**
 * Group commit: inserts into one table asked for by several partitions at about the same time go to
 * the store as one insert. At most one insert per table is in flight; the callers that arrive
 * meanwhile share the next one. Each caller's promise settles only once the insert holding its rows
 * was acknowledged, so "written" means what it meant without the coalescing. If a shared insert
 * fails, each caller's rows are tried on their own, so one caller's bad rows never fail another's.
 *
 * Rows of several partitions in one insert are fine: tables are append-only and deduplicated at
 * read (ports/tables.ts), and a caller's later steps (rollups last) still wait for its own ack.
 */
export class InsertCoalescer {
  private readonly lanes = new Map<TableName, Lane>();

  constructor(private readonly store: Store) {}

  insert<T extends TableName>(table: T, rows: Row<T>[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    let lane = this.lanes.get(table);
    if (!lane) {
      lane = { queued: [], busy: false };
      this.lanes.set(table, lane);
    }
    const done = new Promise<void>((resolve, reject) => {
      lane.queued.push({ rows: rows as Row<TableName>[], resolve, reject });
    });
    if (!lane.busy) {
      lane.busy = true;
      // Callers of the same turn of the event loop join the first insert.
      setImmediate(() => void this.drain(table, lane));
    }
    return done;
  }

  private async drain(table: TableName, lane: Lane): Promise<void> {
    while (lane.queued.length > 0) {
      const round = lane.queued;
      lane.queued = [];
      await this.write(table, round);
    }
    lane.busy = false;
  }

  private async write(table: TableName, round: Waiter[]): Promise<void> {
    try {
      await this.store.insert(
        table,
        round.flatMap((w) => w.rows),
      );
      for (const w of round) w.resolve();
      return;
    } catch (err) {
      if (round.length === 1) {
        round[0]!.reject(err);
        return;
      }
    }
    await Promise.all(
      round.map((w) =>
        this.store.insert(table, w.rows).then(
          () => w.resolve(),
          (err: unknown) => w.reject(err),
        ),
      ),
    );
  }
}
