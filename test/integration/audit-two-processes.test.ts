import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { exampleGoal } from '../support/examples.js';
import { call, expectCall } from '../support/http-client.js';
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
