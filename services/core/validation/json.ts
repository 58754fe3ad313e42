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
        const literal = c === 't' ? 'true' : c === 'f' ? 'false' : c === 'n' ? 'null' : undefined;
        if (literal) {
          for (let k = 1; k < literal.length; k++) if (text[i + k] !== literal[k]) return i + k;
          i += literal.length;
          expect = afterValue();
          continue;
        }
        if (c === '-' || (c >= '0' && c <= '9')) {
          const end = scanNumber(text, i);
          if (end < 0) return -end - 1;
          i = end;
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
        for (let k = i + 2; k < i + 6; k++)
          if (!isHex(text.charCodeAt(k))) return -(Math.min(k, text.length) + 1);
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

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Scans a number; returns the index after it, or -(errorIndex+1) where the grammar breaks (as V8 reports it). */
function scanNumber(text: string, start: number): number {
  let i = start;
  if (text.charCodeAt(i) === 0x2d) i++;
  if (!isDigit(text.charCodeAt(i))) return -(i + 1);
  if (text.charCodeAt(i) === 0x30) i++;
  else while (isDigit(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === 0x2e) {
    i++;
    if (!isDigit(text.charCodeAt(i))) return -(i + 1);
    while (isDigit(text.charCodeAt(i))) i++;
  }
  if (text.charCodeAt(i) === 0x65 || text.charCodeAt(i) === 0x45) {
    i++;
    if (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d) i++;
    if (!isDigit(text.charCodeAt(i))) return -(i + 1);
    while (isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}
