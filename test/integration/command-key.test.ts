import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandHeader, commandSignatureHeader } from '../../schemas/alert.js';
import { signCommand, validateCommandRecord } from '../../services/core/validation/index.js';
import { resolveCommandKey } from '../../services/runtime/command-key.js';
import { loadConfig } from '../../services/runtime/config.js';
import { testCommandKey } from '../support/command-key.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('command key', () => {
  it('is the same in every process given the same key or admin token, and stable over the standalone hash file', async () => {
    const none = { configured: undefined, adminToken: undefined, adminHashFile: undefined };
    const configured = { ...none, configured: 'k'.repeat(32), adminToken: 'admin-token-0123456789' };
    expect((await resolveCommandKey(configured)).source).toBe('GLASSHOUSE_COMMAND_KEY');
    expect((await resolveCommandKey(configured)).key).toEqual((await resolveCommandKey(configured)).key);
    const byToken = { ...none, adminToken: 'admin-token-0123456789' };
    expect((await resolveCommandKey(byToken)).source).toBe('GLASSHOUSE_ADMIN_TOKEN');
    expect((await resolveCommandKey(byToken)).key).toEqual((await resolveCommandKey(byToken)).key);
    expect((await resolveCommandKey(byToken)).key).not.toEqual((await resolveCommandKey(configured)).key);

    const dir = await mkdtemp(join(tmpdir(), 'gh-command-key-'));
    dirs.push(dir);
    const file = join(dir, 'admin-token.hash');
    await writeFile(file, 'scrypt$16384$8$1$c2FsdA$aGFzaA\n');
    const first = await resolveCommandKey({ ...none, adminHashFile: file });
    const afterRestart = await resolveCommandKey({ ...none, adminHashFile: file });
    expect(first.source).toBe('admin token hash file');
    expect(afterRestart.key).toEqual(first.key);

    const random = await resolveCommandKey(none);
    expect(random.source).toBe('random');
    expect(random.key).toHaveLength(32);
    expect((await resolveCommandKey(none)).key).not.toEqual(random.key);
  });

  it('GLASSHOUSE_COMMAND_KEY must be at least 32 characters', () => {
    expect(() => loadConfig({ GLASSHOUSE_COMMAND_KEY: 'short' })).toThrow(/GLASSHOUSE_COMMAND_KEY/);
    expect(loadConfig({ GLASSHOUSE_COMMAND_KEY: 'x'.repeat(32) }).commandKey).toBe('x'.repeat(32));
  });
});

describe('validateCommandRecord signature', () => {
  const body = JSON.stringify({ alertId: 'a'.repeat(32), by: 'desk', note: 'seen', at: 1 });
  const headers = (signature?: string) => ({
    [commandHeader]: 'alert.ack',
    ...(signature === undefined ? {} : { [commandSignatureHeader]: signature }),
  });
  const signature = signCommand(testCommandKey, 'alert.ack', 'bus', body);

  it('accepts a command signed with the key for this module and body', () => {
    expect(validateCommandRecord(body, headers(signature), 'bus', testCommandKey)).toMatchObject({
      ok: true,
      moduleId: 'bus',
    });
  });

  it.each([
    ['no signature', headers(), 'bus'],
    ['a malformed signature', headers('zz'), 'bus'],
    ['another key', headers(signCommand(Buffer.alloc(32, 1), 'alert.ack', 'bus', body)), 'bus'],
    ['a signature for another module', headers(signature), 'tram'],
    [
      'a signature of the same length that differs',
      headers(`${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`),
      'bus',
    ],
  ])('refuses a command with %s as command_unauthenticated', (_what, h, key) => {
    const verdict = validateCommandRecord(body, h, key, testCommandKey);
    expect(verdict).toMatchObject({ ok: false, reason: 'command_unauthenticated' });
  });
});
