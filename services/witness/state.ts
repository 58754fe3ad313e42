import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WitnessLogState } from '../core/audit/witness.js';
import { writeDurably } from '../runtime/admin-token.js';
import { ConfigError } from '../runtime/errors.js';

/** The file a witness keeps its state in: per log origin, the last size and root it cosigned. */
export function witnessStateFile(dataDir: string): string {
  return join(dataDir, 'witness-state.json');
}

/**
 * A witness's memory, one JSON file replaced atomically (temp file, fsync, rename, fsync of the
 * directory) on every change, so a witness killed at any point restarts with either the old state or
 * the new one, never a mix, and never forgets a checkpoint it has answered for.
 */
export class WitnessState {
  private constructor(
    private readonly file: string,
    private readonly logs: Map<string, { size: number; root: string; checkpoint: string }>,
  ) {}

  static async open(dataDir: string): Promise<WitnessState> {
    const file = witnessStateFile(dataDir);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const logs = new Map<string, { size: number; root: string; checkpoint: string }>();
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as {
          logs: Record<string, { size: number; root: string; checkpoint: string }>;
        };
        for (const [origin, log] of Object.entries(parsed.logs)) logs.set(origin, log);
      } catch (err) {
        throw new ConfigError(`${file} is not a witness state file: ${(err as Error).message}`);
      }
    }
    return new WitnessState(file, logs);
  }

  /** The last checkpoint cosigned for `origin`. */
  get(origin: string): WitnessLogState | undefined {
    const log = this.logs.get(origin);
    return log ? { size: log.size, root: Buffer.from(log.root, 'base64') } : undefined;
  }

  /** Remembers a cosigned checkpoint; resolves once it is durable. */
  async set(origin: string, state: WitnessLogState, checkpoint: string): Promise<void> {
    const next = new Map(this.logs);
    next.set(origin, { size: state.size, root: state.root.toString('base64'), checkpoint });
    await writeDurably(this.file, `${JSON.stringify({ logs: Object.fromEntries(next) }, null, 2)}\n`);
    this.logs.set(origin, next.get(origin)!);
  }
}
