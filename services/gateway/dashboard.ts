import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
};

/**
 * The dashboard's Content-Security-Policy: its own scripts, styles and API only (no inline script or
 * style attribute, no plugin, no framing, no form posts), so text shown from the API can never run.
 * `connect-src 'self'` covers `/v1/live` on the same host (ws/wss, CSP Level 3).
 */
export const dashboardCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  type: string;
  body: Buffer;
}

/** The dashboard's folder: `web/` at the repository root. */
export const webRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../web');

/**
 * Serves the citizen dashboard: every file of `web/` (flat) and uPlot's dist files under `/vendor/`,
 * read once at startup and kept in memory. `/` is `index.html`.
 */
export async function registerDashboard(app: FastifyInstance, root = webRoot): Promise<void> {
  const assets = new Map<string, Asset>();
  for (const name of await readdir(root)) {
    const type = contentTypes[extname(name)];
    if (type) assets.set(`/${name}`, { type, body: await readFile(join(root, name)) });
  }
  const uplotDist = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));
  assets.set('/vendor/uPlot.esm.js', {
    type: contentTypes['.js'] as string,
    body: await readFile(join(uplotDist, 'uPlot.esm.js')),
  });
  assets.set('/vendor/uPlot.min.css', {
    type: contentTypes['.css'] as string,
    body: await readFile(join(uplotDist, 'uPlot.min.css')),
  });
  const index = assets.get('/index.html');
  if (index) assets.set('/', index);

  for (const [path, asset] of assets) {
    app.get(path, async (_request, reply) =>
      reply
        .header('content-type', asset.type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('x-frame-options', 'DENY')
        .header('content-security-policy', dashboardCsp)
        .header('referrer-policy', 'no-referrer')
        .send(asset.body),
    );
  }
}
