import { describe, expect, it } from 'vitest';
import { backoffMs, worthLogging } from '../../services/demo/caller.js';
import { classify, localBaseUrl } from '../../services/demo/client.js';

describe('classify', () => {
  it('tells a missing route from a missing resource', () => {
    expect(
      classify(404, { error: { code: 'not_found', message: 'no route for GET /v1/modules/x' } }).kind,
    ).toBe('no_route');
    expect(classify(404, undefined).kind).toBe('no_route');
    expect(classify(404, { error: { code: 'module_not_found', message: 'no module "x"' } }).kind).toBe(
      'not_found',
    );
    expect(classify(404, { error: { code: 'not_found', message: 'no module "x"' } }).kind).toBe('not_found');
  });

  it('retries rate limits and server trouble, honouring Retry-After', () => {
    expect(classify(429, { error: { code: 'rate_limited', message: '' } }, '3')).toEqual({
      kind: 'retry',
      status: 429,
      reason: '429 rate_limited',
      afterMs: 3_000,
    });
    expect(classify(503, undefined).kind).toBe('retry');
    expect(classify(500, undefined).kind).toBe('retry');
  });

  it('gives up on requests that are wrong as sent', () => {
    expect(classify(400, {}).kind).toBe('rejected');
    expect(classify(409, {}).kind).toBe('rejected');
    expect(classify(401, {}).kind).toBe('unauthorized');
    expect(classify(201, { a: 1 })).toEqual({ kind: 'ok', status: 201, body: { a: 1 } });
  });
});

describe('backoff', () => {
  it('doubles from ~250 ms, capped, with jitter in [50 %, 100 %]', () => {
    expect(backoffMs(1, 0)).toBe(125);
    expect(backoffMs(1, 1)).toBe(250);
    expect(backoffMs(3, 1)).toBe(1_000);
    expect(backoffMs(30, 1)).toBe(10_000);
    expect(backoffMs(30, 0)).toBe(5_000);
  });

  it('logs a persisting failure at exponentially spaced attempts', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 16].map(worthLogging)).toEqual([
      true,
      true,
      false,
      true,
      false,
      true,
      false,
      true,
    ]);
  });
});

describe('localBaseUrl', () => {
  it('reaches wildcard and IPv6 binds from the same machine', () => {
    expect(localBaseUrl('127.0.0.1', 8080)).toBe('http://127.0.0.1:8080/');
    expect(localBaseUrl('0.0.0.0', 1)).toBe('http://127.0.0.1:1/');
    expect(localBaseUrl('::', 2)).toBe('http://[::1]:2/');
    expect(localBaseUrl('::1', 3)).toBe('http://[::1]:3/');
  });
});
