import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519Cosigner } from '../../services/core/audit/checkpoint.js';
import { ed25519Signer } from '../../services/core/audit/note.js';
import { loadConfig } from '../../services/runtime/config.js';
import { ConfigError } from '../../services/runtime/errors.js';

const day = 86_400_000;

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe('./data');
    expect(config.duckdbMemory).toBe('128MB');
    expect(config.duckdbThreads).toBe(1);
    expect(config.kafka).toBeUndefined();
    expect(config.clickhouse).toBeUndefined();
    expect(config.topicPrefix).toBe('');
    expect(config.ingest).toEqual({ ratePerSecond: 5_000, burst: 10_000 });
  });

  it('turns approvals on by default (7 days to approve, 72 h notice) and reads their variables', () => {
    expect(loadConfig({}).approvals).toEqual({ enabled: true, ttlMs: 7 * day, noticeMs: 72 * 3_600_000 });
    expect(
      loadConfig({
        GLASSHOUSE_APPROVALS: '0',
        GLASSHOUSE_PROPOSAL_TTL: '2d',
        GLASSHOUSE_NOTICE_PERIOD: '30m',
      }).approvals,
    ).toEqual({ enabled: false, ttlMs: 2 * day, noticeMs: 30 * 60_000 });
    expect(() => loadConfig({ GLASSHOUSE_APPROVALS: 'yes', GLASSHOUSE_NOTICE_PERIOD: 'soon' })).toThrow(
      /GLASSHOUSE_APPROVALS: must be 0 or 1.*GLASSHOUSE_NOTICE_PERIOD: must be a duration/,
    );
  });

  it('parses the distributed endpoints', () => {
    const config = loadConfig({
      GLASSHOUSE_KAFKA_BROKERS: '127.0.0.1:9092, kafka-2:9093',
      GLASSHOUSE_CLICKHOUSE_URL: 'http://127.0.0.1:8123',
      GLASSHOUSE_TOPIC_PREFIX: 'staging.',
    });
    expect(config.kafka?.brokers).toEqual(['127.0.0.1:9092', 'kafka-2:9093']);
    expect(config.clickhouse).toEqual({ url: 'http://127.0.0.1:8123', database: 'glasshouse' });
    expect(config.topicPrefix).toBe('staging.');
  });

  it('lets CLI flags override the environment', () => {
    const config = loadConfig(
      { GLASSHOUSE_PORT: '9000' },
      { port: 9100, role: 'ingest', demo: true, dataDir: '/tmp/x' },
    );
    expect(config).toMatchObject({ port: 9100, role: 'ingest', demo: true, dataDir: '/tmp/x' });
  });

  it.each([
    ['GLASSHOUSE_PORT', 'abc', /GLASSHOUSE_PORT: must be a whole number/],
    ['GLASSHOUSE_PORT', '70000', /GLASSHOUSE_PORT: must be at most 65535/],
    ['GLASSHOUSE_KAFKA_BROKERS', 'no-port', /GLASSHOUSE_KAFKA_BROKERS.*host:port/],
    ['GLASSHOUSE_DUCKDB_MEMORY', '80%', /GLASSHOUSE_DUCKDB_MEMORY: must be a size such as 512MB/],
    ['GLASSHOUSE_DUCKDB_THREADS', '0', /GLASSHOUSE_DUCKDB_THREADS: must be at least 1/],
    ['GLASSHOUSE_CLICKHOUSE_URL', 'ftp://x', /GLASSHOUSE_CLICKHOUSE_URL/],
    ['GLASSHOUSE_ADMIN_TOKEN', 'short', /GLASSHOUSE_ADMIN_TOKEN: must be at least 16 characters/],
    ['GLASSHOUSE_LOG_LEVEL', 'loud', /GLASSHOUSE_LOG_LEVEL/],
    ['GLASSHOUSE_INGEST_RATE', '0', /GLASSHOUSE_INGEST_RATE: must be at least 1/],
    ['GLASSHOUSE_RETENTION_RAW_EVENTS', '400', /GLASSHOUSE_RETENTION_RAW_EVENTS: must be a number of days/],
    ['GLASSHOUSE_RETENTION_RAW_EVENTS', '1y', /GLASSHOUSE_RETENTION_RAW_EVENTS: must be a number of days/],
    ['GLASSHOUSE_RETENTION_RAW_EVENTS', '7d', /GLASSHOUSE_RETENTION_RAW_EVENTS: must be at least 8d/],
    ['GLASSHOUSE_RETENTION_UPDATES', 'never', /GLASSHOUSE_RETENTION_UPDATES: must be a number of days/],
    ['GLASSHOUSE_RETENTION_ROLLUPS', '400d', /GLASSHOUSE_RETENTION_ROLLUPS: must be at least 739d/],
    ['GLASSHOUSE_RETENTION_ALERTS', '36501d', /GLASSHOUSE_RETENTION_ALERTS: must be at most 36500d/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrowError(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrowError(message);
  });

  it('keeps raw events and updates 400 days and rollups and alerts forever by default', () => {
    expect(loadConfig({}).retentionMs).toEqual({
      metric_events: 400 * day,
      performance_updates: 400 * day,
      rollups: undefined,
      alerts: undefined,
    });
  });

  it('parses retentions in days, or forever', () => {
    const config = loadConfig({
      GLASSHOUSE_RETENTION_RAW_EVENTS: '30d',
      GLASSHOUSE_RETENTION_UPDATES: 'forever',
      GLASSHOUSE_RETENTION_ROLLUPS: '800d',
      GLASSHOUSE_RETENTION_ALERTS: '90d',
    });
    expect(config.retentionMs).toEqual({
      metric_events: 30 * day,
      performance_updates: undefined,
      rollups: 800 * day,
      alerts: 90 * day,
    });
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ GLASSHOUSE_PORT: 'x', GLASSHOUSE_LOG_LEVEL: 'y' })).toThrowError(
      /GLASSHOUSE_PORT.*GLASSHOUSE_LOG_LEVEL|GLASSHOUSE_LOG_LEVEL.*GLASSHOUSE_PORT/,
    );
  });

  it('ignores variables outside its namespace', () => {
    expect(loadConfig({ PORT: 'abc', HOME: '/root' }).port).toBe(8080);
  });

  it('reads the audit log origin, key file and witnesses, and names a bad witness and why', () => {
    const cosigner = ed25519Cosigner('w1', generateKeyPairSync('ed25519').privateKey).key.text;
    const logKey = ed25519Signer('log', generateKeyPairSync('ed25519').privateKey).key.text;
    expect(loadConfig({}).auditLog).toEqual({
      origin: 'glasshouse.local/audit',
      keyFile: undefined,
      witnesses: [],
    });
    const config = loadConfig({
      GLASSHOUSE_LOG_ORIGIN: 'audit.example.gov/log',
      GLASSHOUSE_LOG_KEY_FILE: '/etc/glasshouse/log.pem',
      GLASSHOUSE_WITNESSES: ` http://127.0.0.1:9444/ ${cosigner} , https://w.example ${cosigner}`,
    });
    expect(config.auditLog.origin).toBe('audit.example.gov/log');
    expect(config.auditLog.keyFile).toBe('/etc/glasshouse/log.pem');
    expect(config.auditLog.witnesses.map((w) => [w.url, w.key.text])).toEqual([
      ['http://127.0.0.1:9444', cosigner],
      ['https://w.example', cosigner],
    ]);
    for (const [value, reason] of [
      ['http://127.0.0.1:9444', 'must be "<url> <verifier key>"'],
      [`ftp://w.example ${cosigner}`, 'the url must be http(s)'],
      [`http://w.example ${logKey}`, 'must be a cosignature (type 0x04) key'],
      ['http://w.example w+00000000+AAAA', 'the key is not base64 of a type byte and 32 bytes'],
    ] as const)
      expect(() => loadConfig({ GLASSHOUSE_WITNESSES: value })).toThrowError(
        new RegExp(`GLASSHOUSE_WITNESSES: witness 1: .*${reason.replace(/[()]/g, '\\$&')}`),
      );
    expect(() => loadConfig({ GLASSHOUSE_LOG_ORIGIN: 'has space' })).toThrowError(/GLASSHOUSE_LOG_ORIGIN/);
  });
});
