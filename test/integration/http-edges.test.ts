import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Deployment, standalone } from '../e2e/setups.js';

/** Sends raw bytes on a fresh connection and resolves with everything the server wrote before closing. */
function raw(port: number, bytes: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(answer)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(bytes);
  });
}

/** Status and parsed JSON body of a raw HTTP answer. */
function parse(answer: string): { status: number; contentType: string | undefined; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const contentType = /\r\ncontent-type: *([^\r]+)/i.exec(head)?.[1];
  return { status, contentType, body: body ? JSON.parse(body) : undefined };
}

const envelope = (code: string) => ({ error: { code, message: expect.any(String) } });

describe('answers given before a request reaches a route, on the standalone server', () => {
  let d: Deployment;
  let port: number;
  beforeAll(async () => {
    d = await standalone();
    port = Number(new URL(d.apiUrl).port);
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('answers 431 for oversized headers in the error envelope', async () => {
    const answer = parse(
      await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
    );
    expect(answer).toEqual({
      status: 431,
      contentType: expect.stringContaining('application/json'),
      body: envelope('headers_too_large'),
    });
  });

  it('answers 408 for headers that never finish in the error envelope', async () => {
    const answer = parse(await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    expect(answer).toEqual({
      status: 408,
      contentType: expect.stringContaining('application/json'),
      body: envelope('request_timeout'),
    });
  });

  it('answers 400 for a malformed request line, a URL that does not decode and a bad WebSocket handshake in the error envelope', async () => {
    expect(parse(await raw(port, 'GARBAGE\r\n\r\n'))).toMatchObject({
      status: 400,
      body: envelope('malformed_request'),
    });
    const badUrl = await fetch(`${d.apiUrl}%zz`);
    expect(badUrl.status).toBe(400);
    expect(await badUrl.json()).toEqual(envelope('malformed_url'));
    const handshake = parse(
      await raw(
        port,
        'GET /v1/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      ),
    );
    expect(handshake).toMatchObject({ status: 400, body: envelope('bad_handshake') });
  });

  it('shows each part of /readyz by name and state only', async () => {
    const ready = await fetch(`${d.apiUrl}readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; parts: Array<Record<string, string>> };
    expect(body.status).toBe('ready');
    expect(body.parts.length).toBeGreaterThan(3);
    for (const part of body.parts) expect(Object.keys(part).sort()).toEqual(['name', 'state']);
  });
});
