import { chmod, lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGlasshouse } from '../../services/main.js';
import { loadConfig } from '../../services/runtime/config.js';
import { createLogger } from '../../services/runtime/logger.js';

/** Every path under `dir` with its permission bits. */
async function modes(dir: string): Promise<Array<[string, string]>> {
  const found: Array<[string, string]> = [];
  const walk = async (path: string) => {
    const info = await lstat(path);
    found.push([path.slice(dir.length) || '/', (info.mode & 0o777).toString(8)]);
    if (info.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
  return found;
}

describe('the standalone data directory', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('keeps its files 0600 and directories 0700, and tightens those an older version left open', async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), 'gh-files-')), 'data');
    dirs.push(join(dataDir, '..'));
    const config = loadConfig({}, { port: 0, dataDir });
    const logger = createLogger('silent');
    const first = await startGlasshouse(config, logger);
    expect(first.generatedAdminToken).toBeDefined();
    await first.stop();
    const created = await modes(dataDir);
    const logKey = await readFile(join(dataDir, 'audit-log-key.pem'), 'utf8');
    expect(logKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(created.map(([path]) => path)).toEqual(
      expect.arrayContaining(['/', '/admin-token.hash', '/audit-log-key.pem', '/bus', '/glasshouse.duckdb']),
    );
    const loose = async (list: Array<[string, string]>) => {
      const wrong: Array<[string, string]> = [];
      for (const [path, mode] of list) {
        const dir = (await lstat(join(dataDir, path))).isDirectory();
        if (mode !== (dir ? '700' : '600')) wrong.push([path, mode]);
      }
      return wrong;
    };
    expect(await loose(created)).toEqual([]);

    // As an older version left it: everything readable by all.
    for (const [path] of created) {
      const full = join(dataDir, path);
      await chmod(full, (await lstat(full)).isDirectory() ? 0o755 : 0o644);
    }
    const second = await startGlasshouse(config, logger);
    await second.stop();
    const after = await modes(dataDir);
    expect(await loose(after)).toEqual([]);
    expect(after.find(([path]) => path === '/')?.[1]).toBe('700');
    expect(after.find(([path]) => path === '/admin-token.hash')?.[1]).toBe('600');
    expect(after.find(([path]) => path === '/audit-log-key.pem')?.[1]).toBe('600');
    // Generated once: later runs sign with the same key.
    expect(await readFile(join(dataDir, 'audit-log-key.pem'), 'utf8')).toBe(logKey);
  });
});
