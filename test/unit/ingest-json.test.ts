import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonErrorPosition, parseJson } from '../../services/core/validation/index.js';
import { eventsFromJson, eventsFromNdjson } from '../../services/ingest/body.js';
import type { GlasshouseError } from '../../services/runtime/errors.js';

describe('parseJson', () => {
  it.each([
    ['{"a":x}', 5],
    ['{"a":1', 6],
    ['[1,]', 3],
    ['{"a" 1}', 5],
    ['', 0],
    ['{"a":"b\u0001"}', 7],
    ['{"a":"\\q"}', 7],
    ['[1] 2', 4],
    ['nul', 3],
    ['{"a":tru}', 8],
    ['["\\u12g4"]', 6],
    ['[-]', 2],
    ['{"a":1,}', 7],
  ])('places the error in %j at %i', (text, position) => {
    const parsed = parseJson(text);
    expect(parsed).toMatchObject({ ok: false, position });
  });

  it('gives line and column', () => {
    expect(parseJson('{\n  "a": 1,\n  "b": ]\n}')).toMatchObject({ ok: false, line: 3, column: 8 });
  });

  it('handles deep nesting without recursion', () => {
    const deep = '['.repeat(500_000);
    expect(parseJson(deep)).toMatchObject({ ok: false, position: 500_000 });
  });

  // Where V8 names a position itself, the scanner must agree with it.
  it('agrees with V8 wherever V8 reports a position (property)', () => {
    const mutated = fc
      .tuple(
        fc.json({ maxDepth: 3 }),
        fc.nat(),
        fc.constantFrom('', ',', '}', ']', ':', '"', 'x', '\\', '{', '['),
      )
      .map(([text, at, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + (insert ? 0 : 1));
      });
    fc.assert(
      fc.property(mutated, (text) => {
        let v8: number | undefined;
        try {
          JSON.parse(text);
          return;
        } catch (err) {
          const m = / at position (\d+)/.exec((err as Error).message);
          v8 = m ? Number(m[1]) : undefined;
        }
        const ours = jsonErrorPosition(text);
        expect(ours).toBeGreaterThanOrEqual(0);
        expect(ours).toBeLessThanOrEqual(text.length);
        if (v8 !== undefined) expect(ours).toBe(v8);
      }),
      { numRuns: 5_000 },
    );
  });
});

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return {
      code: (err as GlasshouseError).code,
      status: (err as GlasshouseError).status,
      details: (err as GlasshouseError).details,
    };
  }
  return undefined;
};

describe('ingest bodies', () => {
  it('takes the events out of a JSON envelope', () => {
    expect(eventsFromJson('{"events":[{"a":1},2]}')).toEqual([{ a: 1 }, 2]);
  });
  it.each([
    ['{"events":[]}'],
    ['{"events":{}}'],
    ['[]'],
    ['{"events":[1],"more":1}'],
    ['1e400'],
    ['"NaN"'],
    [`{"events":[${Array.from({ length: 1001 }, () => '1').join(',')}]}`],
  ])('refuses the envelope %s', (text) => {
    expect(codeOf(() => eventsFromJson(text.slice(0, 200)))).toMatchObject({ status: 400 });
  });
  it('names the position of malformed JSON', () => {
    expect(codeOf(() => eventsFromJson('{"events":[1,}'))).toMatchObject({
      code: 'malformed_body',
      details: { position: 13 },
    });
  });
  it('reads NDJSON, skipping blank lines and CRLF', () => {
    expect(eventsFromNdjson('{"a":1}\r\n\n{"a":2}\n')).toEqual([{ a: 1 }, { a: 2 }]);
  });
  it('names the NDJSON line that is not JSON', () => {
    expect(codeOf(() => eventsFromNdjson('{"a":1}\n\n{"a":\n'))).toMatchObject({
      code: 'malformed_body',
      details: { line: 3 },
    });
  });
  it('limits NDJSON to 1000 events and refuses an empty body', () => {
    expect(codeOf(() => eventsFromNdjson('1\n'.repeat(1001)))).toMatchObject({
      status: 400,
      code: 'too_many_events',
    });
    expect(codeOf(() => eventsFromNdjson('\n \n'))).toMatchObject({ status: 400 });
  });
});
