import { z } from 'zod';
import { FiniteNumber, IssueDetail, Slug, TimeInput, WellFormedText } from './common.js';

/** Starts with a letter or digit, so no eventId reads as a formula (`-`, `+`, `=`, `@`) in a spreadsheet. */
export const EventId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    'must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-", starting with a letter or digit',
  );

export const maxDimensions = 16;

export const Dimensions = z
  .record(
    z
      .string()
      .regex(
        /^[A-Za-z0-9._:-]{1,64}$/,
        'dimension names are 1-64 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"',
      ),
    WellFormedText.pipe(z.string().max(256, 'dimension values are at most 256 characters')),
  )
  .refine((dims) => Object.keys(dims).length <= maxDimensions, `at most ${maxDimensions} dimensions`);

export const maxNoteLength = 500;

/**
 * One observation from an agency. The agency comes from its API key, never from the body.
 *
 * A correction names in `supersedes` the eventId of an earlier event of the same agency, module and
 * metric: it replaces that event's value, dimensions and observedAt (a chain of corrections resolves
 * to the newest). With `retract: true` it removes the event instead; its own value and observedAt are
 * then not counted (an agency repeats the retracted figure's). `note` says why, publicly.
 */
export const MetricEvent = z
  .strictObject({
    eventId: EventId,
    moduleId: Slug,
    metric: Slug,
    value: FiniteNumber,
    /** RFC 3339 or epoch ms on the way in; epoch ms once parsed. */
    observedAt: TimeInput,
    dimensions: Dimensions.optional(),
    supersedes: EventId.optional(),
    retract: z.boolean().optional(),
    note: WellFormedText.pipe(
      z.string().max(maxNoteLength, `must be at most ${maxNoteLength} characters`),
    ).optional(),
  })
  .superRefine((event, ctx) => {
    if (event.retract === true && event.supersedes === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['retract'],
        message: 'a retraction must name the event in supersedes',
      });
    if (event.supersedes !== undefined && event.supersedes === event.eventId)
      ctx.addIssue({ code: 'custom', path: ['supersedes'], message: 'an event cannot supersede itself' });
    if (event.note !== undefined && event.supersedes === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['note'],
        message: 'only a correction (with supersedes) carries a note',
      });
  });
export type MetricEvent = z.output<typeof MetricEvent>;
export type MetricEventInput = z.input<typeof MetricEvent>;

export const maxEventsPerRequest = 1000;

/** The columns every CSV upload (`text/csv`) has, in any order; `dim.<name>` columns add dimensions. */
export const csvColumns = ['eventId', 'moduleId', 'metric', 'value', 'observedAt'] as const;
export const csvDimensionPrefix = 'dim.';
export const maxRequestBytes = 1024 * 1024;

/**
 * The JSON ingest body. Events are validated one by one (a bad event is rejected, the rest accepted),
 * so the envelope only checks that `events` is a list of the right length.
 */
export const IngestEnvelope = z.strictObject({
  events: z
    .array(z.unknown())
    .min(1, 'must hold at least 1 event')
    .max(maxEventsPerRequest, `must hold at most ${maxEventsPerRequest} events`),
});
export type IngestEnvelope = z.infer<typeof IngestEnvelope>;

export const RejectedEvent = z.strictObject({
  index: z.number().int().min(0),
  /** CSV uploads: the line of the file the row starts on (the header is line 1). */
  line: z.number().int().min(1).optional(),
  eventId: z.string().optional(),
  errors: z.array(IssueDetail),
});
export type RejectedEvent = z.infer<typeof RejectedEvent>;

/** `202` answer: accepted events are durable on the bus; duplicates were already sent by this agency. */
export const IngestResponse = z.strictObject({
  accepted: z.number().int().min(0),
  duplicates: z.number().int().min(0),
  rejected: z.array(RejectedEvent),
});
export type IngestResponse = z.infer<typeof IngestResponse>;

/**
 * On `metrics.raw` a record's value is a MetricEvent as JSON (observedAt in epoch ms once ingest has
 * parsed it), keyed by moduleId, with the agency in the header below. Agencies that produce to Kafka
 * directly send the same shape, and the processor validates it with the same schema.
 */
/** The Kafka header that names the reporting agency on every `metrics.raw` record. */
export const agencyHeader = 'glasshouse-agency';
