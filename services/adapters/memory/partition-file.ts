import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { IncomingRecord } from '../../ports/bus.js';
import { BusError } from '../../ports/bus-errors.js';

/** A record as kept on disk: everything but the topic and partition (the file's place says those). */
export type StoredRecord = Omit<IncomingRecord, 'topic' | 'partition'>;
type NewRecord = Omit<StoredRecord, 'offset'>;

export interface PartitionFileOptions {
  /** The partition's directory: `<bus dir>/<topic>/<partition>`. */
  dir: string;
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes: number;
  /** Keep the latest record per key when closed segments are rewritten. */
  compacted: boolean;
  /** Called after every fsync with the records it made durable, in offset order. */
  onDurable(records: StoredRecord[]): void;
}

interface Segment {
  base: number;
  path: string;
  size: number;
  /** Offset of the last record in it, base − 1 when empty. */
  last: number;
}

/** A torn record cut off the end of the log when it was opened (normal after a kill mid-write). */
export interface Truncation {
  /** The segment file it was cut from. */
  path: string;
  /** Where the cut was made, in bytes from the start of the segment. */
  atByte: number;
  /** How many bytes were cut. */
  bytes: number;
  /** The offset the log continues at: the torn record's, if it had been whole. */
  offset: number;
}

interface Waiting {
  records: NewRecord[];
  resolve(): void;
  reject(err: unknown): void;
}

// Frame: u32 length of what follows the crc | u32 crc32 | f64 offset | f64 timestamp |
// i32 key length (−1 = null) | u32 headers length | key | headers JSON | value.
const frameHead = 8;
const bodyHead = 24;

/**
 * One partition of the in-process bus on disk: an append-only log in segment files named by their
 * first offset. Appends use group commit: while one write + fdatasync is in flight, later appends
 * queue, and the next flush writes all of them with one write and one fdatasync. A record becomes
 * visible to consumers (`onDurable`) only after its fdatasync, as on Kafka where consumers read up to
 * the high watermark. Every frame carries a CRC, so a write torn by a kill is cut off at the next open.
 */
export class PartitionFile {
  private segments: Segment[] = [];
  private handle: FileHandle | undefined;
  private next = 0;
  private queue: Waiting[] = [];
  private flushing = false;
  private maintaining: Promise<void> = Promise.resolve();
  private closed = false;
  /** A torn last record found by `load`, not cut yet. */
  private torn: { path: string; at: number } | undefined;

  private constructor(private readonly o: PartitionFileOptions) {}

  /** Opens (creating if needed) the partition's log; returns it with every record it holds. */
  static async open(
    o: PartitionFileOptions,
  ): Promise<{ file: PartitionFile; records: StoredRecord[]; next: number; truncation?: Truncation }> {
    const file = new PartitionFile(o);
    const { records, truncation } = await file.load();
    return { file, records, next: file.next, ...(truncation ? { truncation } : {}) };
  }

  /** Offset the next appended record gets. */
  get end(): number {
    return this.next;
  }

  /** Cuts off the torn last record `open` reported, if any (appends do it first in any case). */
  async cutTorn(): Promise<void> {
    const torn = this.torn;
    if (!torn) return;
    const h = await open(torn.path, 'r+');
    try {
      await h.truncate(torn.at);
      await h.sync();
    } finally {
      await h.close();
    }
    this.torn = undefined;
  }

  /** Appends records and resolves once they are on disk (fdatasync) and visible. */
  append(records: NewRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('partition file closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /**
   * Deletes closed segments whose records all lie below `offset` (every group has committed past
   * them). For a log without groups, `offset` may be Infinity: then only the newest `keep` closed
   * segments stay.
   */
  dropBelow(offset: number, keep = 1): Promise<void> {
    this.maintaining = this.maintaining.then(async () => {
      const closed = this.segments.slice(0, -1);
      const excess = closed.length - keep;
      const doomed = closed.filter((s, i) => s.last < offset && (Number.isFinite(offset) || i < excess));
      for (const s of doomed) await unlink(s.path).catch(() => {});
      this.segments = this.segments.filter((s) => !doomed.includes(s));
    });
    return this.maintaining;
  }

  /** Waits for queued appends and maintenance, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
    await this.maintaining;
    await this.handle?.close();
    this.handle = undefined;
  }

  /**
   * Reads every segment. A bad frame with nothing intact after it in the last segment is a write torn
   * by a kill (the frames of one write land in order, and only the last write can be unsynced): it
   * is cut off and reported. Anything else is damage the log cannot repair without losing records
   * that were acknowledged, maybe not yet read: a bad frame with intact frames after it, a bad frame
   * in a closed segment, records missing between segments. Then it throws `bus_log_damaged`, naming
   * the file, the place and the fix, and changes nothing on disk.
   */
  private async load(): Promise<{ records: StoredRecord[]; truncation?: Truncation }> {
    await mkdir(this.o.dir, { recursive: true });
    const names = (await readdir(this.o.dir)).filter((n) => /^\d{20}\.log$/.test(n)).sort();
    const out: StoredRecord[] = [];
    let torn: { path: string; at: number; length: number } | undefined;
    for (const [i, name] of names.entries()) {
      const path = join(this.o.dir, name);
      const base = Number(name.slice(0, 20));
      // Segments of a plain log follow each other without a gap (a compacted one has gaps by design).
      if (!this.o.compacted && i > 0 && base > this.next) {
        const previous = join(this.o.dir, names[i - 1]!);
        throw damaged(
          `${previous} ends before offset ${this.next}, but the next segment ${name} starts at offset ${base}: records ${this.next} to ${base - 1} are missing`,
          `restore ${previous} from a backup, or, to give up every record before offset ${base}, remove ${names
            .slice(0, i)
            .join(', ')} from ${this.o.dir}`,
          {
            kind: 'missing_records',
            path: previous,
            remove: names.slice(0, i).map((n) => join(this.o.dir, n)),
          },
        );
      }
      if (this.next < base) this.next = base;
      const bytes = await readFile(path);
      const { records, goodBytes } = decodeFrames(bytes);
      const last = records.length > 0 ? Number(records[records.length - 1]!.offset) : base - 1;
      if (goodBytes < bytes.length) {
        const badAt = Math.max(last + 1, base);
        const after = findIntactFrame(bytes, goodBytes + 1, badAt);
        if (after !== undefined || i < names.length - 1) {
          const following =
            after !== undefined
              ? `an intact record (offset ${after.offset}) follows it at byte ${after.at}`
              : `later segments follow it (${names.slice(i + 1).join(', ')})`;
          throw damaged(
            `${path} holds a corrupt record at byte ${goodBytes} (offset ${badAt}) and ${following}: this is not a write torn by a crash`,
            `restore ${path} from a backup, or, to give up the records from offset ${badAt} on, truncate it to ${goodBytes} bytes${i < names.length - 1 ? ` and remove ${names.slice(i + 1).join(', ')}` : ''}`,
            {
              kind: 'corrupt_record',
              path,
              truncateTo: goodBytes,
              remove: names.slice(i + 1).map((n) => join(this.o.dir, n)),
            },
          );
        }
        torn = { path, at: goodBytes, length: bytes.length - goodBytes };
      }
      // A compaction interrupted before deleting the segments it replaced leaves records twice.
      for (const r of records) {
        if (Number(r.offset) < this.next) continue;
        out.push(r);
        this.next = Number(r.offset) + 1;
      }
      this.segments.push({ base, path, size: goodBytes, last });
    }
    let truncation: Truncation | undefined;
    if (torn) {
      // Cut by `cutTorn` (or the first append), once the caller has found nothing else wrong: a start
      // refused for other damage leaves the files exactly as it found them.
      this.torn = torn;
      truncation = { path: torn.path, atByte: torn.at, bytes: torn.length, offset: this.next };
    }
    if (this.segments.length === 0) await this.roll();
    else this.handle = await open(this.segments[this.segments.length - 1]!.path, 'a');
    return truncation ? { records: out, truncation } : { records: out };
  }

  private async roll(): Promise<void> {
    await this.handle?.close();
    const path = join(this.o.dir, `${String(this.next).padStart(20, '0')}.log`);
    this.handle = await open(path, 'a');
    this.segments.push({ base: this.next, path, size: 0, last: this.next - 1 });
    await syncDir(this.o.dir);
    if (this.o.compacted && this.segments.length > 2) {
      this.maintaining = this.maintaining.then(() => this.compact()).catch(() => {});
    }
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0);
        const active = this.segments[this.segments.length - 1];
        try {
          await this.cutTorn();
          if (!active || active.size >= this.o.segmentBytes) await this.roll();
          const segment = this.segments[this.segments.length - 1]!;
          let offset = this.next;
          const stored: StoredRecord[] = [];
          for (const w of group) for (const r of w.records) stored.push({ ...r, offset: String(offset++) });
          const bytes = Buffer.concat(stored.map(encodeFrame));
          try {
            await writeAll(this.handle!, bytes);
            await this.handle!.datasync();
          } catch (err) {
            // Cut off whatever part of the write landed, so the next frame starts on a boundary.
            await this.handle!.truncate(segment.size).catch(() => {});
            throw err;
          }
          segment.size += bytes.length;
          segment.last = offset - 1;
          this.next = offset;
          this.o.onDurable(stored);
          for (const w of group) w.resolve();
        } catch (err) {
          for (const w of group) w.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Rewrites the closed segments into one holding the latest record per key (compacted topics). */
  private async compact(): Promise<void> {
    const closed = this.segments.slice(0, -1);
    if (closed.length < 2) return;
    const latest = new Map<string, StoredRecord>();
    for (const s of closed) {
      for (const r of decodeFrames(await readFile(s.path)).records) if (r.key !== null) latest.set(r.key, r);
    }
    const kept = [...latest.values()].sort((a, b) => Number(a.offset) - Number(b.offset));
    const bytes = Buffer.concat(kept.map(encodeFrame));
    const first = closed[0]!;
    const temp = `${first.path}.tmp`;
    const h = await open(temp, 'w');
    await writeAll(h, bytes);
    await h.sync();
    await h.close();
    await rename(temp, first.path);
    await syncDir(this.o.dir);
    for (const s of closed.slice(1)) await unlink(s.path).catch(() => {});
    const merged: Segment = { ...first, size: bytes.length, last: closed[closed.length - 1]!.last };
    this.segments = [merged, ...this.segments.slice(closed.length)];
  }
}

function encodeFrame(r: StoredRecord): Buffer {
  const key = r.key === null ? null : Buffer.from(r.key, 'utf8');
  const headers = Buffer.from(JSON.stringify(r.headers), 'utf8');
  const bodyLength = bodyHead + (key?.length ?? 0) + headers.length + r.value.length;
  const frame = Buffer.allocUnsafe(frameHead + bodyLength);
  frame.writeUInt32LE(bodyLength, 0);
  frame.writeDoubleLE(Number(r.offset), 8);
  frame.writeDoubleLE(r.timestamp, 16);
  frame.writeInt32LE(key === null ? -1 : key.length, 24);
  frame.writeUInt32LE(headers.length, 28);
  let at = frameHead + bodyHead;
  if (key) at += key.copy(frame, at);
  at += headers.copy(frame, at);
  r.value.copy(frame, at);
  frame.writeUInt32LE(crc32(frame.subarray(frameHead)), 4);
  return frame;
}

/** Decodes whole, intact frames from the start; stops at the first torn or corrupt one. */
export function decodeFrames(bytes: Buffer): { records: StoredRecord[]; goodBytes: number } {
  const records: StoredRecord[] = [];
  let at = 0;
  while (at + frameHead + bodyHead <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    const end = at + frameHead + length;
    if (length < bodyHead || end > bytes.length) break;
    const body = bytes.subarray(at + frameHead, end);
    if (crc32(body) !== bytes.readUInt32LE(at + 4)) break;
    const keyLength = body.readInt32LE(16);
    const headersLength = body.readUInt32LE(20);
    const keyEnd = bodyHead + Math.max(0, keyLength);
    const headersEnd = keyEnd + headersLength;
    if (headersEnd > body.length) break;
    const key = keyLength < 0 ? null : body.toString('utf8', bodyHead, keyEnd);
    let headers: Record<string, string>;
    try {
      headers = JSON.parse(body.toString('utf8', keyEnd, headersEnd)) as Record<string, string>;
    } catch {
      break;
    }
    records.push({
      offset: String(body.readDoubleLE(0)),
      timestamp: body.readDoubleLE(8),
      key,
      headers,
      value: Buffer.from(body.subarray(headersEnd)),
    });
    at = end;
  }
  return { records, goodBytes: at };
}

/**
 * The first position at or after `from` where a whole frame with a good CRC and an offset of at
 * least `minOffset` starts, if any. The offset test makes the scan cheap: a random position almost
 * never reads as a plausible offset, so the CRC is rarely computed.
 */
function findIntactFrame(
  bytes: Buffer,
  from: number,
  minOffset: number,
): { at: number; offset: number } | undefined {
  for (let at = from; at + frameHead + bodyHead <= bytes.length; at++) {
    const length = bytes.readUInt32LE(at);
    if (length < bodyHead || at + frameHead + length > bytes.length) continue;
    const offset = bytes.readDoubleLE(at + frameHead);
    if (!Number.isSafeInteger(offset) || offset < minOffset) continue;
    if (crc32(bytes.subarray(at + frameHead, at + frameHead + length)) === bytes.readUInt32LE(at + 4))
      return { at, offset };
  }
  return undefined;
}

/** The log cannot be opened without losing records silently; `details` says what to change to accept the loss. */
function damaged(what: string, fix: string, details: DamageFix): BusError {
  return new BusError(
    'bus_log_damaged',
    `bus log damaged: ${what}. Not starting; ${fix}.`,
    false,
    undefined,
    details,
  );
}

/** What `bus_log_damaged` names: the damaged file, and the change that accepts the loss. */
export type DamageFix =
  | { kind: 'corrupt_record' | 'missing_records'; path: string; truncateTo?: number; remove: string[] }
  | { kind: 'offsets_unreadable'; path: string; remove: string[] }
  | {
      kind: 'offset_past_end';
      offsetsFile: string;
      topic: string;
      partition: number;
      group: string;
      logEnd: number;
      committed: number;
    };

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
    written += bytesWritten;
  }
}

/** Makes a created, renamed or deleted directory entry durable. */
export async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
