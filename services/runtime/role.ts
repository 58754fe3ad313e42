import type { KeyObject } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { AuditTrail, ChangeRequests } from '../ports/audit.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { RegistryView, RegistryWrites } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import type { OpenTableFileWriter } from '../ports/table-files.js';
import type { Config } from './config.js';
import type { HttpServer } from './http.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

/** What main hands each role: the parsed config, shared adapters and the process's lifecycle. */
export interface RoleContext {
  config: Config;
  logger: Logger;
  metrics: Registry;
  clock: Clock;
  bus: Bus;
  store: Store;
  /** The registry as this process sees it (built from the registry topic at startup). */
  registry: RegistryView;
  /** Appends to the hash-chained audit log (through the one sequencer, which the api role runs). */
  audit: AuditTrail;
  /** Signs and verifies command records between roles (runtime/command-key.ts). */
  commandKey: Buffer;
  http: HttpServer;
  lifecycle: Lifecycle;
  /**
   * The audit log's signing key (runtime/log-key.ts), when this deployment has one: standalone, or
   * GLASSHOUSE_LOG_KEY_FILE. Without it the api role signs with a key of its process only.
   */
  logKey?: KeyObject;
}

/**
 * What the api role gets beyond every role's context: the registry's write side (the records of its
 * own changes applied before it answers) and registry changes submitted to the one sequencer.
 */
export interface ApiRoleContext extends RoleContext {
  registry: RegistryView & RegistryWrites;
  audit: AuditTrail & ChangeRequests;
  /** Opens a Parquet writer (open-data packages). */
  tableFiles: OpenTableFileWriter;
}

/** A role wires its components into `ctx.lifecycle` and its routes into `ctx.http.app`. No business rules. */
export type RoleFactory<C extends RoleContext = RoleContext> = (ctx: C) => Promise<void> | void;
