import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { acknowledgeAlert } from '../../services/api/audit-client.js';
import { verifyExport } from '../../services/api/audit-export.js';
import { entryHash } from '../../services/core/audit/chain.js';
import { hashSecret, issueSecret } from '../../services/core/auth/secrets.js';
import type { Bus } from '../../services/ports/bus.js';
import type { Store } from '../../services/ports/store.js';
import { Topics } from '../../services/ports/topics.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { exampleGoal } from '../support/examples.js';

const logger = pino({ level: process.env.GLASSHOUSE_TEST_LOG ?? 'silent' });
const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
/**
 * These tests edit goals and owners directly, as a single-admin deployment does
 * (`GLASSHOUSE_APPROVALS=0`); proposals-api.test.ts covers the approved path.
 */
const env = { GLASSHOUSE_APPROVALS: '0' };

/** One deployment shape: how to make bus and store clients, and how to alter a stored audit row behind the api's back. */
interface Setup {
  bus(): Promise<Bus>;
  store(): Promise<Store>;
  /** Rewrites text inside the stored body of audit row `seq`, directly in the database. */
  tamper(seq: number, from: string, to: string, instances: RunningApi[]): Promise<RunningApi>;
  cleanup(): Promise<void>;
}

function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (value === undefined) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

// Bad-input cases pass wrong types on purpose, so overrides are untyped here.
const goal = (over: Record<string, unknown> = {}) => ({ ...exampleGoal(), ...over });
const moduleBody = (over: Record<string, unknown> = {}) => ({
  domain: 'transit',
  title: 'Bus punctuality',
  owner: 'ada',
  agencies: ['transit'],
  goals: [goal()],
  rationale: 'initial definition',
  ...over,
});

function registrySuite(name: string, makeSetup: () => Promise<Setup>) {
  describe(`registry and audit (${name})`, () => {
    let setup: Setup;
    const running: RunningApi[] = [];
    let api: RunningApi;
    const admin = { token: adminToken };

    async function start(): Promise<RunningApi> {
      const instance = await startApi({
        bus: await setup.bus(),
        store: await setup.store(),
        adminToken,
        env,
      });
      running.push(instance);
      return instance;
    }

    beforeAll(async () => {
      setup = await makeSetup();
      api = await start();
    });
    afterAll(async () => {
      for (const instance of running.reverse()) await instance.stop();
      await setup?.cleanup();
    });

    it('issues credentials once, versions modules, and audits every step', async () => {
      const overseer = await api.call('POST', '/v1/overseers', {
        ...admin,
        body: { id: 'desk', name: 'Oversight desk' },
      });
      expect(overseer.status).toBe(201);
      expect(overseer.body.overseer).toMatchObject({ id: 'desk', name: 'Oversight desk' });
      expect(overseer.body.token).toMatch(/^gh_overseer_desk_[0-9a-f]{64}$/);

      const agency = await api.call('POST', '/v1/agencies', {
        ...admin,
        body: { id: 'transit', name: 'Transit agency' },
      });
      expect(agency.status).toBe(201);
      const key: string = agency.body.key;
      expect(await api.registry.authenticate(key)).toEqual({
        kind: 'agency',
        id: 'transit',
        name: 'Transit agency',
      });
      // Never again: a second issue is refused, and no answer carries the key or its hash.
      const again = await api.call('POST', '/v1/agencies', {
        ...admin,
        body: { id: 'transit', name: 'Transit agency' },
      });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('already_exists');

      expect(
        (
          await api.call('PUT', '/v1/sociotechnicians/ada', {
            ...admin,
            body: { name: 'Ada Lovelace', title: 'Director' },
          })
        ).status,
      ).toBe(200);

      const v1 = await api.call('PUT', '/v1/modules/bus-punctuality', { ...admin, body: moduleBody() });
      expect(v1.status).toBe(200);
      expect(v1.body).toMatchObject({
        id: 'bus-punctuality',
        version: 1,
        updatedBy: 'admin:bootstrap',
        flags: [],
      });
      const v2 = await api.call('PUT', '/v1/modules/bus-punctuality', {
        ...admin,
        body: moduleBody({ goals: [goal({ target: 92 })], rationale: 'raise the bar' }),
      });
      expect(v2.body).toMatchObject({ version: 2, rationale: 'raise the bar' });
      const v3 = await api.call('PUT', '/v1/modules/bus-punctuality', {
        ...admin,
        body: moduleBody({ goals: [goal({ target: 95, hold: '5m' })], rationale: 'again' }),
      });
      expect(v3.body).toMatchObject({ version: 3 });
      // A retried PUT of the same definition mints no version.
      const retry = await api.call('PUT', '/v1/modules/bus-punctuality', {
        ...admin,
        body: moduleBody({ goals: [goal({ target: 95, hold: '5m' })], rationale: 'again' }),
      });
      expect(retry.body.version).toBe(3);

      for (const [version, target] of [
        [1, 90],
        [2, 92],
        [3, 95],
      ] as const) {
        const read = await api.call('GET', `/v1/modules/bus-punctuality?version=${version}`);
        expect(read.status).toBe(200);
        expect(read.body).toMatchObject({ version, goals: [{ id: 'ontime', target }] });
      }
      expect((await api.call('GET', '/v1/modules/bus-punctuality?version=4')).status).toBe(404);
      expect((await api.call('GET', '/v1/modules/bus-punctuality')).body.version).toBe(3);
      const list = await api.call('GET', '/v1/modules');
      expect(list.body.items.map((m: { id: string }) => m.id)).toEqual(['bus-punctuality']);
      const profile = await api.call('GET', '/v1/sociotechnicians/ada');
      expect(profile.body).toMatchObject({
        id: 'ada',
        name: 'Ada Lovelace',
        modules: [{ id: 'bus-punctuality', version: 3 }],
      });

      const audit = await api.call('GET', '/v1/audit?limit=1000');
      expect(
        audit.body.items.map((e: { action: string; subject: string; actor: string }) => [
          e.action,
          e.subject,
          e.actor,
        ]),
      ).toEqual([
        ['overseer.create', 'overseer:desk', 'admin:bootstrap'],
        ['agency.create', 'agency:transit', 'admin:bootstrap'],
        ['sociotechnician.put', 'sociotechnician:ada', 'admin:bootstrap'],
        ['module.put', 'module:bus-punctuality', 'admin:bootstrap'],
        ['module.put', 'module:bus-punctuality', 'admin:bootstrap'],
        ['module.put', 'module:bus-punctuality', 'admin:bootstrap'],
      ]);
      expect(JSON.stringify(audit.body)).not.toContain(key.slice(-64));
      expect(JSON.stringify(audit.body)).not.toContain('scrypt$');
      expect(audit.body.items[4]).toMatchObject({
        before: { version: 1 },
        after: { version: 2 },
        rationale: 'raise the bar',
      });
      const verify = await api.call('GET', '/v1/audit/verify');
      expect(verify.body).toEqual({ valid: true, length: 6, head: audit.body.items[5].hash });
    });

    it('pages the log with after= and limit=', async () => {
      const first = await api.call('GET', '/v1/audit?limit=2');
      expect(first.body.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2]);
      expect(first.body.next).toBe('2');
      const second = await api.call('GET', `/v1/audit?after=${first.body.next}&limit=2`);
      expect(second.body.items.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
    });

    it('answers 401 without or with a wrong credential, 403 with the wrong scope, and revokes', async () => {
      const body = { name: 'Someone' };
      expect((await api.call('PUT', '/v1/sociotechnicians/bob', { body })).status).toBe(401);
      const wrong = await api.call('PUT', '/v1/sociotechnicians/bob', { token: `${adminToken}x`, body });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error.code).toBe('unauthorized');
      const overseer = await api.call('POST', '/v1/overseers', {
        ...admin,
        body: { id: 'desk-2', name: 'Second desk' },
      });
      const forbidden = await api.call('PUT', '/v1/sociotechnicians/bob', {
        token: overseer.body.token,
        body,
      });
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('forbidden');
      expect(await api.registry.authenticate(overseer.body.token)).toMatchObject({
        kind: 'overseer',
        id: 'desk-2',
      });

      // The bootstrap admin's id is reserved: no named admin can act as `admin:bootstrap`.
      const impostor = await api.call('POST', '/v1/admins', {
        ...admin,
        body: { id: 'bootstrap', name: 'Not the bootstrap admin' },
      });
      expect(impostor.status).toBe(400);
      expect(impostor.body.error).toMatchObject({ code: 'reserved_id', details: [{ path: 'id' }] });
      const named = await api.call('POST', '/v1/admins', {
        ...admin,
        body: { id: 'grace', name: 'Grace Hopper' },
      });
      expect(named.status).toBe(201);
      expect(
        (await api.call('PUT', '/v1/sociotechnicians/bob', { token: named.body.token, body })).status,
      ).toBe(200);
      const revoked = await api.call('DELETE', '/v1/overseers/desk-2', { token: named.body.token });
      expect(revoked.status).toBe(200);
      expect(revoked.body.overseer.revokedAt).toBeTruthy();
      expect(await api.registry.authenticate(overseer.body.token)).toBeUndefined();
      expect((await api.call('DELETE', '/v1/overseers/nobody', { token: named.body.token })).status).toBe(
        404,
      );
      const audit = await api.call('GET', '/v1/audit?limit=1000');
      expect(
        audit.body.items.slice(-2).map((e: { action: string; actor: string }) => [e.action, e.actor]),
      ).toEqual([
        ['sociotechnician.put', 'admin:grace'],
        ['overseer.revoke', 'admin:grace'],
      ]);
    });

    it('keeps the pre-check of a credential issued before pre-checks existed, once, audited without secrets', async () => {
      const key = issueSecret('agency', 'legacy-agency');
      // As an older version issued it: a scrypt hash and no pre-check.
      await api.audit.submit('admin:bootstrap', {
        op: 'principal.create',
        kind: 'agency',
        id: 'legacy-agency',
        name: 'Legacy agency',
        secretHash: await hashSecret(key),
      });
      await waitFor(
        async () => api.registry.current.principal('agency', 'legacy-agency'),
        'the legacy agency',
      );
      const legacy = api.registry.current.principal('agency', 'legacy-agency')!;
      expect(legacy.secretCheck).toBeUndefined();
      const check = api.registry.secretCheck(key);
      const command = {
        op: 'principal.check' as const,
        kind: 'agency' as const,
        id: 'legacy-agency',
        secretCheck: check,
      };
      await api.audit.submit('agency:legacy-agency', { ...command, version: legacy.version });
      // A stale version or a second submission changes nothing.
      expect(
        (await api.audit.submit('agency:legacy-agency', { ...command, version: legacy.version })).entry,
      ).toBeNull();
      const kept = await waitFor(
        async () => api.registry.current.principal('agency', 'legacy-agency')?.secretCheck,
        'the kept pre-check',
      );
      expect(kept).toBe(check);
      expect(await api.registry.authenticate(key)).toMatchObject({ id: 'legacy-agency' });
      const audit = (await api.call('GET', '/v1/audit?limit=1000')).body.items;
      const entries = audit.filter((e: { subject: string }) => e.subject === 'agency:legacy-agency');
      expect(entries.map((e: { action: string }) => e.action)).toEqual(['agency.create', 'agency.precheck']);
      expect(JSON.stringify(entries)).not.toContain(check.split('$')[2]);
    });

    it('flags a goal change made while the goal is off track or near an alert', async () => {
      const store = await setup.store();
      const now = Date.now();
      await store.insert('performance_updates', [
        {
          module_id: 'bus-punctuality',
          goal_id: 'ontime',
          as_of_ms: now,
          published_ms: now,
          module_version: 3,
          status: 'off_track',
          value: 60,
          body: {
            moduleId: 'bus-punctuality',
            moduleVersion: 3,
            goalId: 'ontime',
            ruleKind: 'goal',
            metric: 'on_time_rate',
            aggregation: 'mean',
            window: '1h',
            asOf: new Date(now).toISOString(),
            value: 60,
            count: 40,
            target: 95,
            shortfall: 0.37,
            status: 'off_track',
            stagnating: false,
            trend: 0,
          },
        },
      ]);
      await store.insert('alerts', [
        {
          alert_id: 'a'.repeat(32),
          version: 1,
          module_id: 'bus-punctuality',
          rule_id: 'ontime',
          kind: 'goal_deviation',
          state: 'firing',
          opened_ms: now - 60_000,
          updated_ms: now - 60_000,
          body: {},
        },
      ]);
      const listed = await api.call('GET', '/v1/modules');
      expect(listed.body.items[0].goals[0].current).toMatchObject({ status: 'off_track', value: 60 });

      const lowered = await api.call('PUT', '/v1/modules/bus-punctuality', {
        ...admin,
        body: moduleBody({ goals: [goal({ target: 60, hold: '5m' })], rationale: 'be realistic' }),
      });
      expect(lowered.status).toBe(200);
      // Lowering an "increase" target eases it, besides being made while off track and near an alert.
      expect(lowered.body.flags.map((f: { code: string }) => f.code)).toEqual([
        'target_eased',
        'changed_while_off_track',
        'changed_near_alert',
      ]);
      expect((await api.call('GET', '/v1/modules/bus-punctuality')).body.flags).toHaveLength(3);
      const audit = await api.call('GET', '/v1/audit?limit=1000');
      expect(audit.body.items.at(-1).flags).toEqual([
        'target_eased:ontime',
        'changed_while_off_track:ontime',
        'changed_near_alert:ontime',
      ]);
      // A cosmetic change is not flagged.
      const renamed = await api.call('PUT', '/v1/modules/bus-punctuality', {
        ...admin,
        body: moduleBody({ title: 'Punctual buses', goals: [goal({ target: 60, hold: '5m' })] }),
      });
      expect(renamed.body.flags).toEqual([]);
    });

    it('appends alert acknowledgements for other roles through the same chain', async () => {
      const entry = await acknowledgeAlert(api.audit, {
        actor: 'overseer:desk',
        alertId: 'b'.repeat(32),
        before: { version: 2, state: 'firing' },
        after: { version: 3, state: 'firing', acknowledgedBy: 'desk' },
        note: 'crew shortage, on it',
      });
      expect(entry).toMatchObject({
        action: 'alert.acknowledge',
        subject: `alert:${'b'.repeat(32)}`,
        rationale: 'crew shortage, on it',
      });
      const verify = (await api.call('GET', '/v1/audit/verify')).body;
      expect(verify).toEqual({ valid: true, length: entry.seq, head: entry.hash });
      await expect(
        api.audit.append({
          actor: '',
          action: 'x',
          subject: 'y',
          before: null,
          after: null,
          rationale: null,
        }),
      ).rejects.toMatchObject({
        code: 'invalid_audit_record',
      });
    });

    it('refuses bad input with reasons and writes nothing', async () => {
      const before = (await api.call('GET', '/v1/audit/verify')).body.length;
      const current = (await api.call('GET', '/v1/modules/bus-punctuality')).body.version;
      const put = (body: unknown, raw?: string) =>
        api.call('PUT', '/v1/modules/bus-punctuality', { ...admin, body, ...(raw ? { raw } : {}) });
      const cases: Array<[string, Awaited<ReturnType<typeof put>>, number, string?]> = [
        ['unknown field', await put(moduleBody({ colour: 'red' })), 400, '(root)'],
        ['wrong type', await put(moduleBody({ goals: [goal({ target: 'high' })] })), 400, 'goals.0.target'],
        [
          'negative window',
          await put(moduleBody({ goals: [goal({ window: '-5m' })] })),
          400,
          'goals.0.window',
        ],
        ['duplicate goal ids', await put(moduleBody({ goals: [goal(), goal()] })), 400, 'goals.1.id'],
        ['missing rationale', await put(moduleBody({ rationale: undefined })), 400, 'rationale'],
        ['empty rationale', await put(moduleBody({ rationale: '   ' })), 400, 'rationale'],
        ['unknown owner', await put(moduleBody({ owner: 'nobody' })), 400, 'owner'],
        ['id differs from path', await put(moduleBody({ id: 'other' })), 400, 'id'],
        ['__proto__ key', await put(undefined, '{"__proto__":{"admin":true},"title":"x"}'), 400],
        // JSON may escape a lone surrogate; stored in the audit trail it breaks other languages' verifiers.
        ['lone surrogate', await put(moduleBody({ summary: 'a\ud800b' })), 400, 'summary'],
        ['lone surrogate in a key', await put(undefined, '{"\\udc00":1}'), 400, '\udc00'],
        ['not JSON', await put(undefined, '{"title":'), 400],
        ['oversized', await put(moduleBody({ summary: 'x'.repeat(300_000) })), 413],
      ];
      for (const [what, answer, status, path] of cases) {
        expect(answer.status, what).toBe(status);
        expect(typeof answer.body.error.code, what).toBe('string');
        expect(answer.body.error.message, what).toBeTruthy();
        if (path)
          expect(
            answer.body.error.details.map((d: { path: string }) => d.path),
            what,
          ).toContain(path);
      }
      expect(
        (await api.call('POST', '/v1/agencies', { ...admin, body: { id: 'Bad Id', name: 'x' } })).status,
      ).toBe(400);
      expect(
        (await api.call('PUT', '/v1/sociotechnicians/eve', { ...admin, body: { name: 'Eve', role: 'x' } }))
          .status,
      ).toBe(400);
      expect((await api.call('GET', '/v1/audit?after=-1')).status).toBe(400);
      expect((await api.call('GET', '/v1/audit?limit=5000')).status).toBe(400);
      expect((await api.call('GET', '/v1/modules/bus-punctuality?version=0')).status).toBe(400);
      expect((await api.call('GET', '/v1/audit/verify')).body.length).toBe(before);
      expect((await api.call('GET', '/v1/modules/bus-punctuality')).body.version).toBe(current);
      expect((await api.call('GET', '/v1/sociotechnicians/eve')).status).toBe(404);
    });

    it('keeps one unbroken chain and gapless versions under concurrent PUTs from two replicas', async () => {
      const other = await start();
      const replicas = [api, other];
      const n = 12;
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          replicas[i % 2]!.call('PUT', '/v1/modules/contested', {
            ...admin,
            body: moduleBody({
              goals: [goal({ target: 100 + i })],
              rationale: `replica ${i % 2} change ${i}`,
            }),
          }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(n).fill(200));
      expect(answers.map((a) => a.body.version).sort((a: number, b: number) => a - b)).toEqual(
        Array.from({ length: n }, (_, i) => i + 1),
      );
      const verify = await other.call('GET', '/v1/audit/verify');
      expect(verify.body.valid).toBe(true);
      const audit = await other.call('GET', '/v1/audit?limit=1000');
      const contested = audit.body.items.filter((e: { subject: string }) => e.subject === 'module:contested');
      expect(contested.map((e: { after: { version: number } }) => e.after.version)).toEqual(
        Array.from({ length: n }, (_, i) => i + 1),
      );
      expect(audit.body.items.map((e: { seq: number }) => e.seq)).toEqual(
        Array.from({ length: verify.body.length }, (_, i) => i + 1),
      );
      // Both replicas' views converge on the last version.
      for (const replica of replicas) {
        await waitFor(
          async () => (replica.registry.module('contested')?.version === n ? true : undefined),
          'views to converge',
        );
      }
    });

    it('hands sequencing over when replicas stop, continuing the same chain', async () => {
      // Stop each original replica in turn, so whichever held the sequencer partition gives it up.
      const [first, second] = running.splice(0, 2);
      await first!.stop();
      const third = await start();
      const put = (replica: RunningApi, target: number) =>
        replica.call('PUT', '/v1/modules/handover', {
          ...admin,
          body: moduleBody({ goals: [goal({ target })], rationale: `target ${target}` }),
        });
      expect((await put(second!, 1)).body.version).toBe(1);
      await second!.stop();
      expect((await put(third, 2)).body.version).toBe(2);
      api = third;
      const verify = (await third.call('GET', '/v1/audit/verify')).body;
      expect(verify.valid).toBe(true);
      const audit = await third.call('GET', '/v1/audit?limit=1000');
      expect(
        audit.body.items.filter((e: { subject: string }) => e.subject === 'module:handover'),
      ).toHaveLength(2);
      expect(audit.body.items).toHaveLength(verify.length);
    });

    it('reports the exact seq of an entry altered in the store; the offline verifier agrees', async () => {
      const validOffline = await verifyExport(api.url);
      const validServer = (await api.call('GET', '/v1/audit/verify')).body;
      expect(validServer.valid).toBe(true);
      expect(validOffline).toEqual(validServer);

      const audit = await api.call('GET', '/v1/audit?limit=1000');
      const target = audit.body.items.find(
        (e: { rationale: string | null }) => e.rationale === 'raise the bar',
      );
      const after = await setup.tamper(target.seq, 'raise the bar', 'lower the bar', running.splice(0));
      running.push(after);
      const broken = await waitFor(async () => {
        const answer = (await after.call('GET', '/v1/audit/verify')).body;
        return answer.valid === false ? answer : undefined;
      }, 'verify to see the altered entry');
      expect(broken).toMatchObject({
        valid: false,
        brokenAt: target.seq,
        length: target.seq - 1,
        reason: 'hash does not match the entry content',
      });
      expect(await verifyExport(after.url)).toEqual(broken);
      // The registry survives a restart (standalone rebuilds its view from the store).
      expect((await after.call('GET', '/v1/modules/handover')).body.version).toBe(2);
      expect((await after.call('GET', '/v1/sociotechnicians/ada')).body.name).toBe('Ada Lovelace');
    });
  });
}

registrySuite('in-process bus + DuckDB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasshouse-registry-'));
  const path = join(dir, 'store.duckdb');
  let bus = new MemoryBus({ topicPrefix: 'registry' });
  await bus.start();
  let store = new DuckDbStore({ path, logger });
  await store.start();
  await store.migrate();
  return {
    bus: async () => bus,
    store: async () => store,
    async tamper(seq, from, to, instances) {
      // DuckDB is embedded: stop everything, edit the file with a separate DuckDB instance, restart.
      for (const instance of instances) await instance.stop();
      await bus.stop();
      await store.stop();
      const db = await DuckDBInstance.create(path);
      const connection = await db.connect();
      await connection.run(
        `UPDATE audit_log SET body = replace(body, '${from}', '${to}') WHERE seq = ${seq}`,
      );
      connection.closeSync();
      db.closeSync();
      bus = new MemoryBus({ topicPrefix: 'registry' });
      await bus.start();
      store = new DuckDbStore({ path, logger });
      await store.start();
      return startApi({ bus, store, adminToken, env });
    },
    async cleanup() {
      await bus.stop();
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

registrySuite('Kafka + ClickHouse', async () => {
  const brokers = inject('kafkaBrokers').split(',');
  const url = inject('clickhouseUrl');
  const topicPrefix = `registry-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const database = `registry_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const clients: Array<Bus | Store> = [];
  // Each replica gets its own Kafka and ClickHouse clients, as separate processes would.
  const bus = async () => {
    const client = new KafkaBus({
      brokers,
      clientId: 'registry-test',
      topicPrefix,
      logger,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 300,
      maxWaitTimeMs: 100,
    });
    await client.start();
    clients.push(client);
    return client;
  };
  const store = async () => {
    const client = new ClickHouseStore({ url, database, logger });
    await client.start();
    await client.migrate();
    clients.push(client);
    return client;
  };
  return {
    bus,
    store,
    async tamper(seq, from, to, instances) {
      const raw = createClient({ url, database });
      try {
        await raw.command({
          query: `ALTER TABLE audit_log UPDATE body = replaceOne(body, '${from}', '${to}') WHERE seq = ${seq}`,
        });
      } finally {
        await raw.close();
      }
      const [first, ...rest] = instances;
      for (const instance of rest) await instance.stop();
      return first!;
    },
    async cleanup() {
      for (const client of clients.reverse()) await client.stop();
      const raw = createClient({ url });
      await raw.command({ query: `DROP DATABASE IF EXISTS ${database}` }).finally(() => raw.close());
    },
  };
});

describe('audit sequencer recovery', () => {
  it('finishes a request whose entry was committed before a failure, without a second entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-sequencer-'));
    const bus = new MemoryBus({ topicPrefix: 'recovery', retryBaseMs: 20 });
    const real = new DuckDbStore({ path: join(dir, 'store.duckdb'), logger });
    await bus.start();
    await real.start();
    await real.migrate();
    // Fails the first registry write after an audit row: the sequencer's batch throws after its commit point.
    let failNext = false;
    let injected = 0;
    const store: Store = Object.create(real, {
      insert: {
        value: async (table: Parameters<Store['insert']>[0], rows: never[]) => {
          if (table === 'audit_log') failNext = true;
          else if (failNext && table === 'registry_entities') {
            failNext = false;
            injected++;
            throw new Error('injected failure after the audit row');
          }
          return real.insert(table, rows);
        },
      },
    });
    const api = await startApi({ bus, store, adminToken, env });
    try {
      const answer = await api.call('PUT', '/v1/sociotechnicians/ada', {
        token: adminToken,
        body: { name: 'Ada' },
      });
      expect(answer.status).toBe(200);
      expect(injected).toBe(1);
      const audit = await api.call('GET', '/v1/audit');
      expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['sociotechnician.put']);
      expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 1 });
      expect(await real.select('registry_entities')).toHaveLength(1);
      expect((await api.call('GET', '/v1/sociotechnicians/ada')).body.name).toBe('Ada');
    } finally {
      await api.stop();
      await bus.stop();
      await real.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('after an audit write that landed but reported failure, answers once with the one entry at that seq', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-sequencer-'));
    const path = join(dir, 'store.duckdb');
    const bus = new MemoryBus({ topicPrefix: 'landed', retryBaseMs: 20 });
    const real = new DuckDbStore({ path, logger });
    await bus.start();
    await real.start();
    await real.migrate();
    // The first audit row is written, then the insert reports a failure (a timeout after the commit).
    let injected = 0;
    const store: Store = Object.create(real, {
      insert: {
        value: async (table: Parameters<Store['insert']>[0], rows: never[]) => {
          await real.insert(table, rows);
          if (table === 'audit_log' && injected === 0) {
            injected++;
            throw new Error('injected failure after the audit row landed');
          }
        },
      },
    });
    const api = await startApi({ bus, store, adminToken, env });
    const results: string[] = [];
    const reader = await bus.consume({
      topic: Topics.auditLog,
      group: null,
      fromBeginning: true,
      onBatch: async (batch) => {
        for (const r of batch.records) {
          const record = JSON.parse(r.value.toString('utf8')) as { type: string; requestId: string };
          if (record.type === 'result') results.push(record.requestId);
        }
      },
    });
    try {
      const answer = await api.call('PUT', '/v1/sociotechnicians/ada', {
        token: adminToken,
        body: { name: 'Ada' },
      });
      expect(answer.status).toBe(200);
      expect(injected).toBe(1);
      await waitFor(async () => (results.length > 0 ? true : undefined), 'the result on audit.log');
      const audit = await api.call('GET', '/v1/audit');
      expect(audit.body.items.map((e: { seq: number }) => e.seq)).toEqual([1]);
      expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 1 });
      // A second request chains on the one entry.
      expect(
        (await api.call('PUT', '/v1/sociotechnicians/bob', { token: adminToken, body: { name: 'Bob' } }))
          .status,
      ).toBe(200);
      expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 2 });
      // One result per request: the first was answered once, not again when its batch was redelivered.
      await waitFor(async () => (results.length >= 2 ? true : undefined), 'both results');
      expect(results).toHaveLength(2);
      expect(new Set(results).size).toBe(2);
    } finally {
      await reader.stop();
      await api.stop();
      await bus.stop();
      await real.stop();
    }
    try {
      // Rows as stored, without the store's read-time dedup: one per seq.
      const instance = await DuckDBInstance.create(path);
      const connection = await instance.connect();
      const rows = (
        await connection.runAndReadAll('SELECT seq, count(*) AS n FROM audit_log GROUP BY seq ORDER BY seq')
      ).getRowObjectsJS();
      connection.closeSync();
      instance.closeSync();
      expect(rows.map((r) => [Number(r.seq), Number(r.n)])).toEqual([
        [1, 1],
        [2, 1],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('reports two different entries stored at one seq as broken, and shows both; an identical replay is not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-fork-'));
    const bus = new MemoryBus({ topicPrefix: 'fork', retryBaseMs: 20 });
    const store = new DuckDbStore({ path: join(dir, 'store.duckdb'), logger });
    await bus.start();
    await store.start();
    await store.migrate();
    const api = await startApi({ bus, store, adminToken, env });
    try {
      for (const id of ['ada', 'bob'])
        expect(
          (await api.call('PUT', `/v1/sociotechnicians/${id}`, { token: adminToken, body: { name: id } }))
            .status,
        ).toBe(200);
      const [row] = await store.select('audit_log', { where: [{ column: 'seq', op: '=', value: 1 }] });
      // The same row again (a replay) changes nothing.
      await store.insert('audit_log', [row!]);
      expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 2 });
      expect((await api.call('GET', '/v1/audit')).body.items).toHaveLength(2);
      // A different, self-consistent entry at seq 1: whichever one a deduplicating read picked, the
      // chain could look valid; both are shown and the chain is broken at 1.
      const body = row!.body as { entry: { at: string; hash: string } };
      const forged = { ...body.entry, at: new Date(Date.parse(body.entry.at) + 1).toISOString() };
      const { hash: _hash, ...unhashed } = forged;
      const hash = entryHash(unhashed as Parameters<typeof entryHash>[0]);
      await store.insert('audit_log', [
        { ...row!, hash, at_ms: Date.parse(forged.at), body: { ...body, entry: { ...forged, hash } } },
      ]);
      const verdict = (await api.call('GET', '/v1/audit/verify')).body;
      expect(verdict).toMatchObject({ valid: false, brokenAt: 1 });
      const items = (await api.call('GET', '/v1/audit')).body.items as Array<{ seq: number }>;
      expect(items.map((e) => e.seq)).toEqual([1, 1, 2]);
      // The offline verifier, reading the same export, finds the repeated seq.
      expect(await verifyExport(api.url)).toMatchObject({
        valid: false,
        reason: 'seq 1 is out of order (expected 2)',
      });
    } finally {
      await api.stop();
      await bus.stop();
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
