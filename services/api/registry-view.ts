import { randomUUID } from 'node:crypto';
import { Topics } from '../../infra/kafka/topics.js';
import type { ModuleVersion, Sociotechnician } from '../../schemas/registry.js';
import { RegistryRecord, recordKey } from '../core/registry/records.js';
import { RegistryState } from '../core/registry/state.js';
import type { Bus, Consumption } from '../ports/bus.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Principal, RegistryView } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { UnavailableError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { loadRegistryRecords } from './registry-store.js';
import { SecretVerifier } from './secret-verifier.js';
import { parseSecret, secretDigest, secretsEqual } from './secrets.js';

export interface RegistryViewOptions {
  bus: Bus;
  store: Store;
  logger: Logger;
  /** The bootstrap admin's token (`GLASSHOUSE_ADMIN_TOKEN`), or undefined for none. */
  adminToken: string | undefined;
  /**
   * The scrypt hash of the bootstrap admin's token, when only the hash is kept (standalone keeps the
   * token it generated on its first run as `<data dir>/admin-token.hash`). Accepted besides `adminToken`.
   */
  adminTokenHash?: string | undefined;
  /** How long `start` waits to catch up with the registry topic. */
  catchUpTimeoutMs?: number;
  /** Checks secrets against stored hashes (default: scrypt, 2 at once, failures remembered 60 s). */
  verifier?: SecretVerifier;
}

/** The bootstrap admin: the holder of `GLASSHOUSE_ADMIN_TOKEN`. */
export const bootstrapAdmin: Principal = { kind: 'admin', id: 'bootstrap', name: 'Bootstrap admin' };

const maxCachedSecrets = 10_000;
/** Cache key of the bootstrap admin; registry principal keys are `<kind>:<slug>`, so it cannot collide. */
const bootstrapKey = 'bootstrap-admin:';

/**
 * The registry as one process sees it. At start it loads the latest versions from the store (the
 * in-process bus forgets on restart; Kafka may have compacted), then reads the compacted registry
 * topic from the beginning with a broadcast reader and stays subscribed. It is ready once it has read
 * back a marker it published itself, i.e. everything published before it started.
 */
export class BusRegistryView implements RegistryView, Component {
  readonly name = 'registry';
  private readonly state = new RegistryState();
  private readonly listeners = new Set<(moduleId: string | undefined) => void>();
  /** Digest of a verified secret → the principal key it belongs to. */
  private readonly verified = new Map<string, string>();
  private readonly verifier: SecretVerifier;
  private consumption: Consumption | undefined;
  private caughtUp = false;
  private readonly log: Logger;

  constructor(private readonly options: RegistryViewOptions) {
    this.log = options.logger.child({ component: 'registry' });
    this.verifier = options.verifier ?? new SecretVerifier();
  }

  async start(): Promise<void> {
    this.apply(await loadRegistryRecords(this.options.store, this.log));
    const nonce = randomUUID();
    let reached: () => void = () => {};
    const marker = new Promise<void>((resolve) => {
      reached = resolve;
    });
    this.consumption = await this.options.bus.consume({
      topic: Topics.registryModules,
      group: null,
      fromBeginning: true,
      onBatch: async (batch) => {
        const records: RegistryRecord[] = [];
        for (const incoming of batch.records) {
          const record = parseRecord(incoming.value);
          if (!record) {
            this.log.error(
              { offset: incoming.offset, key: incoming.key },
              'registry record does not parse; skipped',
            );
            continue;
          }
          if (record.type === 'marker' && record.nonce === nonce) reached();
          records.push(record);
        }
        this.apply(records);
      },
    });
    const record: RegistryRecord = { type: 'marker', nonce };
    await this.options.bus.publish(Topics.registryModules, [
      { key: recordKey(record), value: JSON.stringify(record) },
    ]);
    const timeoutMs = this.options.catchUpTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([marker.then(() => 'ok' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      throw new UnavailableError(
        'registry_unavailable',
        `the registry topic was not read back within ${timeoutMs} ms`,
      );
    }
    this.caughtUp = true;
  }

  async stop(): Promise<void> {
    const consumption = this.consumption;
    this.consumption = undefined;
    this.caughtUp = false;
    await consumption?.stop();
  }

  health(): Health {
    if (!this.caughtUp) return { state: 'error', detail: 'not caught up with the registry topic' };
    if (this.consumption && !this.consumption.healthy())
      return { state: 'error', detail: 'registry reader is not making progress' };
    return { state: 'ok' };
  }

  /**
   * Applies records to the view (from the topic, the store, or a write this process just made, for
   * read-your-writes). Stale and duplicate records are ignored. Notifies listeners of every change.
   */
  apply(records: readonly RegistryRecord[]): void {
    for (const record of records) {
      const applied = this.state.apply(record);
      if (!applied.changed) continue;
      if (applied.type === 'principal') this.forget(applied.key);
      const moduleId = applied.type === 'module' ? applied.moduleId : undefined;
      for (const listener of this.listeners) {
        try {
          listener(moduleId);
        } catch (err) {
          this.log.error({ err }, 'registry listener failed');
        }
      }
    }
  }

  module(id: string): ModuleVersion | undefined {
    return this.state.module(id);
  }

  modules(): ModuleVersion[] {
    return this.state.modules();
  }

  sociotechnician(id: string): Sociotechnician | undefined {
    return this.state.sociotechnicianEntry(id)?.sociotechnician;
  }

  sociotechnicians(): Sociotechnician[] {
    return this.state.sociotechnicians();
  }

  /** The registry's current state, for the api role (principals with hashes, entity versions). */
  get current(): RegistryState {
    return this.state;
  }

  /**
   * Resolves a secret to its holder. A verified secret is a digest lookup; a secret that failed is
   * answered from memory for a while; other secrets wait for a bounded scrypt slot and, when too many
   * already wait, reject with `AuthBusyError` (429 `auth_busy`).
   */
  async authenticate(secret: string): Promise<Principal | undefined> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512) return undefined;
    const { adminToken } = this.options;
    if (adminToken !== undefined && secretsEqual(secret, adminToken)) return bootstrapAdmin;
    const claim = parseSecret(secret);
    if (!claim) return undefined;
    if (claim.kind === 'admin' && claim.id === bootstrapAdmin.id && (await this.matchesAdminHash(secret)))
      return bootstrapAdmin;
    const key = `${claim.kind}:${claim.id}`;
    const entry = this.state.principal(claim.kind, claim.id);
    if (!entry || entry.principal.revokedAt !== undefined) return undefined;
    const principal: Principal = { kind: entry.kind, id: entry.principal.id, name: entry.principal.name };
    const digest = secretDigest(secret);
    if (this.verified.get(digest) === key) return principal;
    if (!(await this.verifier.verify(secret, entry.secretHash, digest))) return undefined;
    // The entry may have been revoked or replaced while scrypt ran.
    if (this.state.principal(claim.kind, claim.id) !== entry) return undefined;
    if (this.verified.size >= maxCachedSecrets) this.verified.clear();
    this.verified.set(digest, key);
    return principal;
  }

  /**
   * Whether the secret is the bootstrap admin's stored-hash token (`gh_admin_bootstrap_…`; only such
   * secrets reach scrypt here, so other credentials pay nothing), verified once, then cached by digest.
   */
  private async matchesAdminHash(secret: string): Promise<boolean> {
    const { adminTokenHash } = this.options;
    if (adminTokenHash === undefined) return false;
    const digest = secretDigest(secret);
    if (this.verified.get(digest) === bootstrapKey) return true;
    if (!(await this.verifier.verify(secret, adminTokenHash, digest))) return false;
    if (this.verified.size >= maxCachedSecrets) this.verified.clear();
    this.verified.set(digest, bootstrapKey);
    return true;
  }

  onChange(listener: (moduleId: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops cached verifications of a principal whose entry changed (revoked or re-issued). */
  private forget(key: string): void {
    for (const [digest, owner] of this.verified) if (owner === key) this.verified.delete(digest);
  }
}

function parseRecord(value: Buffer): RegistryRecord | undefined {
  try {
    const parsed = RegistryRecord.safeParse(JSON.parse(value.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
