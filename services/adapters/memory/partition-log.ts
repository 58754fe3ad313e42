import type { IncomingRecord } from '../../ports/bus.js';

/** One partition of an in-process topic: records with explicit offsets, oldest first. */
export class PartitionLog {
  private records: IncomingRecord[] = [];
  private next = 0;

  constructor(
    private readonly retain: number,
    private readonly compacted: boolean,
    /**
     * The lowest offset some consumer group still has to read (durable mode): trimming never drops
     * records at or above it, so a lagging group is never skipped past records it has not seen.
     */
    private readonly floor: () => number = () => Number.POSITIVE_INFINITY,
  ) {}

  /** The offset the next record will get (Kafka's log end offset / high watermark). */
  get end(): number {
    return this.next;
  }

  /** The oldest offset still held. */
  get start(): number {
    return this.records.length > 0 ? Number(this.records[0]!.offset) : this.next;
  }

  append(record: Omit<IncomingRecord, 'offset'>): void {
    this.records.push({ ...record, offset: String(this.next++) });
    // Trim in chunks (amortized O(1)) once a quarter over the limit.
    if (this.records.length > this.retain * 1.25) this.trim();
  }

  /**
   * Appends records that already carry their offsets (a log reloaded from disk, or records the disk
   * log made durable), in offset order. Offsets may skip (a compacted file) but never go back.
   */
  appendStored(
    records: ReadonlyArray<Omit<IncomingRecord, 'offset'> & { offset: string }>,
    next?: number,
  ): void {
    for (const r of records) {
      const offset = Number(r.offset);
      if (offset < this.next) continue;
      this.records.push(r);
      this.next = offset + 1;
    }
    if (next !== undefined && next > this.next) this.next = next;
    if (this.records.length > this.retain * 1.25) this.trim();
  }

  /** Up to `max` records from `offset` on (an offset already trimmed starts at the oldest held). */
  read(offset: number, max: number): IncomingRecord[] {
    const lo = this.indexAt(offset);
    return this.records.slice(lo, lo + max);
  }

  /** Index of the first held record at or after `offset`. */
  private indexAt(offset: number): number {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Number(this.records[mid]!.offset) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private trim(): void {
    const floor = this.floor();
    if (Number.isFinite(floor)) {
      // Only what every group has read may go; compaction is left to the disk log.
      const drop = Math.min(this.indexAt(floor), this.records.length - this.retain);
      // Amortized like the plain trim: only a chunk of at least a quarter is worth copying the array.
      if (drop >= this.retain / 4) this.records = this.records.slice(drop);
      return;
    }
    if (this.compacted) {
      // Keep the latest record per key (null keys cannot be compacted and age out like a plain log).
      const latest = new Map<string, number>();
      this.records.forEach((r, i) => {
        if (r.key !== null) latest.set(r.key, i);
      });
      this.records = this.records.filter((r, i) => r.key !== null && latest.get(r.key) === i);
      if (this.records.length <= this.retain) return;
    }
    this.records = this.records.slice(this.records.length - this.retain);
  }
}

/** A stable 32-bit FNV-1a hash of a key, for partitioning (not Kafka's murmur2; never mixed with it). */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
