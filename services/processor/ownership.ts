import type { ModuleVersion } from '../../schemas/registry.js';
import { appliedVersion } from '../core/registry/proposals.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { RegistryView } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { Topics } from '../ports/topics.js';
import { GlasshouseError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import type { PartitionState } from './partition.js';
import { loadModuleState, type RestoredState, restoredFor } from './restore.js';

/** Modules restored per set of store reads (each read is bounded: see restore.ts). */
const restoreChunk = 500;

/**
 * Sets of restore reads running at once on assignment. Each read is a scan a store runs on its own
 * cores; more at once only share them (six partitions' reads at once took longer on two cores than
 * the same modules two sets at a time).
 */
const restoreConcurrency = 2;

/** A set of restore reads started on assignment, for modules of any of the assigned partitions. */
type Prefetch = Promise<Loaded>;

/** A module set's stored state, and when its reads began (the `now` of restore.ts). */
interface Loaded {
  input: RestoredState;
  readAt: number;
}

export interface OwnershipOptions {
  bus: Pick<Bus, 'partitionFor'>;
  store: Store;
  registry: RegistryView;
  clock: Clock;
  logger: Logger;
  /** The partitions this member holds (the processor's map, read live). */
  partitions: ReadonlyMap<number, PartitionState>;
  /** Bounds a store call, so a hung store cannot stall the partition. */
  timed<T>(work: Promise<T>, what: string): Promise<T>;
}

/**
 * Which modules a partition's engine holds, and their restore from the store.
 *
 * On assignment, every active module whose id hashes to an assigned partition is restored at once
 * (not only on its next event), so one that stays silent after a restart still gets its data_gap.
 * What fails is retried by the partition's next batch or tick (`restorePending`); a module first
 * seen in a batch is restored before the batch's events reach the engine (`restore`); a registry
 * change reaches the engines that hold the module (`moduleChanged`).
 */
export class Ownership {
  /**
   * Per partition, the store read of its current restore chunk. A read that outlives its timeout keeps
   * running (a store call cannot be taken back), and the retry joins it instead of queueing the same
   * reads again behind it: on a slow store, retries would otherwise pile up until none finishes.
   */
  private readonly loading = new Map<PartitionState, { ids: string; load: Promise<Loaded> }>();

  /**
   * Module id → its version and the set of reads started for it on assignment (`claimOwned`): the
   * modules of every assigned partition are read in chunks that mix partitions, a few sets at a time,
   * and each partition takes its modules' part. An entry goes when its module is restored, its set
   * fails, or the next assignment begins.
   */
  private readonly prefetched = new Map<string, { version: number; set: Prefetch }>();

  constructor(private readonly o: OwnershipOptions) {}

  /** Marks every active module that hashes to one of these partitions as owned there, and restores them. */
  async claimOwned(partitions: number[]): Promise<void> {
    const wanted = new Set(partitions);
    const owned = new Map<number, string[]>();
    try {
      for (const module of this.o.registry.modules()) {
        if (module.status !== 'active') continue;
        const p = await this.o.bus.partitionFor(Topics.metricsRaw, module.id);
        if (wanted.has(p)) owned.set(p, [...(owned.get(p) ?? []), module.id]);
      }
    } catch (err) {
      // Modules are then restored on their first event, as before this partition's owner was known.
      this.o.logger.warn(
        { err, partitions },
        'could not map modules to partitions; restoring them on their first event',
      );
      return;
    }
    for (const p of partitions) {
      const state = this.o.partitions.get(p);
      if (state) state.unrestored = owned.get(p) ?? [];
    }
    // Sets of an earlier assignment that no restore took (their partition went first) are dropped.
    this.prefetched.clear();
    this.prefetch(partitions.flatMap((p) => (this.o.partitions.has(p) ? (owned.get(p) ?? []) : [])));
    await Promise.all(
      partitions.map(async (p) => {
        const state = this.o.partitions.get(p);
        if (!state) return;
        const began = Date.now();
        const modules = state.unrestored.length;
        await state
          .run(async () => {
            await this.restorePending(state);
            // Its time grows with the modules owned and what restore.ts reads for them (see the README).
            this.o.logger.info({ partition: p, modules, ms: Date.now() - began }, 'partition restored');
          })
          .catch((err: unknown) => {
            // Past the step timeout the reads go on (`load`), and the next batch or tick joins them.
            if (err instanceof GlasshouseError && err.code === 'restore_timeout')
              this.o.logger.info(
                { partition: p, modules, ms: Date.now() - began },
                'restore on assignment still reading; the next batch or tick waits for it',
              );
            else
              this.o.logger.warn(
                { err, partition: p },
                'restore on assignment failed; the next batch or tick retries',
              );
          });
      }),
    );
  }

  /**
   * Starts the restore reads of these modules, `restoreChunk` at a time and `restoreConcurrency`
   * sets at once, whatever partition each module is in. A failed set is forgotten: its modules'
   * restore reads them again.
   */
  private prefetch(ids: string[]): void {
    const modules = ids.map((id) => this.o.registry.module(id)).filter((m) => m !== undefined);
    const sets: Prefetch[] = [];
    for (let i = 0; i < modules.length; i += restoreChunk) {
      const chunk = modules.slice(i, i + restoreChunk);
      // Each set begins when the set `restoreConcurrency` places before it has settled.
      const after = (sets[sets.length - restoreConcurrency] ?? Promise.resolve()).catch(() => undefined);
      const set: Prefetch = after.then(async () => {
        const readAt = this.o.clock.now();
        return { input: await loadModuleState(this.o.store, chunk, readAt), readAt };
      });
      set.catch(() => {
        for (const m of chunk) if (this.prefetched.get(m.id)?.set === set) this.prefetched.delete(m.id);
      });
      sets.push(set);
      for (const m of chunk) this.prefetched.set(m.id, { version: m.version, set });
    }
  }

  /** Restores the owned modules not restored yet, a chunk at a time (progress is kept on failure). */
  async restorePending(state: PartitionState): Promise<void> {
    while (state.unrestored.length > 0 && !state.dropped) {
      const ids = state.unrestored.slice(0, restoreChunk);
      const modules = ids
        .filter((id) => !state.modules.has(id))
        .map((id) => this.o.registry.module(id))
        .filter((m): m is ModuleVersion => m !== undefined);
      if (modules.length > 0) await this.restore(state, modules, this.o.clock.now());
      state.unrestored = state.unrestored.slice(ids.length);
    }
  }

  /** Puts modules into the engine with their stored state (restore.ts). Throws before changing anything. */
  async restore(state: PartitionState, modules: ModuleVersion[], now: number): Promise<void> {
    const began = Date.now();
    const { input, readAt } = await this.o.timed(this.load(state, modules, now), 'restore');
    for (const module of modules) {
      state.engine.setModule(module);
      state.modules.set(module.id, module.version);
    }
    state.engine.restore(input);
    for (const module of modules) this.syncPending(state, module.id);
    for (const row of input.rollups) state.notBefore(row.updated_ms);
    for (const seen of input.recentEventIds) state.notBefore(seen.receivedMs);
    for (const ms of input.covered.values()) state.notBefore(ms);
    for (const r of input.lastReceipts) state.notBefore(r.receivedMs);
    // Every batch from now on is stamped after this: a stored copy received later is this owner's.
    state.notBefore(readAt);
    const ownSince = state.lastStamp;
    for (const module of modules) {
      state.dedup.set(module.id, { ownSince, covered: input.covered.get(module.id) ?? 0 });
      this.prefetched.delete(module.id);
    }
    this.o.logger.info(
      {
        partition: state.partition,
        modules: modules.map((m) => m.id),
        rollups: input.rollups.length,
        openAlerts: input.openAlerts.length,
        rememberedEvents: input.recentEventIds.length,
        ms: Date.now() - began,
      },
      'module state restored',
    );
  }

  /**
   * The stored state of these modules and when its reads began (`now` of restore.ts): the part of the
   * sets started on assignment when they hold every one of them at its current version, else the
   * read already running for them on this partition, or a new one. A joined read is as valid as a
   * slow one: nothing of these modules is applied until it is in.
   */
  private async load(state: PartitionState, modules: ModuleVersion[], now: number): Promise<Loaded> {
    const sets = modules.map((m) => this.prefetched.get(m.id));
    if (sets.every((s, i) => s?.version === modules[i]!.version)) {
      const done = await Promise.all(new Set(sets.map((s) => s!.set)));
      const input = restoredFor(
        done.map((d) => d.input),
        new Set(modules.map((m) => m.id)),
      );
      return { input, readAt: Math.min(...done.map((d) => d.readAt)) };
    }
    const ids = modules.map((m) => m.id).join(' ');
    const running = this.loading.get(state);
    if (running?.ids === ids) return running.load;
    const load = loadModuleState(this.o.store, modules, now).then((input) => ({ input, readAt: now }));
    const entry = { ids, load };
    this.loading.set(state, entry);
    const done = () => {
      if (this.loading.get(state) === entry) this.loading.delete(state);
    };
    load.then(done, done);
    return load;
  }

  /** A registry change: a new module is claimed, a new version reaches the engines that hold it. */
  moduleChanged(id: string): void {
    const module = this.o.registry.module(id);
    if (!module) return;
    const partitions = [...this.o.partitions.values()];
    if (module.status === 'active' && !partitions.some((s) => s.modules.has(id))) void this.claimNew(id);
    for (const state of partitions) {
      if (!state.modules.has(id)) continue;
      void state.run(() => {
        if ((state.modules.get(id) ?? 0) < module.version) {
          state.engine.setModule(module);
          state.modules.set(id, module.version);
        }
        this.syncPending(state, id);
      });
    }
  }

  /**
   * Gives the engine the version an approved proposal of the module becomes, ahead of its
   * effectiveAt (so the engine switches exactly then, in event time), or takes it back when the
   * proposal was rejected or withdrawn during its notice period.
   */
  private syncPending(state: PartitionState, id: string): void {
    const open = this.o.registry.openProposal(id);
    if (open?.state === 'approved' && open.effectiveAt) {
      const next = appliedVersion(open, Date.parse(open.effectiveAt));
      if ((state.modules.get(id) ?? 0) < next.version) {
        state.engine.setModule(next);
        state.modules.set(id, next.version);
      }
      return;
    }
    const { pending } = state.engine.versions(id);
    const current = this.o.registry.module(id);
    // Applied meanwhile: the waiting version is the registry's, and still switches at its effectiveAt.
    if (pending === undefined || (current && current.version >= pending)) return;
    state.engine.dropPending(id);
    const inForce = state.engine.versions(id).inForce;
    if (inForce !== undefined) state.modules.set(id, inForce);
    if (current && current.version > (inForce ?? 0)) {
      state.engine.setModule(current);
      state.modules.set(id, current.version);
    }
  }

  /** A module new to this member: restored now if its partition is assigned here (watched before its first event). */
  private async claimNew(id: string): Promise<void> {
    try {
      const state = this.o.partitions.get(await this.o.bus.partitionFor(Topics.metricsRaw, id));
      if (!state || state.unrestored.includes(id)) return;
      state.unrestored.push(id);
      await state.run(() => this.restorePending(state));
    } catch (err) {
      this.o.logger.debug(
        { err, moduleId: id },
        'new module not restored yet; the next batch or tick retries',
      );
    }
  }
}
