import { describe, expect, it } from 'vitest';
import type { Component, Health } from '../../services/ports/lifecycle.js';
import { Lifecycle } from '../../services/runtime/lifecycle.js';
import { createLogger } from '../../services/runtime/logger.js';

const silent = createLogger('silent');

function part(
  name: string,
  log: string[],
  behaviour: { failStart?: boolean; hangStop?: boolean; health?: Health } = {},
): Component {
  return {
    name,
    async start() {
      if (behaviour.failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (behaviour.hangStop) await new Promise(() => {});
    },
    health: () => behaviour.health ?? { state: 'ok' },
  };
}

describe('Lifecycle', () => {
  it('starts in order and stops in reverse order, once', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle(silent, 1_000);
    lifecycle.add(part('bus', log));
    lifecycle.add(part('store', log));
    lifecycle.add(part('http', log));
    await lifecycle.start();
    expect(lifecycle.health().ready).toBe(true);
    await Promise.all([lifecycle.stop(), lifecycle.stop()]);
    await lifecycle.stop();
    expect(log).toEqual(['start bus', 'start store', 'start http', 'stop http', 'stop store', 'stop bus']);
    expect(lifecycle.health().ready).toBe(false);
  });

  it('stops what already started when a later part fails to start', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle(silent, 1_000);
    lifecycle.add(part('bus', log));
    lifecycle.add(part('store', log, { failStart: true }));
    lifecycle.add(part('http', log));
    await expect(lifecycle.start()).rejects.toThrow('store cannot start');
    expect(log).toEqual(['start bus', 'stop bus']);
  });

  it('abandons a part that hangs on stop after the watchdog and still stops the rest', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle(silent, 150);
    lifecycle.add(part('bus', log));
    lifecycle.add(part('stuck', log, { hangStop: true }));
    await lifecycle.start();
    await lifecycle.stop();
    expect(log).toEqual(['start bus', 'start stuck', 'stop stuck', 'stop bus']);
  });

  it('is not ready while any part reports an error', async () => {
    const lifecycle = new Lifecycle(silent, 1_000);
    lifecycle.add(part('bus', [], { health: { state: 'degraded', detail: 'lagging' } }));
    expect(lifecycle.health().ready).toBe(false);
    await lifecycle.start();
    expect(lifecycle.health()).toEqual({
      ready: true,
      parts: [{ name: 'bus', state: 'degraded', detail: 'lagging' }],
    });
    const failing = new Lifecycle(silent, 1_000);
    failing.add(part('store', [], { health: { state: 'error', detail: 'connection refused' } }));
    await failing.start();
    expect(failing.health().ready).toBe(false);
  });
});
