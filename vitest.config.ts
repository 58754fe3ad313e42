import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, no services, fast) and `integration` (real Kafka, ClickHouse,
// sockets and Chromium; the services are started once per run by the global setup).
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/contract/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/browser/**/*.test.ts',
          ],
          environment: 'node',
          globalSetup: ['./test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores: files run one at a time so brokers, servers and browsers do not starve each other.
          fileParallelism: false,
        },
      },
    ],
  },
});
