import type { IncomingRecord } from '../../ports/bus.js';

/** One partition of an in-process topic: records with explicit offsets, oldest first. */
export class PartitionLog {
  private records: IncomingRecord[] = [];
  private next = 0;

  constructor(
    private readonly retain: number,
    private readonly compacted: boolean,
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

  /** Up to `max` records from `offset` on (an offset already trimmed starts at the oldest held). */
  read(offset: number, max: number): IncomingRecord[] {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Number(this.records[mid]!.offset) < offset) lo = mid + 1;
      else hi = mid;
    }
    return this.records.slice(lo, lo + max);
  }

  private trim(): void {
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
