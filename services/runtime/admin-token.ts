import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { bootstrapAdmin, hashSecret, issueSecret } from '../core/auth/secrets.js';
import { ConfigError } from './errors.js';

/** How the bootstrap admin is recognised in this run. */
export interface BootstrapAdmin {
  /** A token in plain text: `GLASSHOUSE_ADMIN_TOKEN`, or the one generated on this (first) run. */
  token: string | undefined;
  /** The stored scrypt hash of the generated token (every standalone run after the first). */
  hash: string | undefined;
  /** True when the token was generated now: the one time it is shown. */
  generated: boolean;
}

/** `<data dir>/admin-token.hash`: one line, the scrypt hash of the generated token, mode 0600. */
export function adminHashFile(dataDir: string): string {
  return join(dataDir, 'admin-token.hash');
}

/**
 * Standalone without `GLASSHOUSE_ADMIN_TOKEN`: generates the bootstrap admin's token on the first run
 * and keeps only its salted hash, so later runs accept the same token without it ever being written
 * to disk or printed again. A configured token always wins (the stored hash is then ignored).
 */
export async function resolveBootstrapAdmin(
  configured: string | undefined,
  dataDir: string,
): Promise<BootstrapAdmin> {
  if (configured !== undefined) return { token: configured, hash: undefined, generated: false };
  const path = adminHashFile(dataDir);
  const stored = await readHash(path);
  if (stored !== undefined) return { token: undefined, hash: stored, generated: false };
  // `gh_admin_bootstrap_<hex>`: the registry only runs scrypt for secrets of this shape.
  const token = issueSecret('admin', bootstrapAdmin.id);
  await writeDurably(path, `${await hashSecret(token)}\n`);
  return { token, hash: undefined, generated: true };
}

async function readHash(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const hash = text.trim();
  if (!/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/.test(hash)) {
    throw new ConfigError(
      `${path} does not hold an admin token hash; delete it to generate a new admin token, or set GLASSHOUSE_ADMIN_TOKEN`,
    );
  }
  return hash;
}

/** Writes a file atomically (temp file, fsync, rename, fsync of the directory), mode 0600. */
export async function writeDurably(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(text, 'utf8');
    await file.chmod(0o600);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * `<data dir>/admin-token.check`: the keyed pre-check of the generated token (see `secretCheck`),
 * so a flood of wrong `gh_admin_bootstrap_…` tokens never reaches scrypt. Written after the token's
 * first successful check; a missing or unreadable file only means scrypt decides until then.
 */
export function adminCheckFile(dataDir: string): string {
  return join(dataDir, 'admin-token.check');
}

export async function readAdminCheck(dataDir: string): Promise<string | undefined> {
  try {
    const text = (await readFile(adminCheckFile(dataDir), 'utf8')).trim();
    return text.length ? text : undefined;
  } catch {
    return undefined;
  }
}
