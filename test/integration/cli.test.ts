import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killLeftovers, runGlasshouse } from '../support/process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glasshouse-cli-'));
});
afterAll(async () => {
  await killLeftovers();
  await rm(dir, { recursive: true, force: true });
});

describe('glasshouse schemas export', () => {
  it('writes a JSON Schema file per public contract', async () => {
    const out = join(dir, 'schemas');
    const run = runGlasshouse(['schemas', 'export', '--out', out]);
    expect(await run.exited()).toBe(0);
    const files = await readdir(out);
    expect(files).toEqual(
      expect.arrayContaining([
        'MetricEvent.schema.json',
        'PolicyModule.schema.json',
        'AlertEvent.schema.json',
      ]),
    );
    const metric = JSON.parse(await readFile(join(out, 'MetricEvent.schema.json'), 'utf8'));
    expect(metric).toMatchObject({ title: 'MetricEvent', type: 'object', additionalProperties: false });
    expect(metric.properties.eventId.pattern).toBe('^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');
  });
});

describe('glasshouse witness and audit verify', () => {
  it('refuse unusable options with exit 2 and the reason', async () => {
    const noKey = runGlasshouse(['witness', '--port', '0', '--data-dir', join(dir, 'witness')]);
    expect(await noKey.exited()).toBe(2);
    expect(noKey.output()).toContain("witness needs at least one --log-key (the log's verifier key)");
    const badKey = runGlasshouse([
      'witness',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'witness'),
      '--log-key',
      'x+1+A',
    ]);
    expect(await badKey.exited()).toBe(2);
    expect(badKey.output()).toContain(
      '--log-key "x+1+A": a verifier key is <name>+<8 hex digits>+<base64 key>',
    );
    const save = runGlasshouse(['audit', 'verify', 'http://127.0.0.1:9', '--save']);
    expect(await save.exited()).toBe(2);
    expect(save.output()).toContain('--save writes the new checkpoint to the --checkpoint file: name one');
  });
});

describe('glasshouse start', () => {
  it('exits non-zero naming the variable when an env value is bad', async () => {
    const run = runGlasshouse(['start'], { GLASSHOUSE_PORT: 'abc' });
    expect(await run.exited()).toBe(2);
    expect(run.output()).toMatch(/GLASSHOUSE_PORT: must be a whole number/);
  });

  it('rejects an unknown role and an unknown flag', async () => {
    const role = runGlasshouse(['start', '--role', 'everything']);
    expect(await role.exited()).toBe(2);
    expect(role.output()).toContain('--role must be one of all, ingest, processor, gateway, api');
    const flag = runGlasshouse(['start', '--colour']);
    expect(await flag.exited()).toBe(2);
    expect(flag.output()).toContain("Unknown option '--colour'");
  });

  it('stops with a clear message when the data dir is not writable', async () => {
    // Tests run as root, which ignores permission bits: a path below a regular file fails for everyone.
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const run = runGlasshouse(['start', '--port', '0', '--data-dir', join(file, 'data')]);
    expect(await run.exited()).toBe(2);
    expect(run.output()).toMatch(/GLASSHOUSE_DATA_DIR: cannot write to .*a-file\/data/);
  });

  it('stops with a clear message when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = runGlasshouse(['start', '--port', String(port), '--data-dir', join(dir, 'busy')]);
      expect(await run.exited()).toBe(2);
      expect(run.output()).toContain(`port ${port} on 127.0.0.1 is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('serves health, readiness, metrics and the OpenAPI document, and drains on SIGTERM', async () => {
    const run = runGlasshouse(['start', '--port', '0', '--data-dir', join(dir, 'standalone')]);
    const port = await run.ready();
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    const parts = ((await ready.json()) as { parts: Array<{ name: string; state: string }> }).parts;
    expect(parts.every((p) => p.state !== 'error')).toBe(true);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('glasshouse_process_cpu_user_seconds_total');
    const openapi = (await (await fetch(`${base}/v1/openapi.json`)).json()) as { openapi: string };
    expect(openapi.openapi).toBe('3.1.0');
    const missing = await fetch(`${base}/v1/nothing-here`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect(run.output()).toMatch(/bus: in-process bus.*; store: duckdb/);
    run.child.kill('SIGTERM');
    expect(await run.exited()).toBe(0);
  });
});
