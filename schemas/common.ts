import { z } from 'zod';

/** Lowercase identifier used for module, goal, metric, domain, owner and agency ids. */
export const Slug = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    'must be 1-64 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  );
export type Slug = z.infer<typeof Slug>;

const durationUnits = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const durationPattern = /^(\d{1,9})(ms|s|m|h|d)$/;

/** Parses `<n>(ms|s|m|h|d)` into milliseconds; returns undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * durationUnits[match[2] as keyof typeof durationUnits];
}

/** Formats milliseconds as the largest exact unit (90000 → "90s", 3600000 → "1h"). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % durationUnits[unit] === 0 && ms >= durationUnits[unit])
      return `${ms / durationUnits[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration string such as `10s`, `5m`, `24h`, `7d`; at most 366 days. */
export const Duration = z
  .string()
  .regex(
    durationPattern,
    'must be a duration like 500ms, 10s, 5m, 1h or 7d (a non-negative whole number and a unit)',
  )
  .refine(
    (text) => (parseDuration(text) ?? Number.POSITIVE_INFINITY) <= 366 * durationUnits.d,
    'must be at most 366d',
  );
export type Duration = z.infer<typeof Duration>;

/** A duration that must be greater than zero (windows). */
export const PositiveDuration = Duration.refine(
  (text) => (parseDuration(text) ?? 0) > 0,
  'must be greater than 0',
);

/** RFC 3339 timestamp with an explicit offset, as every answer carries it. */
export const Timestamp = z.iso.datetime({ offset: true });

// Epoch ms between 1970 and 2200: catches seconds-vs-ms mistakes in one direction and absurd values in the other.
const maxEpochMs = 7_258_118_400_000;

/** A point in time as agencies may send it: RFC 3339 text or epoch milliseconds. Parses to epoch ms. */
export const TimeInput = z.union([
  z
    .number()
    .min(0, 'must be epoch milliseconds after 1970')
    .max(maxEpochMs, 'must be epoch milliseconds before 2200')
    .refine(Number.isInteger, 'must be whole epoch milliseconds'),
  // The same range for text: "0001-01-01T00:00:00Z" is well-formed RFC 3339 but no plausible observation.
  Timestamp.transform((text) => Date.parse(text)).pipe(
    z
      .number({ error: 'must be a valid time' })
      .min(0, 'must be a time at or after 1970-01-01T00:00:00Z')
      .max(maxEpochMs, 'must be a time at or before 2200-01-01T00:00:00Z'),
  ),
]);

/** Formats epoch ms as RFC 3339 in UTC. */
export function toTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** A finite JSON number (rejects NaN and ±Infinity, which JSON cannot carry but JS can). */
export const FiniteNumber = z.number().refine(Number.isFinite, 'must be a finite number');

/** The error envelope every HTTP answer uses. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** One validation problem: where (`path`, dotted, `events.3.value`) and why. */
export const IssueDetail = z.strictObject({ path: z.string(), message: z.string() });
export type IssueDetail = z.infer<typeof IssueDetail>;

/** Maps zod issues to `{path, message}` pairs a person can read. */
export function issueDetails(error: z.ZodError, prefix: ReadonlyArray<PropertyKey> = []): IssueDetail[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path].map(String).join('.') || '(root)',
    message: issue.message,
  }));
}

const loneSurrogate = /\p{Cs}/u;
const loneSurrogateMessage = 'must not contain a lone UTF-16 surrogate (\\ud800-\\udfff without its pair)';

/** Whether a string is well-formed UTF-16 (no lone surrogate, which UTF-8 and other languages cannot carry). */
export function isWellFormedText(text: string): boolean {
  return !loneSurrogate.test(text);
}

/**
 * Every string (key or value) in a parsed JSON value that holds a lone surrogate, as issues with
 * their paths. JSON text may escape one (`"\ud800"`); stored and hashed, it breaks other languages'
 * readers and audit verifiers, so the edges refuse it.
 */
export function loneSurrogateIssues(value: unknown, path: string[] = []): IssueDetail[] {
  const at = () => path.join('.') || '(root)';
  if (typeof value === 'string')
    return isWellFormedText(value) ? [] : [{ path: at(), message: loneSurrogateMessage }];
  if (typeof value !== 'object' || value === null) return [];
  const issues: IssueDetail[] = [];
  for (const [key, item] of Object.entries(value)) {
    if (!isWellFormedText(key))
      issues.push({ path: [...path, key].join('.'), message: `the key ${loneSurrogateMessage}` });
    issues.push(...loneSurrogateIssues(item, [...path, key]));
  }
  return issues;
}

/** A string that is well-formed UTF-16. */
export const WellFormedText = z.string().refine(isWellFormedText, loneSurrogateMessage);

/** A page of items with an opaque cursor for the next page. */
export function Page<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item), next: z.string().optional() });
}
