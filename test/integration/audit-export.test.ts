import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuditEntry } from '../../schemas/audit.js';
import { verifyExport } from '../../services/api/audit-export.js';
import { runCli } from '../../services/cli.js';
import { chainEntry, emptyHead, verifyChain } from '../../services/core/audit/chain.js';

function buildLog(n: number): AuditEntry[] {
  const log: AuditEntry[] = [];
  let head = emptyHead;
  for (let i = 1; i <= n; i++) {
    const entry = chainEntry(head, {
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      actor: 'admin:bootstrap',
      action: 'module.put',
      subject: 'module:m',
      before: null,
      after: { version: i },
      rationale: `change ${i}`,
    });
    log.push(entry);
    head = entry;
  }
  return log;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glasshouse-audit-export-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('offline audit verification', () => {
  const log = buildLog(5);
  const tampered = log.map((entry) => (entry.seq === 3 ? { ...entry, rationale: 'rewritten' } : entry));

  it('reads JSON arrays, pages and NDJSON files and agrees with the in-memory verifier', async () => {
    const files = {
      array: JSON.stringify(log),
      page: JSON.stringify({ items: log }),
      ndjson: `${log.map((entry) => JSON.stringify(entry)).join('\n')}\n`,
    };
    for (const [name, text] of Object.entries(files)) {
      const path = join(dir, `${name}.json`);
      await writeFile(path, text);
      expect(await verifyExport(path), name).toEqual(verifyChain(log));
    }
    const bad = join(dir, 'tampered.json');
    await writeFile(bad, JSON.stringify(tampered));
    expect(await verifyExport(bad)).toMatchObject({ valid: false, brokenAt: 3, length: 2 });
  });

  it('follows every page of a server export', async () => {
    const requested: string[] = [];
    const fakeFetch = (async (input: URL | RequestInfo) => {
      const url = new URL(String(input));
      requested.push(`${url.pathname}?${url.searchParams}`);
      const after = Number(url.searchParams.get('after'));
      const items = log.filter((entry) => entry.seq > after).slice(0, 2);
      const body = items.length === 2 ? { items, next: String(items[1]!.seq) } : { items };
      return new Response(JSON.stringify(body), { status: 200 });
    }) as typeof fetch;
    expect(await verifyExport('http://127.0.0.1:9/', fakeFetch)).toEqual(verifyChain(log));
    expect(requested).toEqual([
      '/v1/audit?after=0&limit=1000',
      '/v1/audit?after=2&limit=1000',
      '/v1/audit?after=4&limit=1000',
    ]);
  });

  it('exits 0 on a valid export, 1 on a tampered one or an unexpected head, 2 on unusable input', async () => {
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    await writeFile(good, JSON.stringify(log));
    await writeFile(bad, JSON.stringify(tampered));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['audit', 'verify', good])).toBe(0);
      expect(JSON.parse(String(out.mock.calls.at(-1)![0]))).toEqual({
        valid: true,
        length: 5,
        head: log[4]!.hash,
      });
      const evidence = join(dir, 'evidence.json');
      expect(await runCli(['audit', 'verify', bad, '--evidence', evidence])).toBe(1);
      expect(JSON.parse(String(out.mock.calls.at(-1)![0]))).toMatchObject({
        valid: false,
        brokenAt: 3,
        evidence,
      });
      expect(JSON.parse(await readFile(evidence, 'utf8'))).toMatchObject({
        check: 'chain',
        entries: tampered,
      });
      expect(await runCli(['audit', 'verify', good, '--head', log[3]!.hash])).toBe(1);
      expect(await runCli(['audit', 'verify', good, '--head', log[4]!.hash])).toBe(0);
      expect(await runCli(['audit', 'verify', join(dir, 'missing.json')])).toBe(2);
      expect(await runCli(['audit', 'verify'])).toBe(2);
      expect(await runCli(['audit', 'nonsense'])).toBe(2);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
