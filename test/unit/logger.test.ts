import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../services/runtime/logger.js';

function written(isTTY: boolean): string {
  const out = new PassThrough();
  Object.assign(out, { isTTY });
  let text = '';
  out.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  createLogger('info', out).child({ component: 'http' }).info({ port: 8080 }, 'listening');
  return text;
}

describe('the root logger', () => {
  it('writes one JSON object per line to a pipe or a file', () => {
    const text = written(false);
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text)).toMatchObject({
      level: 30,
      service: 'glasshouse',
      component: 'http',
      port: 8080,
      msg: 'listening',
    });
  });

  it('writes readable lines, not JSON, to a terminal', () => {
    const text = written(true);
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] .*INFO.*: .*listening/);
    expect(text).toContain('component');
    expect(text).toContain('8080');
  });
});
