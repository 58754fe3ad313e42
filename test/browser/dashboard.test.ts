import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { launchBrowser } from '../support/browser.js';
import {
  publishLive,
  type RunningGateway,
  sampleAlert,
  sampleUpdate,
  startGateway,
} from '../support/gateway-harness.js';
import { type FixtureRegistry, sampleRegistry } from '../support/registry-fixture.js';

// The citizen dashboard in headless Chromium, served by the gateway, fed live over /v1/live.
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
let bus: MemoryBus;
let gw: RunningGateway;
let registry: FixtureRegistry;
let context: BrowserContext;
let userDataDir: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  bus = new MemoryBus({ topicPrefix: 'gw-browser' });
  await bus.start();
  registry = sampleRegistry();
  gw = await startGateway({
    bus,
    registry,
    // The registry endpoints as the api role answers them; /v1/alerts and /v1/audit/verify stay 404 here,
    // which the page must survive.
    routes: (app) => {
      app.get('/v1/modules', async () => ({ items: registry.modules() }));
      app.get('/v1/sociotechnicians', async () => ({ items: registry.sociotechnicians() }));
    },
  });
  userDataDir = await mkdtemp(join(tmpdir(), 'glasshouse-chromium-'));
  context = await launchBrowser(userDataDir);
});

afterAll(async () => {
  await context?.close();
  await gw?.stop();
  await bus?.stop();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

async function open(): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`http://127.0.0.1:${gw.port}/`);
  return page;
}

const at = (minutes: number) => new Date(Date.now() - (30 - minutes) * 60_000).toISOString();

describe('citizen dashboard', () => {
  it('shows owner and goal, turns the badge to Failure and shows an alert live', async () => {
    const page = await open();
    const card = page.locator('[data-module="bus-punctuality"]');
    await expect.poll(() => card.locator('.owner-name').textContent()).toBe('Ada Lovelace');
    expect(await card.locator('.goal-sentence').textContent()).toBe(
      'Raise the average on-time rate over the last hour to at least 90%.',
    );
    expect(await card.locator('.module-verdict').textContent()).toContain('No data');
    expect(await page.locator('[data-module="permit-speed"] .tag-demo').textContent()).toBe('Demo data');
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('live');

    // A history of on-track figures, then one far off target.
    const onTrack = [92, 93, 91.5, 94, 92.5, 91, 90.5, 91.2].map((value, i) =>
      sampleUpdate({ asOf: at(i * 3), value }),
    );
    await publishLive(bus, onTrack);
    await expect.poll(() => card.locator('.module-verdict').textContent()).toContain('Success');
    await publishLive(bus, [
      sampleUpdate({ asOf: at(27), value: 71, status: 'off_track', shortfall: 0.21, trend: -2 }),
    ]);
    await expect.poll(() => card.locator('.module-verdict').textContent()).toContain('Failure');
    expect(await card.locator('.goal-value').textContent()).toBe('71%');

    const alert = sampleAlert({
      message: 'On-time rate 71% is more than 5% below the 90% target since 10:42',
    });
    await publishLive(bus, [alert]);
    const item = page.locator(`[data-alert="${alert.alertId}"]`);
    await expect.poll(() => item.locator('.alert-message').textContent()).toBe(alert.message);
    expect(await page.locator('#alert-count').textContent()).toBe('1');
    expect(await card.locator('.module-alerts').textContent()).toBe('1 open alert');

    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(artifacts, 'dashboard-phone.png'), fullPage: true });
    await page.close();
  });

  it('degrades gracefully where an API answers 404 and serves the methodology page', async () => {
    const page = await open();
    await page.goto(`http://127.0.0.1:${gw.port}/#/audit`);
    await expect.poll(() => page.locator('.notice').textContent()).toContain('cannot be checked');
    expect(await page.locator('.command').textContent()).toBe(
      `glasshouse audit verify http://127.0.0.1:${gw.port}`,
    );

    // Scoreboard without scores: the people and their live verdicts, no numbers invented.
    await page.goto(`http://127.0.0.1:${gw.port}/#/scoreboard`);
    await expect.poll(() => page.locator('table.scoreboard tbody tr').count()).toBe(2);
    expect(await page.locator('table.scoreboard thead th').allTextContents()).toEqual([
      'Person',
      'Goals now',
    ]);
    // A scorecard whose endpoint is missing still shows the person from the list.
    await page.locator('a[href="#/people/ada"]').click();
    await expect.poll(() => page.locator('#person-title').textContent()).toContain('Ada Lovelace');
    expect(await page.locator('.notice').textContent()).toContain('not available');
    // A comparison whose endpoint is missing shows the alternatives and says the test is unavailable.
    await page.goto(`http://127.0.0.1:${gw.port}/#/compare/punctuality-approaches`);
    await expect.poll(() => page.locator('.notice').textContent()).toContain('not available');
    expect(await page.locator('.alt').count()).toBe(1);
    await page.goto(`http://127.0.0.1:${gw.port}/methodology.html`);
    expect(await page.locator('h1').textContent()).toBe('How we measure');
    expect(await page.locator('dt').allTextContents()).toEqual([
      '✓Success',
      '!At risk',
      '✕Failure',
      '→Stagnation',
      '?No data',
    ]);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('offers agencies a CSV template per module and a how-to-report page', async () => {
    const page = await open();
    const card = page.locator('[data-module="bus-punctuality"]');
    await expect.poll(() => card.locator('.owner-name').textContent()).toBe('Ada Lovelace');
    const template = card.locator('a[href="/v1/modules/bus-punctuality/csv-template"]');
    expect(await template.textContent()).toBe('CSV template for agencies');
    expect(await template.getAttribute('download')).toBe('');
    await page.locator('nav a', { hasText: 'How to report' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('How to report');
    expect(await page.locator('h2').allTextContents()).toEqual([
      'From a program: JSON',
      'From a spreadsheet: CSV',
      'From systems that already use OpenTelemetry',
    ]);
    const code = (await page.locator('pre code').allTextContents()).join('\n');
    expect(code).toContain('-H "Content-Type: text/csv"');
    expect(code).toContain('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=https://this-site/v1/otlp/v1/metrics');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('serves every page with a Content-Security-Policy, X-Frame-Options DENY and nosniff, and runs without a violation', async () => {
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const base = `http://127.0.0.1:${gw.port}`;
    for (const path of [
      '/',
      '/methodology.html',
      '/reporting.html',
      '/app.js',
      '/styles.css',
      '/vendor/uPlot.esm.js',
    ]) {
      const answer = await fetch(base + path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers.get('content-security-policy'), path).toContain("script-src 'self'");
      expect(answer.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(answer.headers.get('x-frame-options'), path).toBe('DENY');
      expect(answer.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
    // An error answer and a missing page carry them too.
    const missing = await fetch(`${base}/no-such-page`);
    expect(missing.headers.get('x-frame-options')).toBe('DENY');
    expect(missing.headers.get('content-security-policy')).toContain("default-src 'none'");
    // Every view renders under the policy (charts, live socket, styles) without a refusal.
    await page.goto(`${base}/`);
    await expect.poll(() => page.locator('.module').count()).toBeGreaterThan(0);
    for (const view of ['#/scoreboard', '#/audit', '#/compare/punctuality-approaches', '#/people/ada']) {
      await page.goto(`${base}/${view}`);
      await expect.poll(() => page.locator('main h2').count()).toBeGreaterThan(0);
    }
    await page.goto(`${base}/methodology.html`);
    expect(await page.locator('h1').textContent()).toBe('How we measure');
    await page.close();
    expect(violations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
