import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { BusError } from '../../ports/bus-errors.js';
import { type DamageFix, syncDir } from './partition-file.js';

/** Committed offsets of every consumer group: topic → group → partition → next offset to read. */
export type CommittedOffsets = Map<string, Map<string, Map<number, number>>>;

const Entries = z.array(
  z.strictObject({
    topic: z.string().min(1),
    group: z.string().min(1),
    partitions: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)),
  }),
);
type Entry = z.infer<typeof Entries>[number];

/**
 * The file: the entries and a CRC-32 of their JSON. A flipped digit would otherwise still parse, and
 * a committed offset moved up within the log skips records silently. A file without `crc32` (written
 * by an older version, or edited by hand as a refusal's fix says) is taken as it is.
 */
const OffsetsDocument = z.union([
  Entries,
  z.strictObject({ entries: Entries, crc32: z.number().int().min(0).optional() }),
]);

/**
 * The in-process bus's committed consumer offsets on disk (`offsets.json`), replaced atomically
 * (temp file, fsync, rename, fsync of the directory), so a kill leaves either the old or the new
 * file. Commits are frequent, so writes coalesce: while one is in flight, later commits mark the
 * file dirty and one more write follows. A commit not yet written only means redelivery after a
 * crash (at-least-once), never a loss.
 */
export class OffsetsFile {
  private readonly path: string;
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    dir: string,
    /** Reads the current offsets at write time. */
    private readonly snapshot: () => CommittedOffsets,
    /** Called with the offsets each successful write made durable. */
    private readonly onWritten: (written: CommittedOffsets) => void,
  ) {
    this.path = join(dir, 'offsets.json');
  }

  /** Reads the offsets written by an earlier run (none when the file does not exist yet). */
  async load(): Promise<CommittedOffsets> {
    const out: CommittedOffsets = new Map();
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw err;
    }
    for (const e of this.parse(text)) {
      const groups = out.get(e.topic) ?? new Map<string, Map<number, number>>();
      out.set(e.topic, groups);
      groups.set(e.group, new Map(Object.entries(e.partitions).map(([p, o]) => [Number(p), o])));
    }
    return out;
  }

  /** The file's entries; a file that does not parse is damage, never read as "no offsets". */
  private parse(text: string): Entry[] {
    let reason: string;
    try {
      const parsed = OffsetsDocument.safeParse(JSON.parse(text));
      if (parsed.success) {
        const doc = parsed.data;
        if (Array.isArray(doc)) return doc;
        const sum = crc32(JSON.stringify(doc.entries));
        if (doc.crc32 === undefined || doc.crc32 === sum) return doc.entries;
        reason = `its crc32 says ${doc.crc32} but its entries give ${sum}`;
      } else {
        const issue = parsed.error.issues[0];
        reason = `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`;
      }
    } catch (err) {
      reason = (err as Error).message;
    }
    throw new BusError(
      'bus_log_damaged',
      `bus log damaged: ${this.path} cannot be read (${reason}). Not starting; restore it from the backup the bus log was taken with, or, to accept that every consumer group reads what the log holds again, remove it.`,
      false,
      undefined,
      { kind: 'offsets_unreadable', path: this.path, remove: [this.path] } satisfies DamageFix,
    );
  }

  /** Schedules a write of the current offsets. */
  schedule(): void {
    this.dirty = true;
    this.writing ??= this.writeWhileDirty().finally(() => {
      this.writing = undefined;
    });
  }

  /** Resolves once everything scheduled so far is written. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeWhileDirty(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const offsets = copy(this.snapshot());
      const entries: Entry[] = [];
      for (const [topic, groups] of offsets)
        for (const [group, partitions] of groups)
          entries.push({ topic, group, partitions: Object.fromEntries(partitions) });
      try {
        const temp = `${this.path}.tmp`;
        const h = await open(temp, 'w');
        try {
          const json = JSON.stringify(entries);
          await h.writeFile(`{"entries":${json},"crc32":${crc32(json)}}\n`, 'utf8');
          await h.sync();
        } finally {
          await h.close();
        }
        await rename(temp, this.path);
        await syncDir(join(this.path, '..'));
        this.onWritten(offsets);
      } catch {
        // The next commit schedules another attempt; until then the older file stands (redelivery).
        return;
      }
    }
  }
}

function copy(offsets: CommittedOffsets): CommittedOffsets {
  return new Map(
    [...offsets].map(([t, groups]) => [t, new Map([...groups].map(([g, parts]) => [g, new Map(parts)]))]),
  );
}
