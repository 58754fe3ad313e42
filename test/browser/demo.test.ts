import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { type GlasshouseProcess, runGlasshouse } from '../support/process.js';

// Issue 7's acceptance: `glasshouse start --demo` as a newcomer runs it, opened in headless Chromium.
// Within 60 s the demo modules show with owners, goals and the demo mark, and update live; the
// scoreboard, a comparison and the audit trail (verified valid) render. Screenshots go to test-artifacts/.
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
const within = { timeout: 30_000, interval: 250 };
let server: GlasshouseProcess | undefined;
let base: string;
let dataDir: string;
let userDataDir: string;
let context: BrowserContext | undefined;
const pageErrors: string[] = [];

interface ModuleAnswer {
  id: string;
  owner: string;
  demo?: boolean;
  comparisonGroup?: string;
  goals: Array<{ id: string; current?: { asOf: string; value: number | null } }>;
}

async function modules(): Promise<ModuleAnswer[]> {
  const response = await fetch(`${base}/v1/modules`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: ModuleAnswer[] }).items;
}

/** Every goal's latest figure as `moduleId/goalId -> asOf value`. */
function currents(items: ModuleAnswer[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const module of items)
    for (const goal of module.goals)
      if (goal.current) map.set(`${module.id}/${goal.id}`, `${goal.current.asOf} ${goal.current.value}`);
  return map;
}

async function stopServer(): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  const running = server;
  server = undefined;
  running.child.kill('SIGTERM');
  // A drain that hangs is a failure of its own (the SIGTERM test sees the code); never leave the process behind.
  const killer = setTimeout(() => running.child.kill('SIGKILL'), 20_000);
  await running.exited();
  clearTimeout(killer);
}

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), 'glasshouse-demo-'));
  userDataDir = await mkdtemp(join(tmpdir(), 'glasshouse-chromium-'));
  server = runGlasshouse(['start', '--demo', '--port', '0', '--data-dir', dataDir]);
  const [port] = await Promise.all([
    server.ready(60_000),
    launchBrowser(userDataDir).then((launched) => {
      context = launched;
    }),
  ]);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await context?.close();
  await stopServer();
  await rm(dataDir, { recursive: true, force: true });
  await rm(userDataDir, { recursive: true, force: true });
});

async function open(path: string): Promise<Page> {
  if (!context) throw new Error('the browser did not start');
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${path}: ${err.message}`));
  await page.goto(`${base}${path}`);
  return page;
}

describe('glasshouse start --demo in a browser', () => {
  it('shows the demo modules with owners and goals, marked as demo, updating live', async () => {
    // One budget for the whole acceptance: every wait below draws on what is left of 60 s.
    const deadline = Date.now() + 60_000;
    const left = () => ({ timeout: Math.max(1, deadline - Date.now()), interval: 250 });
    const page = await open('/');
    // The demo seeds its government over HTTP after the server is ready: wait for all of it.
    await expect.poll(async () => (await modules()).filter((m) => m.demo).length, left()).toBe(12);
    const seeded = await modules();
    // The page opened while the demo was still seeding: modules registered since appear by themselves.
    await expect.poll(() => page.locator('article.module').count(), left()).toBe(12);

    const cards = page.locator('article.module');
    for (const module of seeded) {
      const card = page.locator(`article.module[data-module="${module.id}"]`);
      expect(await card.locator('.tag-demo').textContent()).toBe('Demo data');
      const owner = await card.locator('.owner-name').textContent();
      expect(owner?.length).toBeGreaterThan(2);
      expect(owner).not.toBe(module.owner); // the person's name, not their id
      expect(await card.locator('.goal-sentence').count()).toBe(module.goals.length);
    }
    expect(await cards.locator('.goal-sentence').first().textContent()).toMatch(/^(Raise|Bring|Keep) the /);
    expect(await page.locator('.demo-banner').textContent()).toContain('fictional');
    await expect.poll(() => page.locator('#connection').getAttribute('data-state'), left()).toBe('live');

    // Every badge says its verdict in words.
    const words = await page.locator('.module-verdict').allTextContents();
    for (const word of words) expect(word).toMatch(/(Success|At risk|Failure|Stagnation|No data)$/);

    // Live on the page: a chart gains points or a shown value changes, without a reload.
    const shown = async () =>
      (await page.locator('.goal-value').allTextContents()).join('|') +
      (await page.locator('.chart').evaluateAll((charts) => charts.map((c) => c.getAttribute('data-points'))))
        .map(String)
        .join('|');
    const before = await shown();
    await expect.poll(shown, left()).not.toBe(before);

    // Live in the API: goals[].current moves on.
    const first = currents(await modules());
    await expect
      .poll(async () => {
        const now = currents(await modules());
        return [...now].filter(([key, value]) => first.has(key) && first.get(key) !== value).length;
      }, left())
      .toBeGreaterThan(0);

    // The busiest chart has history and live points.
    await expect
      .poll(
        () =>
          page
            .locator('.chart[data-points]')
            .evaluateAll((charts) =>
              Math.max(0, ...charts.map((c) => Number(c.getAttribute('data-points')))),
            ),
        within,
      )
      .toBeGreaterThan(1);
    await page.screenshot({ path: join(artifacts, 'demo-modules.png'), fullPage: false });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(artifacts, 'demo-modules-phone.png'), fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });

    // One module's own page, reached by keyboard from its title link.
    const link = page.locator('article.module .module-link').first();
    await link.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('article.module').count(), within).toBe(1);
    expect(await page.locator('article.module .chart').count()).toBeGreaterThan(0);
    await page.close();
  }, 90_000);

  it('shows the scoreboard and a scorecard with its method', async () => {
    const page = await open('/#/scoreboard');
    const rows = page.locator('table.scoreboard tbody tr');
    await expect.poll(() => rows.count(), within).toBe(8);
    expect(await page.locator('[aria-current="page"]').textContent()).toBe('Scoreboard');
    const score = await rows.first().locator('.score').textContent();
    expect(score).toMatch(/^(\d{1,3}\/100|—)$/);
    expect(await page.locator('.method summary').textContent()).toBe('How these numbers are calculated');
    expect(await page.locator('.method p').textContent()).toContain('onTrackShare');
    await page.screenshot({ path: join(artifacts, 'demo-scoreboard.png'), fullPage: true });

    await rows.first().locator('a').click();
    await expect.poll(() => page.locator('.scorecard .fact').count(), within).toBe(4);
    const facts = await page.locator('.scorecard .fact-label').allTextContents();
    expect(facts).toEqual(['Score', 'Open alerts', 'Time to acknowledge', 'Trend']);
    // The score's method, beside the corrections' own.
    expect(await page.locator('.scorecard .method p').allTextContents()).toContainEqual(
      expect.stringContaining('meanTimeToAcknowledge'),
    );
    const statuses = await page.locator('.scorecard tbody .badge').allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    for (const word of statuses) expect(word).toMatch(/(Success|At risk|Failure|Stagnation|No data)$/);
    await page.screenshot({ path: join(artifacts, 'demo-scorecard.png'), fullPage: true });
    await page.close();
  });

  it('compares alternative approaches with the test, p-value, sample sizes and a verdict', async () => {
    const group = (await modules()).find((m) => m.comparisonGroup)?.comparisonGroup;
    expect(group).toBeDefined();
    const page = await open('/#/compare');
    await page.locator(`a[href="#/compare/${group}"]`).click();
    await expect.poll(() => page.locator('.alt').count(), within).toBeGreaterThan(1);
    const pairs = page.locator('.pair');
    await expect.poll(() => pairs.count(), within).toBeGreaterThan(0);
    expect(await pairs.first().locator('.p-value').textContent()).toMatch(/^(p [<=] [\d.]+|not computed)$/);
    expect(await pairs.first().locator('.pair-verdict').textContent()).toMatch(
      /(performs better than|no significant difference|not enough data)/i,
    );
    const sizes = await page.locator('.sample-n').allTextContents();
    expect(sizes.length).toBeGreaterThan(1);
    for (const n of sizes) expect(n).toMatch(/^\d+$/);
    await page.screenshot({ path: join(artifacts, 'demo-comparison.png'), fullPage: true });
    await page.close();
  });

  it('shows the audit trail, verified valid, with how to verify it yourself', async () => {
    const page = await open('/#/audit');
    await expect.poll(() => page.locator('.verify').getAttribute('data-valid'), within).toBe('true');
    expect(await page.locator('.verify').textContent()).toMatch(/^✓ Valid: all \d+ entries check out/);
    const length = Number(/all (\d+) entries/.exec((await page.locator('.verify').textContent()) ?? '')?.[1]);
    expect(length).toBeGreaterThan(20);
    await expect.poll(() => page.locator('.entry').count(), within).toBe(length);
    // The browser's own check of the signed log: the checkpoint's signature and root, then kept for the next visit.
    const transparency = page.locator('#audit-transparency');
    await expect.poll(() => transparency.getAttribute('data-state'), within).toBe('verified');
    expect(await transparency.textContent()).toMatch(
      /Verified by the log and 0 witnesses: the log's signed checkpoint covers \d+ entries/,
    );
    expect(await page.evaluate(() => localStorage.getItem('glasshouse.audit.checkpoint'))).toContain(
      'glasshouse.local/audit',
    );
    expect(await page.locator('.command').textContent()).toBe(`glasshouse audit verify ${base}`);
    expect(await page.locator('.verify-yourself').textContent()).toContain('SHA-256');
    await page.screenshot({ path: join(artifacts, 'demo-audit.png'), fullPage: false });
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('stops on SIGTERM', async () => {
    const running = server;
    expect(running).toBeDefined();
    await stopServer();
    expect(await running?.exited()).toBe(0);
  });
});
