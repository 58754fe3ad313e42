import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { BusRegistryView } from '../../services/api/registry-view.js';
import { bootstrapAdmin } from '../../services/core/auth/secrets.js';
import type { Store } from '../../services/ports/store.js';
import { adminHashFile, resolveBootstrapAdmin } from '../../services/runtime/admin-token.js';
import { ConfigError } from '../../services/runtime/errors.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gh-admin-'));
  dirs.push(dir);
  return dir;
}

/** A registry view that only authenticates (no start: the bootstrap admin needs no registry data). */
function view(admin: { token: string | undefined; hash: string | undefined }): BusRegistryView {
  return new BusRegistryView({
    bus: new MemoryBus(),
    store: {} as Store,
    logger: pino({ level: 'silent' }),
    adminToken: admin.token,
    adminTokenHash: admin.hash,
  });
}

describe('standalone bootstrap admin token', () => {
  it('is generated once, kept only as a 0600 hash, and accepted again after a restart', async () => {
    const dir = await freshDir();
    const first = await resolveBootstrapAdmin(undefined, dir);
    expect(first.generated).toBe(true);
    expect(first.token).toMatch(/^gh_admin_bootstrap_[0-9a-f]{64}$/);
    expect((await stat(adminHashFile(dir))).mode & 0o777).toBe(0o600);

    const second = await resolveBootstrapAdmin(undefined, dir);
    expect(second).toMatchObject({ token: undefined, generated: false });
    expect(second.hash).toMatch(/^scrypt\$/);
    const restarted = view(second);
    expect(await restarted.authenticate(first.token!)).toEqual(bootstrapAdmin);
    // Cached after the first check, still right.
    expect(await restarted.authenticate(first.token!)).toEqual(bootstrapAdmin);
    // The token with its last hex digit changed (to one it is not: a token may end in 0).
    const altered = `${first.token!.slice(0, -1)}${first.token!.endsWith('0') ? '1' : '0'}`;
    expect(await restarted.authenticate(altered)).toBeUndefined();
    expect(await restarted.authenticate('gh_admin_bootstrap_' + '0'.repeat(64))).toBeUndefined();
  });

  it('defers to GLASSHOUSE_ADMIN_TOKEN and refuses a damaged hash file by name', async () => {
    const dir = await freshDir();
    expect(await resolveBootstrapAdmin('configured-token-0123456789', dir)).toEqual({
      token: 'configured-token-0123456789',
      hash: undefined,
      generated: false,
    });
    await writeFile(adminHashFile(dir), 'not a hash\n');
    await expect(resolveBootstrapAdmin(undefined, dir)).rejects.toThrow(ConfigError);
    await expect(resolveBootstrapAdmin(undefined, dir)).rejects.toThrow(/admin-token\.hash/);
  });
});
