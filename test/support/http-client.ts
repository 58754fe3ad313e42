import { expect, vi } from 'vitest';

/** JSON answers, which each test inspects as it expects. */
// biome-ignore lint/suspicious/noExplicitAny: answers are JSON that each test inspects as it expects
type Json = any;

/** A JSON call to a Glasshouse HTTP API: the status and the parsed body (undefined when not JSON). */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: Json }> {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

/** Calls and insists on one status, failing with the answer otherwise. */
export async function expectCall(
  baseUrl: string,
  method: string,
  path: string,
  status: number,
  options: { token?: string; body?: unknown } = {},
): Promise<Json> {
  const answer = await call(baseUrl, method, path, options);
  if (answer.status !== status) {
    throw new Error(
      `${method} ${path}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`,
    );
  }
  return answer.body;
}

/** Waits until `probe` returns a value other than undefined (a probe that throws counts as none); fails with `describe()` after the timeout. */
export function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe().catch(() => undefined);
      if (value === undefined) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
      return value;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

/**
 * Registers an owner, a reporting agency and one module through the admin API (the module's goals
 * and constraints are the caller's). Returns the agency's key.
 */
export async function seedModule(
  baseUrl: string,
  adminToken: string,
  module: { id: string; owner: string; agency: string; [field: string]: unknown },
): Promise<string> {
  const { id, owner, agency, ...rest } = module;
  await expectCall(baseUrl, 'PUT', `/v1/sociotechnicians/${owner}`, 200, {
    token: adminToken,
    body: { name: `Owner ${owner}`, title: 'Programme lead' },
  });
  const created = await expectCall(baseUrl, 'POST', '/v1/agencies', 201, {
    token: adminToken,
    body: { id: agency, name: `Agency ${agency}` },
  });
  await expectCall(baseUrl, 'PUT', `/v1/modules/${id}`, 200, {
    token: adminToken,
    body: {
      id,
      owner,
      agencies: [agency],
      domain: 'testing',
      title: `Module ${id}`,
      summary: 'A module created by a test.',
      constraints: [],
      rationale: 'test setup',
      ...rest,
    },
  });
  return created.key as string;
}

/**
 * Posts batches to ingest back to back until stopped: `next` makes each batch, `accepted` hears each
 * batch answered 202 (none of its events rejected). A connection error (the process was killed) or
 * another status is expected under fault tests: the loop just goes on with the next batch.
 */
export function postUntilStopped<E>(
  baseUrl: string,
  key: string,
  next: () => E[],
  accepted: (events: E[]) => void,
): { answered(): number; stop(): Promise<void> } {
  let stopped = false;
  let answered = 0;
  const loop = (async () => {
    while (!stopped) {
      const events = next();
      let answer: Awaited<ReturnType<typeof call>>;
      try {
        answer = await call(baseUrl, 'POST', '/v1/metrics', {
          token: key,
          body: { events },
          timeoutMs: 5_000,
        });
      } catch {
        continue;
      }
      if (answer.status !== 202) continue;
      expect(answer.body.rejected).toEqual([]);
      accepted(events);
      answered++;
    }
  })();
  return {
    answered: () => answered,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
