import { z } from 'zod';
import { AlertEvent } from './alert.js';
import { Slug, Timestamp } from './common.js';
import { GoalStatus } from './performance.js';
import { ProposalState } from './proposals.js';
import { Aggregation, ChangeFlag, Direction, Sociotechnician } from './registry.js';

/** `GET /v1/modules/:id/history`: the goal's stored rollups merged into step-aligned points. */
export const HistoryAnswer = z.strictObject({
  moduleId: Slug,
  goalId: Slug,
  aggregation: Aggregation,
  from: Timestamp,
  to: Timestamp,
  step: z.string(),
  points: z.array(
    z.strictObject({
      t: Timestamp,
      value: z.number().nullable(),
      count: z.number().int().min(0),
      status: GoalStatus,
      /** The value or count differs from what was first published for this step (a correction). */
      revised: z.literal(true).optional(),
      /** The point as first published, before the first correction that changed it. */
      firstPublished: z
        .strictObject({ value: z.number().nullable(), count: z.number().int().min(0) })
        .optional(),
    }),
  ),
  /** The vintage: what was published at this time (default: now). */
  asOf: Timestamp.optional(),
  method: z.string(),
});
export type HistoryAnswer = z.infer<typeof HistoryAnswer>;

/** One correction as `GET /v1/modules/:id/revisions` lists it: who, when, the old and the new figure, why. */
export const Revision = z.strictObject({
  eventId: z.string(),
  agency: Slug,
  metric: Slug,
  /** The version it replaced (the newest of its chain when it was applied). */
  supersedes: z.string(),
  retract: z.boolean(),
  /** When Glasshouse applied it. */
  at: Timestamp,
  old: z.strictObject({ value: z.number(), observedAt: Timestamp }).nullable(),
  /** null for a retraction. */
  new: z.strictObject({ value: z.number(), observedAt: Timestamp }).nullable(),
  note: z.string(),
});
export type Revision = z.infer<typeof Revision>;

/** `GET /v1/modules/:id/revisions`: the module's corrections, newest first. */
export const RevisionList = z.strictObject({ items: z.array(Revision) });
export type RevisionList = z.infer<typeof RevisionList>;

/** `GET /v1/alerts`: the latest version of each alert, newest opened first. */
export const AlertList = z.strictObject({ items: z.array(AlertEvent), next: z.string().optional() });

const StatusTimeShape = z.strictObject({
  on_track: z.number(),
  at_risk: z.number(),
  off_track: z.number(),
  no_data: z.number(),
  observed: z.number(),
});

/** A sociotechnician's scorecard; `method` states the formula. Times are ms. */
export const Scorecard = z.strictObject({
  period: z.strictObject({ from: Timestamp, to: Timestamp }),
  score: z.number().int().min(0).max(100).nullable(),
  onTrackShare: z.number().min(0).max(1).nullable(),
  timeMs: StatusTimeShape,
  goals: z.array(
    z.strictObject({
      moduleId: Slug,
      goalId: Slug,
      status: GoalStatus,
      onTrackShare: z.number().nullable(),
      timeMs: StatusTimeShape,
    }),
  ),
  openAlerts: z.number().int().min(0),
  meanTimeToAcknowledgeMs: z.number().nullable(),
  acknowledgedAlerts: z.number().int().min(0),
  trend: z.strictObject({
    direction: z.enum(['improving', 'steady', 'worsening', 'unknown']),
    changePoints: z.number().nullable(),
  }),
  method: z.string(),
  /**
   * The correction rate of the agencies reporting for these modules (on a sociotechnician's
   * profile; the scoreboard leaves it out).
   */
  corrections: z
    .strictObject({
      period: z.strictObject({ from: Timestamp, to: Timestamp }),
      events: z.number().int().min(0),
      corrections: z.number().int().min(0),
      rate: z.number().min(0).nullable(),
      agencies: z.array(
        z.strictObject({
          agency: Slug,
          events: z.number().int().min(0),
          corrections: z.number().int().min(0),
          rate: z.number().min(0).nullable(),
        }),
      ),
      method: z.string(),
    })
    .optional(),
});
export type Scorecard = z.infer<typeof Scorecard>;

/** `GET /v1/sociotechnicians/:id`: the profile, their modules and their scorecard. */
export const SociotechnicianProfile = z.strictObject({
  ...Sociotechnician.shape,
  modules: z.array(
    z.strictObject({
      id: Slug,
      title: z.string(),
      domain: Slug,
      status: z.enum(['active', 'retired']),
      version: z.number().int(),
    }),
  ),
  scorecard: Scorecard,
  /**
   * Changes to their modules that carried flags, newest first (at most 100): proposals (in whatever
   * state) and, where approvals are off, direct edits (`state` `direct`).
   */
  flaggedChanges: z.array(
    z.strictObject({
      moduleId: Slug,
      proposalId: z.string().nullable(),
      version: z.number().int().nullable(),
      state: z.enum(['direct', ...ProposalState.options]),
      at: Timestamp,
      by: z.string(),
      flags: z.array(ChangeFlag),
    }),
  ),
});

/** `GET /v1/sociotechnicians`: every profile with its summary score (the public scoreboard). */
export const SociotechnicianList = z.strictObject({
  items: z.array(
    z.strictObject({
      ...Sociotechnician.shape,
      modules: z.number().int().min(0),
      score: z.number().int().nullable(),
      onTrackShare: z.number().nullable(),
      openAlerts: z.number().int().min(0),
      trend: z.enum(['improving', 'steady', 'worsening', 'unknown']),
    }),
  ),
  period: z.strictObject({ from: Timestamp, to: Timestamp }),
  method: z.string(),
});

const ComparisonSample = z.strictObject({
  moduleId: Slug,
  goalId: Slug,
  n: z.number().int().min(0),
  mean: z.number().nullable(),
  sd: z.number().nullable(),
});

/** `GET /v1/comparisons/:group`: the group's modules side by side per shared goal metric. */
export const ComparisonAnswer = z.strictObject({
  group: Slug,
  window: z.strictObject({ from: Timestamp, to: Timestamp, length: z.string() }),
  modules: z.array(
    z.strictObject({ id: Slug, title: z.string(), owner: Slug, status: z.enum(['active', 'retired']) }),
  ),
  metrics: z.array(
    z.strictObject({
      metric: Slug,
      unit: z.string(),
      direction: Direction,
      samples: z.array(ComparisonSample),
      pairs: z.array(
        z.strictObject({
          a: Slug,
          b: Slug,
          t: z.number().nullable(),
          df: z.number().nullable(),
          p: z.number().nullable(),
          alpha: z.number(),
          significant: z.boolean(),
          better: Slug.nullable(),
          verdict: z.string(),
        }),
      ),
    }),
  ),
  method: z.string(),
});
export type ComparisonAnswer = z.infer<typeof ComparisonAnswer>;

/** One open-data row of `GET /v1/modules/:id/events` (NDJSON line or CSV row). */
export const OpenEvent = z.strictObject({
  moduleId: Slug,
  agencyId: Slug,
  eventId: z.string(),
  metric: Slug,
  value: z.number(),
  observedAt: Timestamp,
  receivedAt: Timestamp,
  late: z.boolean(),
  moduleVersion: z.number().int(),
  dimensions: z.record(z.string(), z.string()),
});
export type OpenEvent = z.infer<typeof OpenEvent>;

/** One value's cell of a protected day: `count` and `statistic` null when suppressed. */
export const BreakdownCell = z.strictObject({
  /** The dimension's value; `""` counts reports without the dimension. */
  value: z.string(),
  count: z.number().int().min(0).nullable(),
  /** The goal's statistic over the cell's reports (see `statistic`); null when not shown. */
  statistic: z.number().nullable(),
});

/** One closed UTC day of a breakdown, protected on its own; `withheld` days publish nothing. */
export const BreakdownDay = z.strictObject({
  day: z.string(),
  withheld: z.boolean(),
  total: z.number().int().min(0).nullable(),
  cells: z.array(BreakdownCell),
});

/** `GET /v1/modules/:id/breakdown`: a goal's metric per value of a declared dimension, per closed day. */
export const BreakdownAnswer = z.strictObject({
  moduleId: Slug,
  goalId: Slug,
  metric: Slug,
  dimension: z.string(),
  /** What `statistic` is per cell: the goal's aggregation, or null when it is a count or a single report. */
  statistic: z.enum(['mean', 'sum', 'rate', 'p50', 'p95']).nullable(),
  unit: z.string(),
  minCell: z.number().int(),
  base: z.number().int(),
  from: Timestamp,
  to: Timestamp,
  days: z.array(BreakdownDay),
  method: z.string(),
});
export type BreakdownAnswer = z.infer<typeof BreakdownAnswer>;
