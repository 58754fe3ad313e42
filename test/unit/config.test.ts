import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/runtime/config.js';
import { ConfigError } from '../../services/runtime/errors.js';

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe('./data');
    expect(config.kafka).toBeUndefined();
    expect(config.clickhouse).toBeUndefined();
    expect(config.topicPrefix).toBe('');
    expect(config.ingest).toEqual({ ratePerSecond: 5_000, burst: 10_000 });
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
    ['GLASSHOUSE_CLICKHOUSE_URL', 'ftp://x', /GLASSHOUSE_CLICKHOUSE_URL/],
    ['GLASSHOUSE_ADMIN_TOKEN', 'short', /GLASSHOUSE_ADMIN_TOKEN: must be at least 16 characters/],
    ['GLASSHOUSE_LOG_LEVEL', 'loud', /GLASSHOUSE_LOG_LEVEL/],
    ['GLASSHOUSE_INGEST_RATE', '0', /GLASSHOUSE_INGEST_RATE: must be at least 1/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrowError(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrowError(message);
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ GLASSHOUSE_PORT: 'x', GLASSHOUSE_LOG_LEVEL: 'y' })).toThrowError(
      /GLASSHOUSE_PORT.*GLASSHOUSE_LOG_LEVEL|GLASSHOUSE_LOG_LEVEL.*GLASSHOUSE_PORT/,
    );
  });

  it('ignores variables outside its namespace', () => {
    expect(loadConfig({ PORT: 'abc', HOME: '/root' }).port).toBe(8080);
  });
});
