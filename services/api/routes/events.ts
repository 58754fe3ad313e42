import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Slug, toTimestamp } from '../../../schemas/common.js';
import type { OpenEvent } from '../../../schemas/queries.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { openDimensions } from '../../core/validation/index.js';
import type { Row } from '../../ports/tables.js';
import { checkRange, limitExceeded, queryLimits, TimeParam } from '../bounds.js';
import { csvRecord } from '../csv.js';
import { type ApiDeps, parseOr400 } from '../deps.js';
import { moduleOr404 } from '../module-versions.js';
import { slugParam } from './params.js';

const EventsQuery = z.strictObject({
  from: TimeParam,
  to: TimeParam,
  metric: Slug.optional(),
  format: z.enum(['ndjson', 'csv']).optional(),
});

/** CSV columns, in order; `dimensions` is a JSON object in one field. */
export const eventColumns = [
  'moduleId',
  'agencyId',
  'eventId',
  'metric',
  'value',
  'observedAt',
  'receivedAt',
  'late',
  'moduleVersion',
  'dimensions',
] as const;

/**
 * A stored event as the public may see it: only the dimensions the module declares `open` now
 * (`aggregate` ones appear only in protected breakdowns; undeclared ones, on events stored before a
 * declaration changed, are left out too).
 */
export function openEvent(row: Row<'metric_events'>, module: Pick<ModuleVersion, 'dimensions'>): OpenEvent {
  const dimensions =
    typeof row.dimensions === 'object' && row.dimensions !== null && !Array.isArray(row.dimensions)
      ? openDimensions(row.dimensions as Record<string, unknown>, module)
      : {};
  return {
    moduleId: row.module_id,
    agencyId: row.agency_id,
    eventId: row.event_id,
    metric: row.metric,
    value: row.value,
    observedAt: toTimestamp(row.observed_ms),
    receivedAt: toTimestamp(row.received_ms),
    late: row.late,
    moduleVersion: row.module_version,
    dimensions,
  };
}

function* ndjson(rows: Row<'metric_events'>[], module: ModuleVersion): Generator<string> {
  for (const row of rows) yield `${JSON.stringify(openEvent(row, module))}\n`;
}

function* csv(rows: Row<'metric_events'>[], module: ModuleVersion): Generator<string> {
  yield csvRecord(eventColumns);
  for (const row of rows) {
    const event = openEvent(row, module);
    yield csvRecord(
      eventColumns.map((column) =>
        column === 'dimensions' ? JSON.stringify(event.dimensions) : event[column],
      ),
    );
  }
}

/** True when the client asks for CSV: `?format=csv`, or an Accept header that names text/csv before any JSON type. */
function wantsCsv(accept: string | undefined, format: 'ndjson' | 'csv' | undefined): boolean {
  if (format) return format === 'csv';
  if (!accept) return false;
  const csvAt = accept.indexOf('text/csv');
  if (csvAt < 0) return false;
  const jsonAt = accept.search(/application\/(x-)?ndjson|application\/json/);
  return jsonAt < 0 || csvAt < jsonAt;
}

/**
 * `GET /v1/modules/:id/events?from=&to=[&metric=]`: the stored raw events (late ones included,
 * flagged) in observedAt order, as NDJSON or, with `Accept: text/csv`, CSV, with their `open`
 * dimensions only. Open data: every published number can be recomputed from it. Bounded by `deps.exports` (429 with Retry-After).
 */
export function eventRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string } }>('/v1/modules/:id/events', async (request, reply) => {
    const id = slugParam(request.params.id, 'id');
    const query = parseOr400(EventsQuery, request.query, 'the query');
    const module = moduleOr404(deps, id);
    checkRange(query.from, query.to, 'eventsRangeMs');
    // Held until the answer is sent or the client goes away.
    const release = deps.exports.admit(request.ip);
    reply.raw.once('close', release);
    let rows: Row<'metric_events'>[];
    try {
      rows = await selectEvents(deps, id, query);
    } catch (err) {
      release();
      throw err;
    }
    const asCsv = wantsCsv(request.headers.accept, query.format);
    void reply
      .header('content-type', asCsv ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson')
      .header('content-disposition', `inline; filename="${id}-events.${asCsv ? 'csv' : 'ndjson'}"`);
    return reply.send(Readable.from(asCsv ? csv(rows, module) : ndjson(rows, module)));
  });
}

async function selectEvents(
  deps: ApiDeps,
  id: string,
  query: z.output<typeof EventsQuery>,
): Promise<Row<'metric_events'>[]> {
  const rows = await deps.store.select('metric_events', {
    where: [
      { column: 'module_id', op: '=', value: id },
      { column: 'observed_ms', op: '>=', value: query.from },
      { column: 'observed_ms', op: '<', value: query.to },
      ...(query.metric ? [{ column: 'metric', op: '=', value: query.metric } as const] : []),
    ],
    orderBy: [{ column: 'observed_ms' }, { column: 'agency_id' }, { column: 'event_id' }],
    limit: queryLimits.eventRows + 1,
  });
  if (rows.length > queryLimits.eventRows) {
    throw limitExceeded(
      'eventRows',
      queryLimits.eventRows,
      rows.length,
      'more events than one export may hold: narrow from/to (at least this many)',
    );
  }
  return rows;
}
