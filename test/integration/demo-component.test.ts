import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DemoComponent } from '../../services/demo/component.js';
import * as government from '../../services/demo/government.js';
import type { Government } from '../../services/demo/seed.js';
import { systemClock } from '../../services/ports/clock.js';
import { createLogger } from '../../services/runtime/logger.js';

const adminToken = 'admin-token-for-the-demo-test';

/** A stand-in for the public API with the same paths and answers, counting every write. */
class FakeApi {
  readonly app: FastifyInstance = Fastify();
  readonly modules = new Map<string, unknown>();
  readonly people = new Map<string, unknown>();
  readonly agencyKeys = new Map<string, string>();
  readonly writes: string[] = [];
  readonly events: Array<{ agency: string; eventId: string }> = [];
  ingestDeployed = true;
  ingestStatus = 202;
  private issued = 0;

  constructor() {
    const admin = (auth: string | undefined) => auth === `Bearer ${adminToken}`;
    const denied = { error: { code: 'unauthorized', message: 'bad token' } };
    this.app.get<{ Params: { id: string } }>('/v1/sociotechnicians/:id', async (req, reply) =>
      this.people.has(req.params.id)
        ? this.people.get(req.params.id)
        : reply.code(404).send({ error: { code: 'not_found', message: 'no such sociotechnician' } }),
    );
    this.app.put<{ Params: { id: string } }>('/v1/sociotechnicians/:id', async (req, reply) => {
      if (!admin(req.headers.authorization)) return reply.code(401).send(denied);
      this.writes.push(`person:${req.params.id}`);
      this.people.set(req.params.id, req.body);
      return req.body;
    });
    this.app.get<{ Params: { id: string } }>('/v1/modules/:id', async (req, reply) =>
      this.modules.has(req.params.id)
        ? this.modules.get(req.params.id)
        : reply.code(404).send({ error: { code: 'module_not_found', message: 'no such module' } }),
    );
    this.app.put<{ Params: { id: string } }>('/v1/modules/:id', async (req, reply) => {
      if (!admin(req.headers.authorization)) return reply.code(401).send(denied);
      this.writes.push(`module:${req.params.id}`);
      this.modules.set(req.params.id, req.body);
      return req.body;
    });
    this.app.post<{ Body: { id: string; name: string } }>('/v1/agencies', async (req, reply) => {
      if (!admin(req.headers.authorization)) return reply.code(401).send(denied);
      if (this.agencyKeys.has(req.body.id))
        return reply.code(409).send({ error: { code: 'conflict', message: 'exists' } });
      this.writes.push(`agency:${req.body.id}`);
      this.issued += 1;
      const key = `gh_agency_${req.body.id}_${this.issued}`;
      this.agencyKeys.set(req.body.id, key);
      return reply
        .code(201)
        .send({ agency: { id: req.body.id, name: req.body.name, createdAt: new Date().toISOString() }, key });
    });
    this.app.delete<{ Params: { id: string } }>('/v1/agencies/:id', async (req, reply) => {
      if (!admin(req.headers.authorization)) return reply.code(401).send(denied);
      this.writes.push(`revoke:${req.params.id}`);
      this.agencyKeys.delete(req.params.id);
      return reply.code(204).send();
    });
    this.app.post<{ Body: { events: Array<{ eventId: string }> } }>('/v1/metrics', async (req, reply) => {
      if (!this.ingestDeployed)
        return reply
          .code(404)
          .send({ error: { code: 'not_found', message: 'no route for POST /v1/metrics' } });
      if (this.ingestStatus !== 202)
        return reply.code(this.ingestStatus).send({ error: { code: 'unavailable', message: 'down' } });
      const agency = [...this.agencyKeys].find(
        ([, key]) => req.headers.authorization === `Bearer ${key}`,
      )?.[0];
      if (!agency) return reply.code(401).send(denied);
      for (const event of req.body.events) this.events.push({ agency, eventId: event.eventId });
      return reply.code(202).send({ accepted: req.body.events.length, duplicates: 0, rejected: [] });
    });
  }

  async listen(): Promise<string> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const address = this.app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  }
}

// A smaller government keeps the test quick; the scenario logic is covered by demo-telemetry.
const small: Government = {
  sociotechnicians: government.sociotechnicians.slice(0, 2),
  agencies: government.agencies.slice(0, 2),
  modules: government.modules.filter((m) =>
    m.agencies?.some((a) => ['housing-authority', 'city-transit'].includes(a)),
  ),
};

let api: FakeApi;
let baseUrl: string;
let dir: string;
let logs: string[];
const running: DemoComponent[] = [];

function demo(token: string | undefined = adminToken): DemoComponent {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(...String(chunk).trim().split('\n'));
      done();
    },
  });
  const component = new DemoComponent({
    baseUrl: () => baseUrl,
    adminToken: () => token,
    logger: createLogger('info', sink),
    clock: systemClock,
    keyFile: join(dir, 'demo-agency-keys.json'),
    tickMs: 20,
    government: small,
  });
  running.push(component);
  return component;
}

beforeEach(async () => {
  api = new FakeApi();
  baseUrl = await api.listen();
  dir = await mkdtemp(join(tmpdir(), 'glasshouse-demo-'));
  logs = [];
});

afterEach(async () => {
  for (const component of running.splice(0)) await component.stop();
  await api.app.close();
  await rm(dir, { recursive: true, force: true });
});

describe('DemoComponent', () => {
  it('seeds the government once and streams telemetry as each agency', async () => {
    const first = demo();
    await first.start();
    await vi.waitFor(() => expect(new Set(api.events.map((e) => e.agency)).size).toBe(2), { timeout: 5_000 });
    expect(api.people.size).toBe(2);
    expect(api.modules.size).toBe(small.modules.length);
    expect([...api.modules.values()].every((m) => (m as { demo?: boolean }).demo === true)).toBe(true);
    expect(first.health()).toEqual({ state: 'ok', detail: 'streaming' });
    expect((await stat(join(dir, 'demo-agency-keys.json'))).mode & 0o777).toBe(0o600);
    await first.stop();

    // A restart on the same data: nothing is written again, the stored keys still work, ids are new.
    const writes = api.writes.length;
    const before = api.events.length;
    await demo().start();
    await vi.waitFor(() => expect(api.events.length).toBeGreaterThan(before + 10), { timeout: 5_000 });
    expect(api.writes.length).toBe(writes);
    expect(new Set(api.events.map((e) => e.eventId)).size).toBe(api.events.length);
  });

  it('reissues a key it lost: revokes the agency and creates it again', async () => {
    api.agencyKeys.set('housing-authority', 'gh_agency_housing-authority_lost');
    await demo().start();
    await vi.waitFor(() => expect(api.events.some((e) => e.agency === 'housing-authority')).toBe(true), {
      timeout: 5_000,
    });
    expect(api.writes).toContain('revoke:housing-authority');
    const keys = JSON.parse(await readFile(join(dir, 'demo-agency-keys.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(keys['housing-authority']).toBe(api.agencyKeys.get('housing-authority'));
  });

  it('logs a missing ingest endpoint once, and streams when it appears', async () => {
    api.ingestDeployed = false;
    const component = demo();
    await component.start();
    await vi.waitFor(() => expect(component.health().state).toBe('ok'), { timeout: 5_000 });
    await vi.waitFor(
      () => expect(logs.filter((l) => l.includes('is not available on this server yet')).length).toBe(1),
      { timeout: 5_000 },
    );
    const loggedSoFar = logs.length;
    api.ingestDeployed = true;
    await vi.waitFor(() => expect(api.events.length).toBeGreaterThan(0), { timeout: 5_000 });
    const missing = logs.filter((l) => l.includes('is not available on this server yet'));
    expect(missing).toHaveLength(1);
    expect(logs.length - loggedSoFar).toBeLessThan(10);
  });

  it('keeps failed batches and resends them with the same ids once ingest recovers', async () => {
    api.ingestStatus = 503;
    await demo().start();
    await vi.waitFor(
      () => expect(logs.some((l) => l.includes('ingest failed; keeping the batch'))).toBe(true),
      { timeout: 5_000 },
    );
    api.ingestStatus = 202;
    await vi.waitFor(() => expect(api.events.length).toBeGreaterThan(20), { timeout: 5_000 });
    const ticks = api.events
      .filter((e) => e.agency === 'city-transit')
      .map((e) => Number(e.eventId.split(':').at(-1)!.split('.')[0]));
    expect(Math.min(...ticks)).toBe(1);
  });

  it('without an admin token it reports degraded health and never throws', async () => {
    const component = demo('');
    await component.start();
    await vi.waitFor(() => expect(component.health().state).toBe('degraded'), { timeout: 5_000 });
    expect(api.writes).toEqual([]);
    await component.stop();
    await component.stop();
  });

  it('waits for a refused admin token without failing, and stops promptly', async () => {
    const component = demo('wrong-token-wrong-token');
    await component.start();
    await vi.waitFor(
      () =>
        expect(component.health()).toEqual({
          state: 'degraded',
          detail: 'waiting for an accepted admin token',
        }),
      {
        timeout: 5_000,
      },
    );
    const began = Date.now();
    await component.stop();
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(logs.filter((l) => l.includes('refused the admin token'))).toHaveLength(1);
  });
});
