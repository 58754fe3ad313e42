import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient } from '@clickhouse/client';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import {
  checkpointText,
  parseSignedCheckpoint,
  verifyCosignature,
} from '../../services/core/audit/checkpoint.js';
import { entryLeafHash, MerkleTree } from '../../services/core/audit/merkle.js';
import { ed25519Signer, parseVerifierKey, signNote } from '../../services/core/audit/note.js';
import type { Row } from '../../services/ports/tables.js';
import {
  replaceClickHouseAuditRows,
  replaceDuckDbAuditRows,
  rewriteHistory,
} from '../support/audit-rewrite.js';
import { call, expectCall } from '../support/http-client.js';
import { type GlasshouseProcess, killLeftovers, runGlasshouse } from '../support/process.js';
import { testLogger as logger } from '../support/store-setups.js';

afterAll(killLeftovers);

const artifacts = resolve(import.meta.dirname, '../../test-artifacts');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

type AuditRow = Row<'audit_log'>;

/** One deployment run as real processes, and what an operator with access to its store can do while it is stopped. */
interface Setup {
  /** The deployment's environment (without the log key and witnesses, which the test adds). */
  env: NodeJS.ProcessEnv;
  args: string[];
  /** With the service stopped: rewrite entry `seq` and recompute the chain after it, in the store itself. */
  rewrite(seq: number): Promise<void>;
  cleanup(): Promise<void>;
}

async function stop(process: GlasshouseProcess): Promise<void> {
  process.child.kill('SIGTERM');
  expect(await process.exited()).toBe(0);
}

function attackSuite(name: string, makeSetup: (dir: string) => Promise<Setup>): void {
  describe(`the operator attack (${name})`, () => {
    it('a citizen who saved a checkpoint catches a rewritten history that still verifies as a chain', {
      timeout: 180_000,
    }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'glasshouse-attack-'));
      await mkdir(artifacts, { recursive: true });
      const setup = await makeSetup(dir);
      const adminToken = `admin-${randomBytes(12).toString('hex')}`;
      // The operator holds the log key: the attack below uses it to sign the rewritten history.
      const logKey = generateKeyPairSync('ed25519').privateKey;
      const keyFile = join(dir, 'log-key.pem');
      await writeFile(keyFile, logKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      const vkey = ed25519Signer('glasshouse.local/audit', logKey).key.text;
      const witness = runGlasshouse([
        'witness',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'witness'),
        '--log-key',
        vkey,
      ]);
      const witnessUrl = `http://127.0.0.1:${await witness.ready(30_000)}`;
      const witnessKey = /witness key: (\S+)/.exec(witness.output())![1]!;
      const env = {
        ...setup.env,
        GLASSHOUSE_ADMIN_TOKEN: adminToken,
        GLASSHOUSE_LOG_KEY_FILE: keyFile,
        GLASSHOUSE_WITNESSES: `${witnessUrl} ${witnessKey}`,
      };
      // One port across the restart: the browser keeps its saved checkpoint per origin.
      const port = await freePort();
      const args = [...setup.args, '--port', String(port)];
      let server = runGlasshouse(args, env);
      const userDataDir = join(dir, 'chromium');
      const browser = await chromium.launchPersistentContext(userDataDir, {
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
        acceptDownloads: true,
      });
      try {
        const url = `http://127.0.0.1:${await server.ready(90_000)}`;
        expect(url).toBe(`http://127.0.0.1:${port}`);
        const write = async (id: string) =>
          expectCall(url, 'PUT', `/v1/sociotechnicians/${id}`, 200, {
            token: adminToken,
            body: { name: id },
          });
        const witnessed = async () => {
          const checkpoint = parseSignedCheckpoint(await (await fetch(`${url}/v1/audit/checkpoint`)).text());
          return verifyCosignature(checkpoint.text, checkpoint.signatures, parseVerifierKey(witnessKey)) ===
            undefined
            ? undefined
            : checkpoint.size;
        };
        for (const id of ['ada', 'grace', 'edsger']) await write(id);
        await expect.poll(witnessed, { timeout: 10_000 }).toBe(3);
        expect((await (await fetch(`${url}/v1/audit/key`)).text()).trim()).toBe(vkey);

        // A citizen verifies and saves the checkpoint; later verifies again against it.
        const saved = join(dir, 'saved-checkpoint.txt');
        const verify = (...extra: string[]) =>
          runGlasshouse([
            'audit',
            'verify',
            url,
            '--log-key',
            vkey,
            '--witness',
            witnessKey,
            '--checkpoint',
            saved,
            ...extra,
          ]);
        const first = verify('--save');
        expect(await first.exited(), first.output()).toBe(0);
        expect(parseSignedCheckpoint(await readFile(saved, 'utf8')).size).toBe(3);
        await write('barbara');
        await expect.poll(witnessed, { timeout: 10_000 }).toBe(4);
        // A visitor's browser checks the log itself and keeps the checkpoint it verified.
        const page = await browser.newPage();
        const pageErrors: string[] = [];
        page.on('pageerror', (err) => pageErrors.push(err.message));
        await page.goto(`${url}/#/audit`);
        const box = page.locator('#audit-transparency');
        await expect.poll(() => box.getAttribute('data-state'), { timeout: 15_000 }).toBe('verified');
        expect(await box.textContent()).toContain('Verified by the log and 1 witness:');
        expect(await box.textContent()).toContain('covers 4 entries');

        const second = verify('--save');
        expect(await second.exited(), second.output()).toBe(0);
        expect(JSON.parse(second.output().split('\n')[0]!)).toMatchObject({
          valid: true,
          length: 4,
          checkpointSize: 4,
          witnesses: 1,
        });
        const savedNote = await readFile(saved, 'utf8');
        expect(parseSignedCheckpoint(savedNote).size).toBe(4);

        // The operator stops the service, rewrites entry 2 and recomputes the whole chain, restarts.
        await stop(server);
        await setup.rewrite(2);
        server = runGlasshouse(args, env);
        expect(await server.ready(90_000)).toBe(port);
        expect((await call(url, 'GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 4 });

        // With the log key, the operator signs a checkpoint of the rewritten history and offers it to
        // the witness: with a proof from the size it cosigned (422), or claiming another size (409).
        const entries = (await call(url, 'GET', '/v1/audit')).body.items as Array<{ hash: string }>;
        const forged = new MerkleTree(entries.map((e) => entryLeafHash(e.hash)));
        const forgedNote = signNote(
          checkpointText({ origin: 'glasshouse.local/audit', size: 4, root: forged.root(4) }),
          [ed25519Signer('glasshouse.local/audit', logKey)],
        );
        const offer = async (old: number) => {
          const proof = forged.consistencyProof(old, 4).map((h) => `${h.toString('base64')}\n`);
          const response = await fetch(`${witnessUrl}/add-checkpoint`, {
            method: 'POST',
            body: `old ${old}\n${proof.join('')}\n${forgedNote}`,
          });
          return { status: response.status, text: await response.text() };
        };
        expect((await offer(4)).status).toBe(422);
        expect(await offer(0)).toEqual({ status: 409, text: '4\n' });
        expect(await offer(2)).toEqual({ status: 409, text: '4\n' });

        const evidenceFile = join(dir, 'evidence.json');
        const caught = runGlasshouse([
          'audit',
          'verify',
          url,
          '--log-key',
          vkey,
          '--witness',
          witnessKey,
          '--checkpoint',
          saved,
          '--evidence',
          evidenceFile,
        ]);
        expect(await caught.exited(), caught.output()).toBe(1);
        expect(caught.output()).toContain('the history was rewritten');
        const evidence = JSON.parse(await readFile(evidenceFile, 'utf8'));
        expect(evidence).toMatchObject({
          kind: 'glasshouse-audit-evidence',
          check: 'consistency',
          savedCheckpoint: savedNote,
          logKey: vkey,
        });
        expect(parseSignedCheckpoint(evidence.servedCheckpoint).size).toBe(4);
        expect(evidence.entries).toHaveLength(4);
        expect(evidence.entries[1].after).toEqual({ name: 'someone else' });
        // The saved checkpoint was not overwritten by the failed run.
        expect(await readFile(saved, 'utf8')).toBe(savedNote);

        // The visitor comes back: the page says in plain words that the history was rewritten.
        await page.reload();
        await expect.poll(() => box.getAttribute('data-state'), { timeout: 15_000 }).toBe('rewritten');
        expect(await box.textContent()).toContain(
          'the history of this audit log was rewritten since your last visit',
        );
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.locator('#audit-evidence').click(),
        ]);
        const browserEvidence = JSON.parse(await readFile((await download.path())!, 'utf8'));
        expect(browserEvidence).toMatchObject({ kind: 'glasshouse-audit-evidence', logKey: vkey });
        expect(parseSignedCheckpoint(browserEvidence.savedCheckpoint).size).toBe(4);
        expect(browserEvidence.entries).toHaveLength(4);
        // Still rewritten on the next visit: the browser keeps the honest checkpoint, not the new one.
        await page.reload();
        await expect.poll(() => box.getAttribute('data-state'), { timeout: 15_000 }).toBe('rewritten');
        await page.screenshot({
          path: join(artifacts, `audit-rewritten-${name.split(':')[0]}.png`),
          fullPage: false,
        });
        expect(pageErrors).toEqual([]);
      } finally {
        await browser.close();
        await stop(server).catch(() => {});
        witness.child.kill('SIGTERM');
        await witness.exited();
        await setup.cleanup();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

const rewriteEntry = (rows: AuditRow[], seq: number) =>
  rewriteHistory(rows, seq, (entry) => ({ ...entry, after: { name: 'someone else' } }));

attackSuite('standalone: in-process bus and DuckDB', async (dir) => {
  const dataDir = join(dir, 'data');
  return {
    env: {},
    args: ['start', '--data-dir', dataDir],
    async rewrite(seq) {
      const path = join(dataDir, 'glasshouse.duckdb');
      const store = new DuckDbStore({ path, logger });
      await store.start();
      const rows = await store.select('audit_log', { orderBy: [{ column: 'seq' }] });
      await store.stop();
      await replaceDuckDbAuditRows(path, rewriteEntry(rows, seq));
    },
    cleanup: async () => {},
  };
});

attackSuite('distributed: Kafka and ClickHouse', async () => {
  const url = inject('clickhouseUrl');
  const suffix = randomBytes(4).toString('hex');
  const database = `attack_${suffix}`;
  return {
    env: {
      GLASSHOUSE_KAFKA_BROKERS: inject('kafkaBrokers'),
      GLASSHOUSE_CLICKHOUSE_URL: url,
      GLASSHOUSE_CLICKHOUSE_DATABASE: database,
      GLASSHOUSE_TOPIC_PREFIX: `attack-${suffix}`,
    },
    args: ['start', '--role', 'all'],
    async rewrite(seq) {
      const store = new ClickHouseStore({ url, database, logger });
      await store.start();
      try {
        const rows = await store.select('audit_log', { orderBy: [{ column: 'seq' }] });
        await replaceClickHouseAuditRows(url, database, store, rewriteEntry(rows, seq));
      } finally {
        await store.stop();
      }
    },
    async cleanup() {
      const raw = createClient({ url });
      await raw.command({ query: `DROP DATABASE IF EXISTS ${database}` }).finally(() => raw.close());
    },
  };
});
