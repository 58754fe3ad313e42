import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { resolveTestServices } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    clickhouseUrl: string;
  }
}

/** Starts (or finds) Kafka and ClickHouse once per run and hands their endpoints to every test file. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await resolveTestServices();
  project.provide('kafkaBrokers', services.kafkaBrokers);
  project.provide('clickhouseUrl', services.clickhouseUrl);
  return () => services.stop();
}
