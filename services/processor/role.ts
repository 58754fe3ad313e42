import type { RoleFactory } from '../runtime/role.js';
import { ProcessorMetrics } from './metrics.js';
import { Processor } from './processor.js';

/**
 * The processor role: consumes `metrics.raw` in the `processor` group and runs the performance engine
 * per assigned partition, writing raw events, rollups, alerts and snapshots to the store and
 * PerformanceUpdates and AlertEvents to the bus before committing (see processor.ts).
 */
export const processorRole: RoleFactory = (ctx) => {
  ctx.lifecycle.add(
    new Processor({
      bus: ctx.bus,
      store: ctx.store,
      registry: ctx.registry,
      clock: ctx.clock,
      logger: ctx.logger,
      metrics: new ProcessorMetrics(ctx.metrics),
      commandKey: ctx.commandKey,
    }),
  );
};
