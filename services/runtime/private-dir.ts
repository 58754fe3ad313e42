import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** What Glasshouse keeps in a data directory: only these are tightened (the directory may hold other things). */
const ownEntries = /^(glasshouse\.duckdb.*|bus|admin-token\..*|demo-.*|audit-log-key\.pem)$/;

/**
 * Makes the data directory private to this user: the directory 0700, Glasshouse's own entries in it
 * (the DuckDB file, the bus log, the admin token hash) 0700 for directories and 0600 for files (scrypt
 * hashes, webhook secrets and raw events live there), and a umask of 077 so whatever this process
 * creates later is private too. Fixes the modes a directory made by an older version has.
 * Symbolic links are left as they are.
 */
export async function makePrivateDir(dir: string): Promise<void> {
  process.umask(0o077);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir)) if (ownEntries.test(entry)) await tighten(join(dir, entry));
}

async function tighten(path: string): Promise<void> {
  const info = await lstat(path);
  if (info.isSymbolicLink()) return;
  if (info.isDirectory()) {
    if ((info.mode & 0o777) !== 0o700) await chmod(path, 0o700);
    for (const entry of await readdir(path)) await tighten(join(path, entry));
  } else if (info.isFile() && (info.mode & 0o077) !== 0) {
    await chmod(path, info.mode & 0o700);
  }
}
