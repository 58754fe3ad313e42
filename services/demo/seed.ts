import type { Sociotechnician } from '../../schemas/registry.js';
import { AgencyCreated } from '../../schemas/registry.js';
import type { Logger } from '../runtime/logger.js';
import type { AgencyKeyFile } from './agency-keys.js';
import { type Caller, type FinalOutcome, sleep } from './caller.js';
import type { DemoAgency, DemoModule } from './government.js';

export interface Government {
  sociotechnicians: readonly Sociotechnician[];
  agencies: readonly DemoAgency[];
  modules: readonly DemoModule[];
}

export interface SeedReport {
  created: { sociotechnicians: number; agencies: number; modules: number };
  /** Agency id → API key, for every agency the demo can report as. */
  keys: Map<string, string>;
}

/**
 * Seeds the demo government through the public API, idempotently: each entity is read first and
 * written only when missing, so a restart on the same data neither duplicates nor fails. Entities the
 * server refuses are logged and skipped; the rest of the demo goes on.
 */
export class Seeder {
  constructor(
    private readonly caller: Caller,
    private readonly adminToken: string,
    private readonly keyFile: AgencyKeyFile,
    private readonly log: Logger,
    private readonly adminRetryMs = 10_000,
  ) {}

  /** Seeds everything; undefined when the component stopped first. */
  async seed(government: Government): Promise<SeedReport | undefined> {
    const created = { sociotechnicians: 0, agencies: 0, modules: 0 };
    // Owners and agencies first: a module may only name people and agencies that exist.
    for (const person of government.sociotechnicians) {
      const { id, ...profile } = person;
      const made = await this.ensure('sociotechnician', `/v1/sociotechnicians/${id}`, profile);
      if (made === undefined) return undefined;
      if (made) created.sociotechnicians += 1;
    }
    const keys = new Map<string, string>();
    for (const agency of government.agencies) {
      const known = this.keyFile.get(agency.id);
      if (known) {
        keys.set(agency.id, known);
        continue;
      }
      const key = await this.issueKey(agency, false);
      if (this.caller.signal.aborted) return undefined;
      if (key) {
        keys.set(agency.id, key);
        created.agencies += 1;
      }
    }
    for (const module of government.modules) {
      const made = await this.ensure('module', `/v1/modules/${module.id}`, module);
      if (made === undefined) return undefined;
      if (made) created.modules += 1;
    }
    return { created, keys };
  }

  /**
   * Issues an agency's key: creates the agency, or, when it exists already (its key was lost, or the
   * server refused the old one), revokes it and creates it again. Undefined when that fails.
   */
  async issueKey(agency: DemoAgency, replace: boolean): Promise<string | undefined> {
    const body = { id: agency.id, name: agency.name };
    let outcome = replace ? undefined : await this.admin('POST /v1/agencies', 'POST', '/v1/agencies', body);
    if (outcome === undefined && this.caller.signal.aborted) return undefined;
    // 409: the agency exists from an earlier run whose key this demo no longer has.
    if (outcome === undefined || (outcome.kind === 'rejected' && outcome.status === 409)) {
      const revoked = await this.admin('DELETE /v1/agencies/:id', 'DELETE', `/v1/agencies/${agency.id}`);
      if (!revoked) return undefined;
      if (revoked.kind !== 'ok' && revoked.kind !== 'not_found') {
        this.log.error(
          { agency: agency.id, status: revoked.status, answer: bodyOf(revoked) },
          'cannot revoke the demo agency to reissue its key',
        );
        return undefined;
      }
      outcome = await this.admin('POST /v1/agencies', 'POST', '/v1/agencies', body);
      if (!outcome) return undefined;
    }
    const parsed = outcome.kind === 'ok' ? AgencyCreated.safeParse(outcome.body) : undefined;
    if (!parsed?.success) {
      this.log.error(
        { agency: agency.id, status: outcome.status, answer: bodyOf(outcome) },
        'cannot create the demo agency',
      );
      return undefined;
    }
    const problem = await this.keyFile.set(agency.id, parsed.data.key);
    if (problem) this.log.warn(problem);
    this.log.info({ agency: agency.id, replaced: replace || undefined }, 'demo agency key issued');
    return parsed.data.key;
  }

  /** GET, then PUT when missing. True when created, false when present or refused, undefined when stopped. */
  private async ensure(kind: string, path: string, body: unknown): Promise<boolean | undefined> {
    const route = `${kind === 'module' ? '/v1/modules' : '/v1/sociotechnicians'}/:id`;
    const found = await this.caller.call(`GET ${route}`, 'GET', path);
    if (!found) return undefined;
    if (found.kind === 'ok') return false;
    if (found.kind !== 'not_found') {
      this.log.warn(
        { path, status: found.status, answer: bodyOf(found) },
        `cannot read demo ${kind}; skipping it`,
      );
      return false;
    }
    const put = await this.admin(`PUT ${route}`, 'PUT', path, body);
    if (!put) return undefined;
    if (put.kind === 'ok') return true;
    this.log.warn(
      { path, status: put.status, answer: bodyOf(put) },
      `the server refused demo ${kind}; skipping it`,
    );
    return false;
  }

  /** An admin call; a refused token is logged once and retried slowly (the token may be configured later). */
  private async admin(
    route: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<FinalOutcome | undefined> {
    let refused = false;
    for (;;) {
      const outcome = await this.caller.call(route, method, path, { token: this.adminToken, body });
      if (outcome?.kind !== 'unauthorized') return outcome;
      if (!refused) {
        refused = true;
        this.log.error(
          { route, status: outcome.status },
          'the server refused the admin token; the demo cannot seed until it accepts it',
        );
      }
      this.caller.waitingFor = 'an accepted admin token';
      if (!(await sleep(this.adminRetryMs, this.caller.signal))) return undefined;
    }
  }
}

function bodyOf(outcome: FinalOutcome): unknown {
  return 'body' in outcome ? outcome.body : undefined;
}
