import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { call, eventually, seedModule } from '../support/http-client.js';
import { type GlasshouseProcess, runGlasshouse } from '../support/process.js';

// The real bin, standalone, in headless Chromium: an agency restates a figure; the module's chart marks
// the restated point "r" (first published and current figure on hover) and the Revisions list says it.
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
const adminToken = `corr-web-${randomBytes(12).toString('hex')}`;
let dataDir = '';
let userDataDir = '';
let running: GlasshouseProcess | undefined;
let context: BrowserContext | undefined;

afterAll(async () => {
  await context?.close();
  running?.child.kill('SIGKILL');
  if (running) await running.exited();
  for (const dir of [dataDir, userDataDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dashboard: corrections', () => {
  it('marks the restated point "r" with both figures and lists the revision', async () => {
    await mkdir(artifacts, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'gh-corr-web-'));
    running = runGlasshouse(['start', '--port', '0', '--data-dir', dataDir], {
      GLASSHOUSE_ADMIN_TOKEN: adminToken,
    });
    const base = `http://127.0.0.1:${await running.ready(60_000)}/`;
    const moduleId = 'corr-web';
    const key = await seedModule(base, adminToken, {
      id: moduleId,
      owner: 'corr-owner',
      agency: 'corr-agency',
      allowedLateness: '10m',
      goals: [
        {
          id: 'wait',
          metric: 'wait_minutes',
          unit: 'min',
          direction: 'decrease',
          target: 30,
          tolerance: 0.1,
          window: '1m',
          aggregation: 'mean',
          minSamples: 1,
          hold: '0s',
        },
      ],
    });
    // Observed three minutes ago: its chart point (the end of its one-minute step) is in the past.
    const t = Math.floor((Date.now() - 180_000) / 60_000) * 60_000 + 1_000;
    const post = (events: unknown[]) => call(base, 'POST', '/v1/metrics', { token: key, body: { events } });
    await post([
      { eventId: 'a', moduleId, metric: 'wait_minutes', value: 10, observedAt: t },
      { eventId: 'b', moduleId, metric: 'wait_minutes', value: 90, observedAt: t + 1 },
    ]);
    const history = () => call(base, 'GET', `/v1/modules/${moduleId}/history?from=${t - 60_000}&step=1m`);
    await eventually(
      async () => ((await history()).body?.points?.[0]?.count === 2 ? true : undefined),
      20_000,
      () => 'points',
    );
    await post([
      {
        eventId: 'b-fix',
        moduleId,
        metric: 'wait_minutes',
        value: 20,
        observedAt: t + 1,
        supersedes: 'b',
        note: 'typing error',
      },
    ]);
    // The agency keeps reporting: the live figure is newer than the restated point of the past.
    await post([
      { eventId: 'c', moduleId, metric: 'wait_minutes', value: 25, observedAt: Date.now() - 1_000 },
    ]);
    await eventually(
      async () => ((await history()).body?.points?.[0]?.revised ? true : undefined),
      20_000,
      () => 'revised point',
    );

    userDataDir = await mkdtemp(join(tmpdir(), 'glasshouse-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${base}#/module/${moduleId}`);
    const mark = page.locator(`[data-module="${moduleId}"] .revised-mark`);
    await expect.poll(() => mark.count(), { timeout: 20_000 }).toBe(1);
    expect(await mark.textContent()).toBe('r');
    expect(await mark.getAttribute('title')).toBe('Revised: first published 50 min (2 reports), now 15 min');
    expect(await mark.isVisible()).toBe(true);
    const revision = page.locator('.revisions .revision');
    await expect.poll(() => revision.count(), { timeout: 10_000 }).toBe(1);
    expect(await revision.textContent()).toContain('corr-agency restated 90 as 20');
    expect(await revision.textContent()).toContain('“typing error”');
    await page.screenshot({ path: join(artifacts, 'corrections-module.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
