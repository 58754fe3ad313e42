import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { exampleGoal } from '../support/examples.js';
import { call, eventually, expectCall } from '../support/http-client.js';
import { killLeftovers, runGlasshouse } from '../support/process.js';

const adminToken = `admin-${randomBytes(12).toString('hex')}`;
const suffix = randomBytes(3).toString('hex');

afterAll(killLeftovers);

describe('two api processes on one Kafka and ClickHouse', () => {
  it('write concurrently through one sequencer: versions without gaps, one unbroken audit chain', async () => {
    const env = {
      GLASSHOUSE_KAFKA_BROKERS: inject('kafkaBrokers'),
      GLASSHOUSE_CLICKHOUSE_URL: inject('clickhouseUrl'),
      GLASSHOUSE_CLICKHOUSE_DATABASE: `audit_two_${suffix}`,
      GLASSHOUSE_TOPIC_PREFIX: `audit-two-${suffix}`,
      GLASSHOUSE_ADMIN_TOKEN: adminToken,
      // Direct edits, as a single-admin deployment makes them (the approved path is the next test).
      GLASSHOUSE_APPROVALS: '0',
    };
    const processes = [0, 1].map(() => runGlasshouse(['start', '--role', 'api', '--port', '0'], env));
    const urls = (await Promise.all(processes.map((p) => p.ready(90_000)))).map(
      (port) => `http://127.0.0.1:${port}`,
    );
    const [a, b] = urls as [string, string];
    await expectCall(a, 'PUT', '/v1/sociotechnicians/ada', 200, {
      token: adminToken,
      body: { name: 'Ada Lovelace' },
    });
    const module = (target: number) => ({
      id: 'bus-punctuality',
      domain: 'transit',
      title: 'Bus punctuality',
      owner: 'ada',
      goals: [exampleGoal({ target })],
      rationale: `target ${target}`,
    });
    // The second process may not have seen the sociotechnician yet; its first write must still chain.
    const writes = Array.from({ length: 12 }, (_, i) =>
      call(i % 2 === 0 ? a : b, 'PUT', '/v1/modules/bus-punctuality', {
        token: adminToken,
        body: module(80 + i),
        timeoutMs: 30_000,
      }),
    );
    const answers = await Promise.all(writes);
    expect(answers.map((r) => r.status)).toEqual(Array(12).fill(200));
    const versions = answers.map((r) => r.body.version as number).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));

    for (const url of urls) {
      const verify = await expectCall(url, 'GET', '/v1/audit/verify', 200);
      expect(verify).toMatchObject({ valid: true, length: 13 });
    }
    const audit = await expectCall(b, 'GET', '/v1/audit?limit=100', 200);
    const seqs = audit.items.map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    for (let i = 1; i < audit.items.length; i++) {
      expect(audit.items[i].prevHash).toBe(audit.items[i - 1].hash);
    }
    for (const p of processes) p.child.kill('SIGTERM');
    expect(await Promise.all(processes.map((p) => p.exited()))).toEqual([0, 0]);
  });
});

describe('two api processes with approvals on', () => {
  it('concurrent approvals of one proposal on both processes approve it once and apply it once', async () => {
    const suffix2 = randomBytes(3).toString('hex');
    const env = {
      GLASSHOUSE_KAFKA_BROKERS: inject('kafkaBrokers'),
      GLASSHOUSE_CLICKHOUSE_URL: inject('clickhouseUrl'),
      GLASSHOUSE_CLICKHOUSE_DATABASE: `approvals_two_${suffix2}`,
      GLASSHOUSE_TOPIC_PREFIX: `approvals-two-${suffix2}`,
      GLASSHOUSE_ADMIN_TOKEN: adminToken,
      GLASSHOUSE_NOTICE_PERIOD: '2s',
    };
    const processes = [0, 1].map(() => runGlasshouse(['start', '--role', 'api', '--port', '0'], env));
    const [a, b] = (await Promise.all(processes.map((p) => p.ready(90_000)))).map(
      (port) => `http://127.0.0.1:${port}`,
    ) as [string, string];
    await expectCall(a, 'PUT', '/v1/sociotechnicians/ada', 200, { token: adminToken, body: { name: 'Ada' } });
    const tokens: Record<string, string> = {};
    for (const id of ['carol', 'dan', 'erin'])
      tokens[id] = (
        await expectCall(a, 'POST', '/v1/admins', 201, { token: adminToken, body: { id, name: id } })
      ).token;
    const module = (target: number) => ({
      id: 'bus-punctuality',
      domain: 'transit',
      title: 'Bus punctuality',
      owner: 'ada',
      goals: [exampleGoal({ target })],
      rationale: `target ${target}`,
    });
    await expectCall(a, 'PUT', '/v1/modules/bus-punctuality', 200, { token: adminToken, body: module(90) });
    const proposal = await expectCall(b, 'POST', '/v1/modules/bus-punctuality/proposals', 201, {
      token: tokens.carol,
      body: module(95),
    });
    const answers = await Promise.all(
      (
        [
          [a, 'dan'],
          [b, 'erin'],
        ] as const
      ).map(([url, who]) =>
        call(url, 'POST', `/v1/proposals/${proposal.id}/approvals`, {
          token: tokens[who],
          body: { contentHash: proposal.contentHash },
          timeoutMs: 30_000,
        }),
      ),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    // Both processes' proposal clocks submit the application once the 2 s notice is over.
    for (const url of [a, b])
      await eventually(
        async () => {
          const body = (await call(url, 'GET', '/v1/modules/bus-punctuality')).body;
          return body?.version === 2 && body.pendingChanges.length === 0 ? body : undefined;
        },
        30_000,
        () => `version 2 applied on ${url}`,
      );
    const audit = await expectCall(a, 'GET', '/v1/audit?limit=100', 200);
    const actions = audit.items.map((entry: { action: string }) => entry.action);
    expect(actions.filter((action: string) => action === 'proposal.applied')).toHaveLength(1);
    expect(actions.filter((action: string) => action === 'proposal.approved')).toHaveLength(1);
    for (const url of [a, b])
      expect(await expectCall(url, 'GET', '/v1/audit/verify', 200)).toMatchObject({ valid: true });
    const versions = await expectCall(b, 'GET', '/v1/modules/bus-punctuality?version=2', 200);
    expect(versions).toMatchObject({ proposalId: proposal.id, goals: [{ target: 95 }] });
    for (const p of processes) p.child.kill('SIGTERM');
    expect(await Promise.all(processes.map((p) => p.exited()))).toEqual([0, 0]);
  });
});
