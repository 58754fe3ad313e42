import { randomBytes, randomUUID } from 'node:crypto';
import type { Proposal } from '../../schemas/proposals.js';
import type { ModuleVersion, Sociotechnician } from '../../schemas/registry.js';
import {
  bootstrapAdmin,
  parseSecret,
  precheck,
  secretCheck,
  secretDigest,
  secretsEqual,
} from '../core/auth/secrets.js';
import { RegistryRecord, recordKey } from '../core/registry/records.js';
import { RegistryState } from '../core/registry/state.js';
import type { Bus, Consumption } from '../ports/bus.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Principal, PrincipalKind, RegistryView } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import { Topics } from '../ports/topics.js';
import { UnavailableError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { AuthThrottledError, FailureLimiter } from './auth-limits.js';
import { loadRegistryRecords } from './registry-store.js';
import { SecretVerifier } from './secret-verifier.js';

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
  /**
   * The key of the credential pre-check (`derivePrecheckKey` of the command key, so every role of a
   * deployment shares it; default: a random key of this process). Credentials issued with a check
   * under this key are told right from wrong by one HMAC before any scrypt.
   */
  precheckKey?: Buffer;
  /** The pre-check of the stored-hash bootstrap admin token (`admin-token.check`), when kept. */
  adminTokenCheck?: string | undefined;
  /** Keeps the bootstrap admin token's pre-check once its first check succeeded without one. */
  saveAdminTokenCheck?: (check: string) => Promise<void>;
  /**
   * Keeps the pre-check of a credential issued before pre-checks existed, once its secret passed
   * scrypt (main submits it to the audit sequencer). Called at most once per credential version.
   */
  keepSecretCheck?: (kind: PrincipalKind, id: string, version: number, check: string) => Promise<void>;
  /** Failed checks allowed per source address and per principal (default 20 a minute each). */
  failuresPerSource?: FailureLimiter;
  failuresPerPrincipal?: FailureLimiter;
}

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
  private readonly precheckKey: Buffer;
  private adminTokenCheck: string | undefined;
  private readonly perSource: FailureLimiter;
  private readonly perPrincipal: FailureLimiter;
  /** `<kind>:<id>:<version>` of credentials whose pre-check this process submitted. */
  private readonly checksKept = new Set<string>();
  private consumption: Consumption | undefined;
  private caughtUp = false;
  private readonly log: Logger;

  constructor(private readonly options: RegistryViewOptions) {
    this.log = options.logger.child({ component: 'registry' });
    this.verifier = options.verifier ?? new SecretVerifier();
    this.precheckKey = options.precheckKey ?? randomBytes(32);
    this.adminTokenCheck = options.adminTokenCheck;
    this.perSource = options.failuresPerSource ?? new FailureLimiter();
    this.perPrincipal = options.failuresPerPrincipal ?? new FailureLimiter();
  }

  /** The pre-check to store beside the scrypt hash of a newly issued secret. */
  secretCheck(secret: string): string {
    return secretCheck(this.precheckKey, secret);
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
      const moduleId =
        applied.type === 'module' || applied.type === 'proposal' ? applied.moduleId : undefined;
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

  proposal(id: string): Proposal | undefined {
    return this.state.proposal(id);
  }

  proposals(): Proposal[] {
    return this.state.proposals();
  }

  openProposal(moduleId: string): Proposal | undefined {
    return this.state.openProposal(moduleId);
  }

  /** The registry's current state, for the api role (principals with hashes, entity versions). */
  get current(): RegistryState {
    return this.state;
  }

  /**
   * Resolves a secret to its holder. A verified secret is a digest lookup. Otherwise the keyed
   * pre-check stored beside the hash decides first, in constant time: a wrong secret is refused
   * without scrypt, a right one is verified in scrypt's first lane, never behind unverified secrets.
   * Secrets without a usable pre-check (credentials issued before it existed) wait for a bounded
   * scrypt slot and, when too many wait, reject with `AuthBusyError` (429 `auth_busy`). A source
   * address or a principal with too many failed checks is refused (429 `auth_throttled`) unless its
   * secret passes the pre-check.
   */
  async authenticate(secret: string, source?: string): Promise<Principal | undefined> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512) return undefined;
    const { adminToken } = this.options;
    if (adminToken !== undefined && secretsEqual(secret, adminToken)) return bootstrapAdmin;
    const claim = parseSecret(secret);
    if (!claim) return this.failed(source, undefined);
    if (claim.kind === 'admin' && claim.id === bootstrapAdmin.id && this.options.adminTokenHash !== undefined)
      return (await this.matchesAdminHash(secret, source)) ? bootstrapAdmin : undefined;
    // A registry entry can never act as the bootstrap admin (ids are reserved at issue; entries
    // issued before that are ignored).
    if (claim.kind === 'admin' && claim.id === bootstrapAdmin.id) return this.failed(source, undefined);
    const key = `${claim.kind}:${claim.id}`;
    const entry = this.state.principal(claim.kind, claim.id);
    if (!entry || entry.principal.revokedAt !== undefined) return this.failed(source, undefined);
    const principal: Principal = { kind: entry.kind, id: entry.principal.id, name: entry.principal.name };
    const digest = secretDigest(secret);
    if (this.verified.get(digest) === key) return principal;
    if (!(await this.check(secret, digest, entry.secretHash, entry.secretCheck, key, source)))
      return undefined;
    // The entry may have been revoked or replaced while scrypt ran.
    if (this.state.principal(claim.kind, claim.id) !== entry) return undefined;
    if (entry.secretCheck === undefined)
      this.keepCheck(entry.kind, entry.principal.id, entry.version, secret);
    if (this.verified.size >= maxCachedSecrets) this.verified.clear();
    this.verified.set(digest, key);
    return principal;
  }

  /**
   * Whether the secret is the bootstrap admin's stored-hash token (`gh_admin_bootstrap_…`), verified
   * once, then cached by digest. Its pre-check is kept beside the hash after the first success.
   */
  private async matchesAdminHash(secret: string, source: string | undefined): Promise<boolean> {
    const hash = this.options.adminTokenHash!;
    const digest = secretDigest(secret);
    if (this.verified.get(digest) === bootstrapKey) return true;
    if (!(await this.check(secret, digest, hash, this.adminTokenCheck, bootstrapKey, source))) return false;
    if (this.verified.size >= maxCachedSecrets) this.verified.clear();
    this.verified.set(digest, bootstrapKey);
    if (
      precheck(this.precheckKey, secret, this.adminTokenCheck) !== 'match' &&
      this.options.saveAdminTokenCheck
    ) {
      this.adminTokenCheck = this.secretCheck(secret);
      await this.options.saveAdminTokenCheck(this.adminTokenCheck).catch((err: unknown) => {
        this.log.warn({ err }, 'could not keep the admin token pre-check; scrypt checks it after a restart');
      });
    }
    return true;
  }

  /** Submits the pre-check of a credential that has none (once per credential version per process). */
  private keepCheck(kind: PrincipalKind, id: string, version: number, secret: string): void {
    const keep = this.options.keepSecretCheck;
    const key = `${kind}:${id}:${version}`;
    if (!keep || this.checksKept.has(key)) return;
    if (this.checksKept.size >= maxCachedSecrets) this.checksKept.clear();
    this.checksKept.add(key);
    keep(kind, id, version, this.secretCheck(secret)).catch((err: unknown) => {
      this.checksKept.delete(key);
      this.log.warn({ err, kind, id }, 'could not keep a credential pre-check; scrypt checks it meanwhile');
    });
  }

  /** The pre-check, then scrypt, with failures counted and limited per source and principal. */
  private async check(
    secret: string,
    digest: string,
    hash: string,
    stored: string | undefined,
    principalKey: string,
    source: string | undefined,
  ): Promise<boolean> {
    const verdict = precheck(this.precheckKey, secret, stored);
    if (verdict === 'match') {
      if (await this.verifier.verify(secret, hash, digest, true)) return true;
      this.failed(source, principalKey);
      return false;
    }
    this.throwIfThrottled(source, principalKey);
    if (verdict === 'mismatch' || !(await this.verifier.verify(secret, hash, digest))) {
      this.failed(source, principalKey);
      return false;
    }
    return true;
  }

  private throwIfThrottled(source: string | undefined, principalKey: string | undefined): void {
    const bySource = source === undefined ? 0 : this.perSource.blockedFor(source);
    if (bySource > 0) throw new AuthThrottledError('source', bySource);
    const byPrincipal = principalKey === undefined ? 0 : this.perPrincipal.blockedFor(principalKey);
    if (byPrincipal > 0) throw new AuthThrottledError('principal', byPrincipal);
  }

  /** Counts a failed check (after refusing it when its source is over the limit already). */
  private failed(source: string | undefined, principalKey: string | undefined): undefined {
    this.throwIfThrottled(source, principalKey);
    if (source !== undefined) this.perSource.fail(source);
    if (principalKey !== undefined) this.perPrincipal.fail(principalKey);
    return undefined;
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
