import { z } from 'zod';
import { Duration, FiniteNumber, PositiveDuration, parseDuration, Slug, Timestamp } from './common.js';

export const Direction = z.enum(['increase', 'decrease', 'maintain']);
export type Direction = z.infer<typeof Direction>;

export const Aggregation = z.enum(['mean', 'sum', 'count', 'min', 'max', 'p50', 'p95', 'last', 'rate']);
export type Aggregation = z.infer<typeof Aggregation>;

const Text = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

/** A public goal: what the module promises, measured over a sliding window of event time. */
export const Goal = z.strictObject({
  id: Slug,
  metric: Slug,
  unit: z.string().max(32),
  direction: Direction,
  target: FiniteNumber,
  baseline: FiniteNumber.optional(),
  /** Fraction of the target (absolute when the target is 0) that still counts as "at risk". */
  tolerance: FiniteNumber.pipe(z.number().min(0, 'must be 0 or more')),
  window: PositiveDuration,
  aggregation: Aggregation,
  minSamples: z.number().int().min(1).max(1_000_000).default(1),
  /** How long (event time) a deviation must persist before it alerts. `0s` alerts at once. */
  hold: Duration.default('1m'),
  /** Horizon over which stagnation is judged; default 4 × window. */
  stagnationHorizon: PositiveDuration.optional(),
});
export type Goal = z.output<typeof Goal>;

/** A bound that must hold, such as cost per trip at most 12. */
export const Constraint = z.strictObject({
  id: Slug,
  metric: Slug,
  op: z.enum(['<=', '>=']),
  bound: FiniteNumber,
  window: PositiveDuration,
  aggregation: Aggregation,
  minSamples: z.number().int().min(1).max(1_000_000).default(1),
  hold: Duration.default('0s'),
});
export type Constraint = z.output<typeof Constraint>;

/** Where a dimension's values may appear: the raw export, protected breakdowns only, or nowhere. */
export const DimensionPublish = z.enum(['open', 'aggregate', 'never']);
export type DimensionPublish = z.infer<typeof DimensionPublish>;

export const dimensionNamePattern = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * A dimension events of the module may carry. `publish`: `open` values are in the raw export,
 * `aggregate` ones only in protected breakdowns, `never` ones are dropped at ingest and never stored.
 * `values` lists the values allowed; `pattern` a regular expression a value must match whole;
 * with neither, any value (at most 256 characters) is allowed.
 */
export const DimensionDeclaration = z
  .strictObject({
    name: z
      .string()
      .regex(
        dimensionNamePattern,
        'dimension names are 1-64 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"',
      ),
    description: Text(1000),
    values: z
      .array(z.string().max(256, 'dimension values are at most 256 characters'))
      .min(1, 'list at least one value, or leave "values" out')
      .max(1000, 'at most 1000 values')
      .optional(),
    pattern: z.string().min(1).max(500).optional(),
    publish: DimensionPublish,
  })
  .superRefine((d, ctx) => {
    if (['__proto__', 'constructor', 'prototype'].includes(d.name))
      ctx.addIssue({ code: 'custom', path: ['name'], message: `"${d.name}" is reserved` });
    if (d.pattern !== undefined) {
      try {
        new RegExp(d.pattern, 'u');
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['pattern'],
          message: `not a regular expression: ${(err as Error).message}`,
        });
      }
    }
    if (d.values && new Set(d.values).size !== d.values.length)
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'values must be distinct' });
  });
export type DimensionDeclaration = z.infer<typeof DimensionDeclaration>;
export type DimensionDeclarationInput = z.input<typeof DimensionDeclaration>;

/** Statistical disclosure control of the module's breakdowns (services/core/disclosure/protect.ts). */
export const DisclosureSettings = z.strictObject({
  /** Counts above zero and below this are suppressed. At least 3: a count of 1 or 2 singles people out. */
  minCell: z.number().int().min(3, 'must be at least 3').max(1000).default(10),
  /** Shown counts are rounded to a multiple of this (1: not rounded). */
  base: z.number().int().min(1).max(100).default(5),
});
export type DisclosureSettings = z.output<typeof DisclosureSettings>;

/**
 * One OpenTelemetry metric a module takes over OTLP (`POST /v1/otlp/v1/metrics`): data points of
 * `otelMetric` whose attributes include every pair of `attributes` become events of `metric`; the
 * point attributes named in `dimensions` (each a dimension the module declares) become the event's
 * dimensions; the rest are not kept.
 */
export const OtlpMapping = z.strictObject({
  otelMetric: z.string().min(1).max(255),
  attributes: z
    .record(z.string().min(1).max(255), z.string().max(256))
    .refine((a) => Object.keys(a).length <= 16, 'at most 16 attributes')
    .optional(),
  metric: Slug,
  dimensions: z
    .array(
      z
        .string()
        .regex(
          dimensionNamePattern,
          'attribute names kept as dimensions are 1-64 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"',
        ),
    )
    .max(16)
    .optional(),
});
export type OtlpMapping = z.infer<typeof OtlpMapping>;

const moduleFields = {
  id: Slug,
  domain: Slug,
  title: Text(200),
  summary: z.string().max(4000).default(''),
  owner: Slug,
  agencies: z.array(Slug).max(100).default([]),
  goals: z.array(Goal).min(1, 'a module needs at least one goal').max(50),
  constraints: z.array(Constraint).max(50).default([]),
  comparisonGroup: Slug.optional(),
  maxSilence: PositiveDuration.optional(),
  allowedLateness: Duration.default('30s'),
  /**
   * How far in the future (by the receiver's clock) an event's observedAt may be; later ones are
   * rejected with the reason. Default 60s, at most 1h. See the methodology page.
   */
  maxFuture: PositiveDuration.optional(),
  /**
   * A correction of an event observed longer ago than this is held until a named admin approves it
   * (`GET /v1/corrections`). Default 30d.
   */
  correctionWindow: PositiveDuration.optional(),
  status: z.enum(['active', 'retired']).default('active'),
  /**
   * How long an approved change of this module is public before it takes effect; the deployment's
   * `GLASSHOUSE_NOTICE_PERIOD` (default 72h) applies when it is longer.
   */
  noticePeriod: PositiveDuration.optional(),
  /** The OpenTelemetry metrics this module takes over OTLP, and the module metric each becomes. */
  otlp: z.array(OtlpMapping).max(50).optional(),
  /** Marks seeded demonstration data, shown as such wherever the module appears. */
  demo: z.boolean().optional(),
  /** The dimensions its events may carry; none when absent. */
  dimensions: z.array(DimensionDeclaration).max(16, 'at most 16 dimensions').optional(),
  /** Disclosure control of its breakdowns; minCell 10 and base 5 when absent. */
  disclosure: DisclosureSettings.optional(),
};

function checkRuleIds(
  module: {
    goals: Array<{ id: string; metric: string }>;
    constraints: Array<{ id: string; metric: string }>;
    allowedLateness: string;
    maxFuture?: string | undefined;
    dimensions?: Array<{ name: string }> | undefined;
    otlp?: Array<{ metric: string; dimensions?: string[] | undefined }> | undefined;
  },
  ctx: z.RefinementCtx,
) {
  const names = new Set<string>();
  module.dimensions?.forEach((d, index) => {
    if (names.has(d.name))
      ctx.addIssue({
        code: 'custom',
        path: ['dimensions', index, 'name'],
        message: `duplicate dimension "${d.name}"`,
      });
    names.add(d.name);
  });
  const seen = new Map<string, string>();
  for (const [list, rules] of [
    ['goals', module.goals],
    ['constraints', module.constraints],
  ] as const) {
    rules.forEach((rule, index) => {
      const earlier = seen.get(rule.id);
      if (earlier) {
        ctx.addIssue({
          code: 'custom',
          path: [list, index, 'id'],
          message: `duplicate rule id "${rule.id}" (already used by ${earlier})`,
        });
      }
      seen.set(rule.id, `${list}[${index}]`);
    });
  }
  if ((parseDuration(module.allowedLateness) ?? 0) > 7 * 86_400_000) {
    ctx.addIssue({ code: 'custom', path: ['allowedLateness'], message: 'must be at most 7d' });
  }
  if (module.maxFuture !== undefined && (parseDuration(module.maxFuture) ?? 0) > 3_600_000) {
    ctx.addIssue({ code: 'custom', path: ['maxFuture'], message: 'must be at most 1h' });
  }
  const watched = new Set([...module.goals, ...module.constraints].map((rule) => rule.metric));
  module.otlp?.forEach((mapping, index) => {
    if (!watched.has(mapping.metric)) {
      ctx.addIssue({
        code: 'custom',
        path: ['otlp', index, 'metric'],
        message: `"${mapping.metric}" is not a metric of any goal or constraint of this module`,
      });
    }
    mapping.dimensions?.forEach((name, at) => {
      if (!names.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['otlp', index, 'dimensions', at],
          message: `"${name}" is not a dimension this module declares`,
        });
      }
    });
  });
}

/** A policy module as an administrator defines it. */
export const PolicyModule = z.strictObject(moduleFields).superRefine(checkRuleIds);
export type PolicyModule = z.output<typeof PolicyModule>;
export type PolicyModuleInput = z.input<typeof PolicyModule>;

/** `PUT /v1/modules/:id` body: the module plus why it changes (required, public, audited). */
export const ModulePut = z.strictObject({ ...moduleFields, rationale: Text(2000) }).superRefine(checkRuleIds);
export type ModulePut = z.output<typeof ModulePut>;

/** Why a change deserves a second look ("influence leaves fingerprints"). */
export const ChangeFlag = z.strictObject({
  code: z.enum([
    'changed_while_off_track',
    'changed_near_alert',
    'owner_changed_while_off_track',
    'owner_changed_near_alert',
    'target_eased',
    'tolerance_widened',
    'window_lengthened',
    'goal_removed',
  ]),
  ruleId: z.string().optional(),
  message: z.string(),
});
export type ChangeFlag = z.infer<typeof ChangeFlag>;

/** One stored version of a module. */
export const ModuleVersion = z.strictObject({
  ...moduleFields,
  goals: z.array(Goal),
  version: z.number().int().min(1),
  updatedAt: Timestamp,
  updatedBy: z.string(),
  rationale: z.string(),
  flags: z.array(ChangeFlag).default([]),
  /** The approved proposal this version applies (absent for direct edits and new modules). */
  proposalId: z.string().optional(),
  /** When this version took effect, if later than `updatedAt` (an approved change waits out its notice period). */
  effectiveAt: Timestamp.optional(),
});
export type ModuleVersion = z.output<typeof ModuleVersion>;

/** An accountable administrator's public profile. */
export const Sociotechnician = z.strictObject({
  id: Slug,
  name: Text(200),
  title: z.string().max(200).optional(),
  bio: z.string().max(4000).optional(),
});
export type Sociotechnician = z.infer<typeof Sociotechnician>;

/** `PUT /v1/sociotechnicians/:id` body. */
export const SociotechnicianPut = Sociotechnician.omit({ id: true });

/** Body of `POST /v1/agencies`, `POST /v1/overseers` and `POST /v1/admins`. */
export const PrincipalCreate = z.strictObject({ id: Slug, name: Text(200) });
export type PrincipalCreate = z.infer<typeof PrincipalCreate>;

/** An agency, overseer or admin as the public sees it: never the key, never its hash. */
export const Principal = z.strictObject({
  id: Slug,
  name: z.string(),
  createdAt: Timestamp,
  revokedAt: Timestamp.optional(),
});
export type Principal = z.infer<typeof Principal>;

export const AgencyCreated = z.strictObject({ agency: Principal, key: z.string() });
export const OverseerCreated = z.strictObject({ overseer: Principal, token: z.string() });
export const AdminCreated = z.strictObject({ admin: Principal, token: z.string() });
