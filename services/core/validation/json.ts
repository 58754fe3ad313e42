/** A JSON text's parse outcome; on failure, where it went wrong (0-based offset, 1-based line and column). */
export type JsonParse =
  | { ok: true; value: unknown }
  | { ok: false; position: number; line: number; column: number; message: string };

/**
 * `JSON.parse` with a position on failure. V8's messages carry a position only sometimes, so on the
 * (cold) failure path a small iterative scanner finds the first offending character itself.
 */
export function parseJson(text: string): JsonParse {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    const position = jsonErrorPosition(text);
    const { line, column } = lineAndColumn(text, position);
    const found = position >= text.length ? 'end of input' : `character ${JSON.stringify(text[position])}`;
    return {
      ok: false,
      position,
      line,
      column,
      message: `unexpected ${found} at position ${position} (line ${line}, column ${column})`,
    };
  }
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < position; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: position - lineStart + 1 };
}

const whitespace = new Set([' ', '\t', '\n', '\r']);
const numberPattern = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const escapes = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/**
 * Offset of the first character that makes `text` invalid JSON (text.length when it ends early).
 * Iterative, so deep nesting cannot overflow the stack. Only called after JSON.parse failed.
 */
export function jsonErrorPosition(text: string): number {
  // Stack of containers: '[' or '{'. `expect` is what the grammar allows next.
  const stack: string[] = [];
  type Expect = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'commaOrClose' | 'end';
  let expect: Expect = 'value';
  let i = 0;
  const n = text.length;
  const afterValue = (): Expect => (stack.length === 0 ? 'end' : 'commaOrClose');
  while (i < n) {
    const c = text[i]!;
    if (whitespace.has(c)) {
      i++;
      continue;
    }
    switch (expect) {
      case 'end':
        return i;
      case 'colon':
        if (c !== ':') return i;
        i++;
        expect = 'value';
        continue;
      case 'commaOrClose': {
        const top = stack[stack.length - 1];
        if (c === ',') {
          i++;
          expect = top === '{' ? 'key' : 'value';
          continue;
        }
        if ((c === ']' && top === '[') || (c === '}' && top === '{')) {
          stack.pop();
          i++;
          expect = afterValue();
          continue;
        }
        return i;
      }
      case 'key':
      case 'keyOrClose':
        if (c === '}' && expect === 'keyOrClose') {
          stack.pop();
          i++;
          expect = afterValue();
          continue;
        }
        if (c !== '"') return i;
        {
          const end = scanString(text, i);
          if (end < 0) return -end - 1;
          i = end;
        }
        expect = 'colon';
        continue;
      case 'value':
      case 'valueOrClose': {
        if (c === ']' && expect === 'valueOrClose') {
          stack.pop();
          i++;
          expect = afterValue();
          continue;
        }
        if (c === '[' || c === '{') {
          stack.push(c);
          i++;
          expect = c === '[' ? 'valueOrClose' : 'keyOrClose';
          continue;
        }
        if (c === '"') {
          const end = scanString(text, i);
          if (end < 0) return -end - 1;
          i = end;
          expect = afterValue();
          continue;
        }
        for (const word of ['true', 'false', 'null']) {
          if (text.startsWith(word, i)) {
            i += word.length;
            expect = afterValue();
            break;
          }
        }
        if (expect !== 'value' && expect !== 'valueOrClose') continue;
        numberPattern.lastIndex = i;
        if (numberPattern.exec(text)) {
          i = numberPattern.lastIndex;
          expect = afterValue();
          continue;
        }
        return i;
      }
    }
  }
  // Ran out of text: fine only if a complete value was read (then JSON.parse would not have failed).
  return n;
}

/** Scans a string starting at its opening quote; returns the index after the closing quote, or -(errorIndex+1). */
function scanString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -(i + 1);
    if (c === 0x5c) {
      const e = text[i + 1];
      if (e === undefined) return -(text.length + 1);
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return -(i + 2 + 1);
        i += 6;
        continue;
      }
      if (!escapes.has(e)) return -(i + 1 + 1);
      i += 2;
      continue;
    }
    i++;
  }
  return -(text.length + 1);
}
