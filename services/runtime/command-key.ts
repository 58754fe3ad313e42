import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { deriveCommandKey } from '../core/validation/index.js';
import { ConfigError } from './errors.js';

/** The key command records on `metrics.raw` are signed with, and where it came from. */
export interface CommandKey {
  key: Buffer;
  source: 'GLASSHOUSE_COMMAND_KEY' | 'GLASSHOUSE_ADMIN_TOKEN' | 'admin token hash file' | 'random';
}

/**
 * Picks the key the roles sign and verify commands with (processor.ts, oversight/acknowledge.ts).
 * Every process that sends or executes commands must arrive at the same key:
 * `GLASSHOUSE_COMMAND_KEY` if set; else derived from `GLASSHOUSE_ADMIN_TOKEN`; else (standalone)
 * from the bootstrap admin's hash file, which outlives restarts, so a command still in the bus log
 * after a restart verifies; else a random key, enough only when all roles share this process.
 */
export async function resolveCommandKey(sources: {
  configured: string | undefined;
  adminToken: string | undefined;
  adminHashFile: string | undefined;
}): Promise<CommandKey> {
  if (sources.configured !== undefined)
    return { key: deriveCommandKey(sources.configured), source: 'GLASSHOUSE_COMMAND_KEY' };
  if (sources.adminToken !== undefined)
    return { key: deriveCommandKey(sources.adminToken), source: 'GLASSHOUSE_ADMIN_TOKEN' };
  if (sources.adminHashFile !== undefined) {
    let text: string;
    try {
      text = await readFile(sources.adminHashFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read ${sources.adminHashFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    return { key: deriveCommandKey(text.trim()), source: 'admin token hash file' };
  }
  return { key: randomBytes(32), source: 'random' };
}
