import { describe, expect, it } from 'vitest';
import { windowGeometry } from '../../services/core/performance/index.js';
import { groundTruthOf } from '../../services/ports/ground-truth.js';
import type { Store } from '../../services/ports/store.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { geometryWindows, type Loaded, measured } from './ground-truth-fixture.js';
import type { GlasshouseProcess } from './process.js';

/** What each store's test file hands the shared ground-truth suite (after loading a million events). */
export interface GroundTruthUnderTest {
  store(): Store;
  loaded(): Loaded;
  /** Runs the real `verify-rollups` CLI on the module against this store (the store may be stopped first). */
  verifyCli(moduleId: string): Promise<GlasshouseProcess>;
  /** Called after the CLI ran, e.g. to reopen a store file the CLI needed alone. */
  afterCli?(): Promise<void>;
}

/** The ground-truth checks, one suite for every store: geometry, a million events, an altered bucket. */
export function groundTruthSuite(name: string, events: number, subject: GroundTruthUnderTest): void {
  describe(`ground truth in ${name} SQL`, () => {
    it('cuts windows into the same buckets as the engine', async () => {
      const truth = groundTruthOf(subject.store());
      for (const windowMs of geometryWindows) {
        const { widthMs, buckets } = windowGeometry(windowMs);
        expect({ windowMs, ...(await truth.bucketGeometry(windowMs)) }).toEqual({
          windowMs,
          widthMs,
          buckets,
        });
      }
    });

    it('agrees with a million events in bounded memory, and names an altered rollup bucket', async () => {
      const loaded = subject.loaded();
      const run = await measured(() => verifyModule(subject.store(), 'er-million'));
      process.stdout.write(
        `${name}: verified ${events} events in ${run.ms.toFixed(0)} ms, heap growth ${run.heapGrowthMb.toFixed(1)} MiB, peak rss ${run.rssMb.toFixed(0)} MiB\n`,
      );
      expect(run.result?.differences).toEqual([]);
      expect(run.result).toMatchObject({ events, rollups: loaded.rollups, updates: 4, total: 0 });
      // Holding the rows would take far more: a million events are well over 100 MB as JS objects.
      expect(run.heapGrowthMb).toBeLessThan(100);

      // A newer version (later updated_ms) of one 24-minute bucket of the max constraint.
      const target = [...loaded.rows.values()].find((r) => r.rule_id === 'peak' && r.count > 100_000)!;
      await subject
        .store()
        .insert('rollups', [
          { ...target, count: target.count + 1, max: target.max + 1, updated_ms: target.updated_ms + 1 },
        ]);
      const altered = await subject.verifyCli('er-million');
      expect(await altered.exited()).toBe(1);
      await subject.afterCli?.();
      expect(altered.output()).toContain(`er-million: ${events} raw events`);
      const bucket = new Date(target.bucket_ms).toISOString();
      expect(altered.output()).toContain(
        `DIFF peak bucket ${bucket} count: expected ${target.count}, stored ${target.count + 1}`,
      );
      expect(altered.output()).toContain(
        `DIFF peak bucket ${bucket} max: expected ${target.max}, stored ${target.max + 1}`,
      );
      expect(altered.output()).toContain('2 differences');
    }, 120_000);
  });
}
