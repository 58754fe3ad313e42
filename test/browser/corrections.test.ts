import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { waitGoal } from '../support/examples.js';
import { call, eventually, seedModule } from '../support/http-client.js';
import { StandaloneBin } from '../support/process.js';

// The real bin, standalone, in headless Chromium: an agency restates a figure; the module's chart marks
// the restated point "r" (first published and current figure on hover) and the Revisions list says it;
// the owner's scorecard shows the agency's correction rate.
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
const adminToken = `corr-web-${randomBytes(12).toString('hex')}`;
const bin = new StandaloneBin({ GLASSHOUSE_ADMIN_TOKEN: adminToken }, 'gh-corr-web-');
let userDataDir = '';
let context: BrowserContext | undefined;

afterAll(async () => {
  await context?.close();
  await bin.dispose();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

describe('dashboard: corrections', () => {
  it('marks the restated point "r" with both figures and lists the revision', async () => {
    await mkdir(artifacts, { recursive: true });
    const base = await bin.start();
    const moduleId = 'corr-web';
    const key = await seedModule(base, adminToken, {
      id: moduleId,
      owner: 'corr-owner',
      agency: 'corr-agency',
      allowedLateness: '10m',
      goals: [waitGoal({ window: '1m' })],
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
    context = await launchBrowser(userDataDir);
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

    // The owner's scorecard shows the agency's correction rate: 4 events sent, 1 of them a correction.
    await page.goto(`${base}#/people/corr-owner`);
    const rate = page.locator('.corrections-rate tr[data-agency="corr-agency"]');
    await expect.poll(() => rate.count(), { timeout: 10_000 }).toBe(1);
    await expect
      .poll(async () => (await rate.locator('td').allTextContents()).join(' | '), { timeout: 10_000 })
      .toBe('4 | 1 | 25%');
    await page.screenshot({ path: join(artifacts, 'corrections-scorecard.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
