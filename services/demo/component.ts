import { join } from 'node:path';
import type { MetricEventInput } from '../../schemas/metric-event.js';
import { IngestResponse, maxEventsPerRequest } from '../../schemas/metric-event.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import { AgencyKeyFile } from './agency-keys.js';
import { Caller, sleep, worthLogging } from './caller.js';
import { ApiClient } from './client.js';
import type { DemoAgency } from './government.js';
import * as demoGovernment from './government.js';
import { type Government, Seeder } from './seed.js';
import { AgencyFeed } from './telemetry.js';

export interface DemoOptions {
  /** Where the public API answers; read at start, once the HTTP server is bound. */
  baseUrl: () => string;
  /** The admin token; read at start, so a token generated during startup is seen. */
  adminToken: () => string | undefined;
  logger: Logger;
  clock: Clock;
  /** Seed of the telemetry generator: the same seed gives the same values. */
  seed?: number;
  /** Where the demo agencies' keys are kept between runs (`<data dir>/demo-agency-keys.json`). */
  keyFile?: string;
  /** How often each agency sends a batch. */
  tickMs?: number;
  government?: Government;
}

/** A 401 right after seeding may only mean the key has not reached ingest yet; reissue only if it persists. */
const refusalsBeforeReissue = 5;

/**
 * `--demo`: seeds a small fictional government and streams scripted telemetry for it, using only the
 * public HTTP API with the admin token and agency keys, like any outside system. It never takes the
 * process down: HTTP failures are retried with backoff, and its health is at worst `degraded`.
 */
export class DemoComponent implements Component {
  readonly name = 'demo';
  private readonly log: Logger;
  private readonly government: Government;
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;
  private caller: Caller | undefined;
  private seeder: Seeder | undefined;
  private phase: 'idle' | 'seeding' | 'streaming' | 'stopped' = 'idle';
  private problem: string | undefined;
  private readonly keys = new Map<string, string>();
  private readonly reissuing = new Set<string>();
  private readonly reported = new Set<string>();

  constructor(private readonly options: DemoOptions) {
    this.log = options.logger.child({ component: 'demo' });
    this.government = options.government ?? demoGovernment;
  }

  /** Default place for the agency keys under a data directory. */
  static keyFileIn(dataDir: string): string {
    return join(dataDir, 'demo-agency-keys.json');
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.controller = new AbortController();
    // Seeding needs the API that this very process serves, so it runs in the background.
    this.running = this.run(this.controller.signal).catch((err: unknown) => {
      this.problem = `stopped after an unexpected error: ${String(err)}`;
      this.log.error({ err }, 'the demo stopped after an unexpected error');
    });
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.running;
    this.phase = 'stopped';
  }

  health(): Health {
    const detail =
      this.problem ?? (this.caller?.waitingFor ? `waiting for ${this.caller.waitingFor}` : undefined);
    if (detail) return { state: 'degraded', detail };
    return { state: 'ok', detail: this.phase };
  }

  private async run(signal: AbortSignal): Promise<void> {
    const adminToken = this.options.adminToken();
    if (!adminToken) {
      this.problem = 'no admin token (set GLASSHOUSE_ADMIN_TOKEN)';
      this.log.error('the demo needs an admin token to seed its government; set GLASSHOUSE_ADMIN_TOKEN');
      return;
    }
    const baseUrl = this.options.baseUrl();
    const caller = new Caller(new ApiClient(baseUrl, signal), this.log, signal);
    const keyFile = new AgencyKeyFile(this.options.keyFile);
    const problem = await keyFile.load();
    if (problem) this.log.warn(`${problem}; demo agency keys will be reissued`);
    this.caller = caller;
    this.seeder = new Seeder(caller, adminToken, keyFile, this.log);
    this.phase = 'seeding';
    this.log.info({ baseUrl }, 'seeding the demo government');
    const report = await this.seeder.seed(this.government);
    if (!report) return;
    for (const [agency, key] of report.keys) this.keys.set(agency, key);
    this.log.info(
      { created: report.created, modules: this.government.modules.length, agencies: report.keys.size },
      'demo government ready; streaming telemetry',
    );
    this.phase = 'streaming';
    const startedAt = this.options.clock.now();
    const runId = startedAt.toString(36);
    const seed = this.options.seed ?? 7;
    await Promise.all(
      this.government.agencies
        .filter((agency) => this.keys.has(agency.id))
        .map((agency) => this.feed(agency, new AgencyFeed(agency.feed, seed, runId), startedAt, caller)),
    );
  }

  /** One agency's loop: a batch per tick; unsent events are kept (bounded) and resent with their ids. */
  private async feed(agency: DemoAgency, feed: AgencyFeed, startedAt: number, caller: Caller): Promise<void> {
    const { clock } = this.options;
    const tickMs = this.options.tickMs ?? 1_000;
    const log = this.log.child({ agency: agency.id });
    const signal = caller.signal;
    let pending: MetricEventInput[] = [];
    let due = startedAt;
    let failures = 0;
    let refusals = 0;
    while (!signal.aborted) {
      due += tickMs;
      const wait = due - clock.now();
      if (wait > 0 && !(await sleep(wait, signal))) return;
      // Fell behind (a slow answer): skip the missed ticks instead of bursting to catch up.
      if (wait < -tickMs) due = clock.now();
      const now = clock.now();
      if (feed.isSilent(now - startedAt)) {
        log.info('the agency goes silent (scripted demo scenario: its modules will show a data gap)');
        return;
      }
      pending = [...pending, ...feed.tick(now - startedAt, now)].slice(-maxEventsPerRequest);
      const key = this.keys.get(agency.id);
      if (!key) continue;
      const outcome = await caller.client.request('POST', '/v1/metrics', {
        token: key,
        body: { events: pending },
      });
      if (outcome.kind === 'ok') {
        caller.noteAvailable('POST /v1/metrics');
        if (failures > 0) log.info({ failures }, 'ingest answers again');
        failures = 0;
        refusals = 0;
        this.reportRejections(log, pending, outcome.body);
        pending = [];
        continue;
      }
      if (outcome.kind === 'no_route') {
        caller.noteNoRoute('POST /v1/metrics');
        continue;
      }
      if (outcome.kind === 'unauthorized') {
        refusals += 1;
        if (refusals === refusalsBeforeReissue) {
          refusals = 0;
          void this.reissue(agency);
        }
        continue;
      }
      if (outcome.kind === 'retry') {
        failures += 1;
        if (worthLogging(failures))
          log.warn(
            { reason: outcome.reason, failures, pending: pending.length },
            'ingest failed; keeping the batch to resend',
          );
        if (outcome.afterMs) due += outcome.afterMs;
        continue;
      }
      // The batch itself was refused (400, 413, ...): resending it cannot help.
      log.warn({ status: outcome.status, answer: outcome.body }, 'ingest refused a demo batch; dropping it');
      pending = [];
    }
  }

  /** Logs each kind of per-event rejection once (e.g. a module the server refused to register). */
  private reportRejections(log: Logger, sent: MetricEventInput[], body: unknown): void {
    const parsed = IngestResponse.safeParse(body);
    if (!parsed.success) return;
    for (const rejection of parsed.data.rejected) {
      const event = sent[rejection.index];
      const reason = rejection.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
      const key = `${event?.moduleId}/${event?.metric}/${reason}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      log.warn({ moduleId: event?.moduleId, metric: event?.metric, reason }, 'ingest rejected demo events');
    }
  }

  private async reissue(agency: DemoAgency): Promise<void> {
    if (this.reissuing.has(agency.id) || !this.seeder) return;
    this.reissuing.add(agency.id);
    this.log.warn({ agency: agency.id }, 'the demo agency key is refused; reissuing it');
    try {
      const key = await this.seeder.issueKey(agency, true);
      if (key) this.keys.set(agency.id, key);
    } finally {
      this.reissuing.delete(agency.id);
    }
  }
}
