import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import type { Store } from '../../services/ports/store.js';
import { loadModuleState } from '../../services/processor/restore.js';
import { FixtureRegistry } from '../../test/support/registry-fixture.js';
import type { PolicyModuleInput } from '../../schemas/registry.js';

const dir = process.argv[2]!;
const chunk = Number(process.argv[3] ?? 50);
function moduleOf(i: number): PolicyModuleInput {
  const goal = (id: string, aggregation: 'mean' | 'count' | 'p95', window: string, target: number) => ({
    id, metric: 'wait_minutes', unit: 'min', direction: 'decrease' as const, target, tolerance: 0.1, window, aggregation, minSamples: 5, hold: '5m',
  });
  return { id: `soak-${i}`, domain: 'soak', title: `Soak module ${i}`, owner: 'ada', agencies: ['soak-agency'],
    goals: [goal('mean', 'mean', '1h', 25 + (i % 20)), goal('count', 'count', '24h', 1e9), goal('p95', 'p95', '1h', 50 + (i % 15))] };
}
const registry = new FixtureRegistry({ modules: Array.from({ length: 1000 }, (_, i) => moduleOf(i)) });
const store = new DuckDbStore({ path: `${dir}/glasshouse.duckdb`, memoryLimit: '512MB' });
await store.start();
const times = new Map<string, number>();
const timed = new Proxy(store, {
  get(t, prop, r) {
    const v = Reflect.get(t, prop, r);
    if (typeof v !== 'function') return v;
    return async (...args: unknown[]) => {
      const began = performance.now();
      try { return await (v as (...a: unknown[]) => unknown).apply(t, args); }
      finally {
        const q = args[1] as { firstPer?: unknown; where?: Array<{ column: string }> } | string;
        const key = `${String(prop)} ${String(args[0])} ${typeof q === 'object' && q?.firstPer ? 'firstPer ' + JSON.stringify((q.firstPer as {slot?: unknown}).slot ?? '') : ''}${typeof q === 'object' ? (q.where ?? []).map((w) => w.column).join(',') : q}`;
        times.set(key, (times.get(key) ?? 0) + performance.now() - began);
      }
    };
  },
}) as Store;
const now = Date.now();
const all = registry.modules();
const t0 = performance.now();
for (let i = 0; i < all.length; i += chunk) {
  const c0 = performance.now();
  await loadModuleState(timed, all.slice(i, i + chunk), now);
  if (i === 0) console.log(`first chunk ${(performance.now() - c0).toFixed(0)} ms`);
}
console.log(`all ${(performance.now() - t0).toFixed(0)} ms (chunk ${chunk})`);
for (const [k, v] of [...times].sort((a, b) => b[1] - a[1])) console.log(v.toFixed(0).padStart(7), k);
await store.stop();
