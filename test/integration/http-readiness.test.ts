import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Health } from '../../services/ports/lifecycle.js';
import { HttpServer } from '../../services/runtime/http.js';
import { Lifecycle } from '../../services/runtime/lifecycle.js';
import { createLogger } from '../../services/runtime/logger.js';

describe('/readyz', () => {
  it('answers 503 while the store is in error, naming the part but never its detail', async () => {
    const logger = createLogger('silent');
    const lifecycle = new Lifecycle(logger, 1_000);
    let storeHealth: Health = { state: 'ok' };
    lifecycle.add({
      name: 'duckdb-store',
      start: async () => {},
      stop: async () => {},
      health: () => storeHealth,
    });
    const http = new HttpServer({
      host: '127.0.0.1',
      port: 0,
      logger,
      metrics: new Registry(),
      lifecycle,
      version: 'test',
    });
    await lifecycle.start();
    expect((await http.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    storeHealth = {
      state: 'error',
      detail: 'insert: IO Error: could not write "/srv/glasshouse/data/glasshouse.duckdb.wal"',
    };
    const failing = await http.app.inject({ url: '/readyz' });
    expect(failing.statusCode).toBe(503);
    expect(failing.json()).toEqual({
      status: 'not_ready',
      parts: [{ name: 'duckdb-store', state: 'error' }],
    });
    expect(failing.body).not.toContain('/srv');
    await lifecycle.stop();
  });
});
