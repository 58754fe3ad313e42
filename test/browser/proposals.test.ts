import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { exampleGoal } from '../support/examples.js';
import { expectCall } from '../support/http-client.js';
import { type GlasshouseProcess, killLeftovers, runGlasshouse } from '../support/process.js';

// The pending change on the module page and the "Pending changes" view, in headless Chromium, on the
// real bin (standalone), with approvals on; and the note a deployment without approvals shows.
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
const adminToken = `admin-${randomBytes(12).toString('hex')}`;
const dirs: string[] = [];
const servers: GlasshouseProcess[] = [];
let context: BrowserContext;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  const userDataDir = await mkdtemp(join(tmpdir(), 'glasshouse-chromium-'));
  dirs.push(userDataDir);
  context = await launchBrowser(userDataDir);
});

afterAll(async () => {
  await context?.close();
  for (const server of servers) {
    server.child.kill('SIGTERM');
    await server.exited();
  }
  await killLeftovers();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A standalone server with its own data directory; answers its base URL. */
async function server(env: Record<string, string> = {}): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'glasshouse-proposals-'));
  dirs.push(dataDir);
  const running = runGlasshouse(['start', '--port', '0', '--data-dir', dataDir], {
    GLASSHOUSE_ADMIN_TOKEN: adminToken,
    ...env,
  });
  servers.push(running);
  return `http://127.0.0.1:${await running.ready(60_000)}`;
}

const module = (target: number) => ({
  id: 'bus-punctuality',
  domain: 'transit',
  title: 'Bus punctuality',
  owner: 'ada',
  goals: [exampleGoal({ target })],
  rationale: target === 90 ? 'as in the transport plan' : 'the winter timetable adds stops',
});

async function seed(base: string): Promise<void> {
  await expectCall(base, 'PUT', '/v1/sociotechnicians/ada', 200, {
    token: adminToken,
    body: { name: 'Ada Lovelace' },
  });
  await expectCall(base, 'PUT', '/v1/modules/bus-punctuality', 200, { token: adminToken, body: module(90) });
}

async function open(url: string): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('close', () => expect(errors).toEqual([]));
  await page.goto(url);
  return page;
}

describe('pending changes in a browser', () => {
  it('shows an approved change on the module page with its flags in words and a running countdown, and in the Pending changes view', async () => {
    const base = await server();
    await seed(base);
    const tokens: Record<string, string> = {};
    for (const id of ['carol', 'dan', 'erin'])
      tokens[id] = (
        await expectCall(base, 'POST', '/v1/admins', 201, { token: adminToken, body: { id, name: id } })
      ).token;
    const proposal = await expectCall(base, 'POST', '/v1/modules/bus-punctuality/proposals', 201, {
      token: tokens.carol,
      body: module(85),
    });
    expect(proposal.requiredApprovals).toBe(2);
    await expectCall(base, 'POST', `/v1/proposals/${proposal.id}/approvals`, 200, {
      token: tokens.dan,
      body: { contentHash: proposal.contentHash },
    });

    const page = await open(`${base}/#/module/bus-punctuality`);
    const notice = page.locator('[data-module="bus-punctuality"] .pending-change');
    await expect.poll(() => notice.getAttribute('data-state')).toBe('proposed');
    expect(await notice.locator('.pending-what').textContent()).toBe('goal ontime: target 90 → 85');
    expect(await notice.locator('.pending-when').textContent()).toMatch(/needs 1 more approval/);

    // The second approval arrives live (domain channel): now the notice period runs.
    await expectCall(base, 'POST', `/v1/proposals/${proposal.id}/approvals`, 200, {
      token: tokens.erin,
      body: { contentHash: proposal.contentHash },
    });
    await expect.poll(() => notice.getAttribute('data-state'), { timeout: 10_000 }).toBe('approved');
    const who = await notice.locator('.pending-who').textContent();
    expect(who).toContain('Proposed by carol, approved by dan and erin');
    expect(who).toMatch(/takes effect on .+ \(in 2 d 23 h 5\d min \d{1,2} s\)/);
    expect(await notice.locator('.proposal-flag').allTextContents()).toEqual([
      '⚑ goal ontime: target 90 → 85 (easier to meet)',
    ]);
    const first = await notice.locator('.countdown').textContent();
    await expect.poll(() => notice.locator('.countdown').textContent(), { timeout: 5_000 }).not.toBe(first);
    await page.screenshot({ path: join(artifacts, 'proposal-module.png'), fullPage: true });

    await page.locator('.nav a[href="#/changes"]').click();
    const item = page.locator('.pending-item[data-module="bus-punctuality"]');
    await expect.poll(() => item.count()).toBe(1);
    expect(await item.locator('h3').textContent()).toContain('Approved, in its notice period');
    expect(await item.locator('.countdown').textContent()).toMatch(/^2 d 23 h/);
    await page.screenshot({ path: join(artifacts, 'proposal-pending-changes.png'), fullPage: true });
    await page.close();

    // Every step is in the audit log, and the chain verifies offline.
    const audit = await expectCall(base, 'GET', '/v1/audit?limit=100', 200);
    expect(
      audit.items
        .filter((entry: { action: string }) => entry.action.startsWith('proposal.'))
        .map((entry: { action: string; actor: string }) => `${entry.action} ${entry.actor}`),
    ).toEqual([
      'proposal.proposed admin:carol',
      'proposal.approved admin:dan',
      'proposal.approved admin:erin',
    ]);
    const verify = runGlasshouse(['audit', 'verify', base]);
    expect(await verify.exited(), verify.output()).toBe(0);
  });

  it('says on every module that changes are not independently approved when GLASSHOUSE_APPROVALS=0', async () => {
    const base = await server({ GLASSHOUSE_APPROVALS: '0' });
    await seed(base);
    // Direct edits as before.
    await expectCall(base, 'PUT', '/v1/modules/bus-punctuality', 200, {
      token: adminToken,
      body: module(85),
    });
    const page = await open(`${base}/#/`);
    const note = page.locator('[data-module="bus-punctuality"] .unapproved-note');
    await expect.poll(() => note.count()).toBe(1);
    expect(await note.textContent()).toMatch(/^Changes here are not independently approved/);
    await page.close();
  });
});
