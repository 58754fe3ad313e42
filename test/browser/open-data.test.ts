import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { launchBrowser } from '../support/browser.js';
import { exampleGoal } from '../support/examples.js';
import { expectCall } from '../support/http-client.js';
import { type GlasshouseProcess, killLeftovers, runGlasshouse } from '../support/process.js';

// A module's open data on its page, in headless Chromium on the real bin (standalone): the protected
// breakdown of a goal by a declared dimension (chart and table, small counts suppressed, a day that
// cannot be protected withheld) and the "Download the data" panel, whose links answer.
const artifacts = resolve(import.meta.dirname, '../../test-artifacts');
const adminToken = `admin-${randomBytes(12).toString('hex')}`;
const dayMs = 86_400_000;
const dirs: string[] = [];
let server: GlasshouseProcess | undefined;
let base: string;
let context: BrowserContext;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  const dataDir = await mkdtemp(join(tmpdir(), 'glasshouse-open-data-'));
  const userDataDir = await mkdtemp(join(tmpdir(), 'glasshouse-chromium-'));
  dirs.push(dataDir, userDataDir);
  server = runGlasshouse(['start', '--port', '0', '--data-dir', dataDir], {
    GLASSHOUSE_ADMIN_TOKEN: adminToken,
  });
  const [port] = await Promise.all([
    server.ready(60_000),
    launchBrowser(userDataDir, { width: 1280, height: 1000 }).then((launched) => {
      context = launched;
    }),
  ]);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await context?.close();
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited();
  }
  await killLeftovers();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('open data on the module page', () => {
  it('shows the protected breakdown as a chart and a table, and links the downloads', async () => {
    await expectCall(base, 'PUT', '/v1/sociotechnicians/ada', 200, {
      token: adminToken,
      body: { name: 'Ada Lovelace' },
    });
    await expectCall(base, 'PUT', '/v1/modules/bus-punctuality', 200, {
      token: adminToken,
      body: {
        id: 'bus-punctuality',
        domain: 'transit',
        title: 'Bus punctuality',
        owner: 'ada',
        agencies: ['transit'],
        goals: [exampleGoal()],
        rationale: 'as in the transport plan',
        dimensions: [
          {
            name: 'depot',
            description: 'The depot the bus runs from',
            values: ['north', 'south', 'central'],
            publish: 'open',
          },
        ],
      },
    });
    const { key } = await expectCall(base, 'POST', '/v1/agencies', 201, {
      token: adminToken,
      body: { id: 'transit', name: 'Transit agency' },
    });
    // Closed days: four days ago every depot large; three days ago south small (suppressed, and
    // north with it so that south cannot be worked out from the total); two days ago two single
    // reports, which no pattern protects (withheld).
    const today = Math.floor(Date.now() / dayMs) * dayMs;
    const spec: Array<[number, string, number]> = [
      [4, 'north', 40],
      [4, 'south', 35],
      [4, 'central', 20],
      [3, 'north', 12],
      [3, 'south', 4],
      [3, 'central', 31],
      [2, 'north', 1],
      [2, 'south', 1],
    ];
    const onTime: Record<string, number> = { north: 92, south: 60, central: 75 };
    const metrics = spec.flatMap(([daysAgo, depot, n]) =>
      Array.from({ length: n }, (_, i) => ({
        eventId: `d${daysAgo}-${depot}-${i}`,
        moduleId: 'bus-punctuality',
        metric: 'on_time_rate',
        value: onTime[depot]!,
        observedAt: new Date(today - daysAgo * dayMs + 3_600_000 + i * 1000).toISOString(),
        dimensions: { depot },
      })),
    );
    const accepted = await expectCall(base, 'POST', '/v1/metrics', 202, {
      token: key,
      body: { events: metrics },
    });
    expect(accepted.accepted).toBe(metrics.length);
    const day = (daysAgo: number) => new Date(today - daysAgo * dayMs).toISOString().slice(0, 10);
    // Stored once the processor has written them (the breakdown reads the store).
    const breakdown = async () =>
      (
        await expectCall(
          base,
          'GET',
          `/v1/modules/bus-punctuality/breakdown?goal=ontime&by=depot&from=${day(10)}T00:00:00Z&to=${day(0)}T00:00:00Z`,
          200,
        )
      ).days as Array<{ day: string; total: number | null }>;
    await expect
      .poll(async () => (await breakdown()).find((d) => d.day === day(4))?.total, { timeout: 20_000 })
      .toBe(95);

    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${base}/#/module/bus-punctuality`);
    const section = page.locator('.breakdown');
    // Every closed day of the last 14 is listed, the days without reports as zeros.
    await expect.poll(() => section.getAttribute('data-days'), { timeout: 15_000 }).toBe('14');
    const headers = await section.locator('thead th').allTextContents();
    const row = async (daysAgo: number) => {
      const cells = await section.locator(`tr[data-day="${day(daysAgo)}"] td`).allTextContents();
      return Object.fromEntries(cells.map((text, i) => [headers[i + 1], text]));
    };
    expect(await row(4)).toEqual({
      north: '40 (92%)',
      south: '35 (60%)',
      central: '20 (75%)',
      Total: '95',
    });
    expect(await row(3)).toEqual({
      north: 'suppressed',
      south: 'suppressed',
      central: '30 (75%)',
      Total: '45',
    });
    expect(await row(2)).toEqual({
      north: 'withheld',
      south: 'withheld',
      central: 'withheld',
      Total: 'withheld',
    });
    // The chart is drawn by uPlot, with one series per depot in its legend.
    expect(await section.locator('.breakdown-chart canvas').count()).toBe(1);
    expect(await section.locator('.u-legend .u-series .u-label').allTextContents()).toEqual([
      'day',
      'north',
      'south',
      'central',
    ]);
    expect(await section.locator('.method-text').textContent()).toContain('suppressed');

    // The downloads answer: the data package, the reports as CSV, the catalogue.
    const links = page.locator('.downloads a');
    expect(await links.count()).toBe(4);
    for (const href of await links.evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href))) {
      const response = await fetch(href);
      expect(response.status, href).toBe(200);
      await response.arrayBuffer();
    }
    const csvHref = await page.locator('.download-csv').getAttribute('href');
    const csv = await (await fetch(`${base}${csvHref}`)).text();
    expect(csv.split('\n')[0]).toContain('eventId');

    await page.screenshot({ path: join(artifacts, 'open-data-module.png'), fullPage: true });
    await page.close();
    expect(errors).toEqual([]);
  });

  // (The data package's files are compressed; test/integration/open-data.test.ts reads them back.)
  it('never publishes an aggregate or never dimension sent through ingest: no answer or live frame carries it', async () => {
    await expectCall(base, 'PUT', '/v1/modules/clinic-waits', 200, {
      token: adminToken,
      body: {
        id: 'clinic-waits',
        domain: 'health',
        title: 'Clinic waits',
        owner: 'ada',
        agencies: ['health'],
        goals: [
          exampleGoal({ id: 'wait', metric: 'wait_minutes', unit: 'min', direction: 'decrease', target: 30 }),
        ],
        rationale: 'as the health plan says',
        dimensions: [
          { name: 'clinic', description: 'The clinic', publish: 'open' },
          {
            name: 'doctor',
            description: 'Who saw the patient',
            pattern: '[a-z]{2}-doc-[0-9]+',
            publish: 'aggregate',
          },
          { name: 'case', description: 'The case number', publish: 'never' },
        ],
      },
    });
    const { key } = await expectCall(base, 'POST', '/v1/agencies', 201, {
      token: adminToken,
      body: { id: 'health', name: 'Health agency' },
    });
    // A subscriber on every live channel the module's figures go to, from before the reports.
    const frames: string[] = [];
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/live`);
    socket.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    for (const channel of ['module:clinic-waits', 'domain:health', 'alerts'])
      socket.send(JSON.stringify({ op: 'subscribe', channel }));

    const today = Math.floor(Date.now() / dayMs) * dayMs;
    const events = Array.from({ length: 30 }, (_, i) => ({
      eventId: `w-${i}`,
      moduleId: 'clinic-waits',
      metric: 'wait_minutes',
      value: 20 + i,
      // Half three days ago (a closed day for the breakdown), half now (the live figures).
      observedAt: new Date(
        i < 15 ? today - 3 * dayMs + 3_600_000 + i * 1000 : Date.now() - 1000 - i,
      ).toISOString(),
      dimensions: { clinic: i % 2 ? 'harbour' : 'hill', doctor: `zq-doc-${i % 3}`, case: `zq-case-${i}` },
    }));
    await expectCall(base, 'POST', '/v1/metrics', 202, { token: key, body: { events } });
    await expect
      .poll(() => frames.filter((f) => f.includes('"wait"')).length, { timeout: 20_000 })
      .toBeGreaterThan(0);

    const day = (daysAgo: number) => new Date(today - daysAgo * dayMs).toISOString();
    const range = `from=${day(5)}&to=${new Date(Date.now() + 60_000).toISOString()}`;
    const texts: Array<[string, string]> = [];
    const get = async (path: string, accept?: string) => {
      const answer = await fetch(`${base}${path}`, accept ? { headers: { accept } } : {});
      expect(answer.status, path).toBe(200);
      texts.push([path, Buffer.from(await answer.arrayBuffer()).toString('latin1')]);
    };
    await expect
      .poll(async () => {
        const r = await fetch(`${base}/v1/modules/clinic-waits/events?${range}`);
        return (await r.text()).split('\n').filter(Boolean).length;
      })
      .toBe(30);
    await get(`/v1/modules/clinic-waits/events?${range}`);
    await get(`/v1/modules/clinic-waits/events?${range}`, 'text/csv');
    await get(`/v1/modules/clinic-waits/history?goal=wait&${range}`);
    await get(`/v1/modules/clinic-waits/breakdown?goal=wait&by=clinic&from=${day(5)}&to=${day(0)}`);
    await get(`/v1/modules/clinic-waits/breakdown?goal=wait&by=doctor&from=${day(5)}&to=${day(0)}`);
    await get('/v1/modules/clinic-waits');
    await get('/v1/modules');
    await get('/v1/alerts');
    await get('/v1/open-data/catalog.jsonld');
    socket.close();
    texts.push(['live frames', frames.join('\n')]);

    // The open dimension is there (the scan sees dimensions); the never one nowhere, and the
    // aggregate one only in its own breakdown, as a value whose count is shown.
    expect(texts.find(([where]) => where.startsWith('/v1/modules/clinic-waits/events'))?.[1]).toContain(
      'harbour',
    );
    for (const [where, text] of texts) {
      expect(text, where).not.toMatch(/zq-case-/);
      if (!where.includes('by=doctor')) expect(text, where).not.toMatch(/zq-doc-/);
    }
  });
});
