import type { Proposal } from '../../schemas/proposals.js';
import type { ModuleVersion, Sociotechnician } from '../../schemas/registry.js';
import type { RegistryRecord } from '../core/registry/records.js';

/** Kinds of credential holders. Admins write the registry, agencies report metrics, overseers acknowledge alerts. */
export type PrincipalKind = 'admin' | 'agency' | 'overseer';

export interface Principal {
  kind: PrincipalKind;
  id: string;
  name: string;
}

/**
 * The registry as every role sees it: an in-memory view of the latest module versions,
 * sociotechnicians and credentials, built at startup from the registry topic and kept current.
 */
export interface RegistryView {
  /** The latest version of a module, or undefined. */
  module(id: string): ModuleVersion | undefined;
  /** Every module's latest version. */
  modules(): ModuleVersion[];
  sociotechnician(id: string): Sociotechnician | undefined;
  sociotechnicians(): Sociotechnician[];
  /** A proposal's current state, or undefined. */
  proposal(id: string): Proposal | undefined;
  /** Every proposal, newest first. */
  proposals(): Proposal[];
  /** The module's open (proposed or approved) proposal, if any. */
  openProposal(moduleId: string): Proposal | undefined;
  /**
   * Resolves a bearer secret to its holder, or undefined (unknown, wrong or revoked). May reject with
   * a retriable `auth_busy` error (429) when too many unverified secrets are being checked at once,
   * or `auth_throttled` (429) when `source` (the caller's address) or the claimed principal failed
   * too many checks lately.
   */
  authenticate(secret: string, source?: string): Promise<Principal | undefined>;
  /**
   * Called after every change is applied to the view: the module id for a module version or one of
   * its proposals, undefined for other changes.
   */
  onChange(listener: (moduleId: string | undefined) => void): () => void;
}

/** The registry as the api role also writes it: the records a change produced, applied before answering. */
export interface RegistryWrites {
  /** Applies records the sequencer produced to this process's view (a read right after a write sees it). */
  apply(records: readonly RegistryRecord[]): void;
  /** The pre-check kept beside a new credential's scrypt hash (core/auth/secrets.ts). */
  secretCheck(secret: string): string;
}
