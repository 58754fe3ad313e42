/** One difference between two JSON values: where (dotted path, array items by index) and the two sides. */
export interface Difference {
  path: string;
  before: unknown;
  after: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Lists every leaf that differs between two JSON values. Absent and `undefined` are the same;
 * an array that changes length is reported as one difference at the array's path.
 */
export function diffValues(before: unknown, after: unknown, path = ''): Difference[] {
  if (Object.is(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length !== after.length) return [{ path: path || '(root)', before, after }];
    return before.flatMap((item, index) =>
      diffValues(item, after[index], path ? `${path}.${index}` : String(index)),
    );
  }
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diffValues(before[key], after[key], path ? `${path}.${key}` : key));
  }
  return [{ path: path || '(root)', before, after }];
}
