import type { FastifyInstance, FastifyRequest } from 'fastify';
import { issueDetails } from '../../schemas/common.js';
import { IngestEnvelope, maxEventsPerRequest, maxRequestBytes } from '../../schemas/metric-event.js';
import { parseJson } from '../core/validation/index.js';
import { GlasshouseError, ValidationError } from '../runtime/errors.js';
import { eventsFromCsv } from './csv-body.js';

/** What every ingest body format parses to: the raw events, and for CSV the line each starts on. */
export interface IngestBody {
  events: unknown[];
  lines?: number[];
}

export interface BodyOptions {
  /** Largest body accepted, in bytes (413 above it). */
  limitBytes: number;
  /** The whole body must arrive within this long after the headers (408 otherwise). */
  timeoutMs: number;
  /**
   * A body over the limit is still read (and thrown away) up to this many bytes before the 413, so
   * clients that write the whole body before reading (Node's fetch) see the answer instead of a reset;
   * beyond it the connection is closed at once.
   */
  discardLimitBytes: number;
}

type ParserDone = (err: Error | null, body?: unknown) => void;

export const defaultBodyOptions: BodyOptions = {
  limitBytes: maxRequestBytes,
  timeoutMs: 10_000,
  discardLimitBytes: 8 * maxRequestBytes,
};

/**
 * Installs the ingest body formats (JSON, NDJSON, CSV) on an encapsulated Fastify scope; every other
 * content type answers 415. Each parses to the list of raw events; the envelope and line limits are
 * checked here, each event is judged later on its own.
 */
export function installBodyParsers(scope: FastifyInstance, options: BodyOptions): void {
  scope.removeAllContentTypeParsers();
  const parser =
    (toEvents: (text: string) => IngestBody) =>
    (request: FastifyRequest, payload: NodeJS.ReadableStream, done: ParserDone) => {
      // One chain, so an error thrown while parsing is answered like an error while reading.
      readBody(request, payload, options)
        .then((bytes) => toEvents(bytes.toString('utf8')))
        .then(
          (events) => done(null, events),
          (err: Error) => done(err, undefined),
        );
    };
  scope.addContentTypeParser(
    'application/json',
    parser((text) => ({ events: eventsFromJson(text) })),
  );
  scope.addContentTypeParser(
    'application/x-ndjson',
    parser((text) => ({ events: eventsFromNdjson(text) })),
  );
  scope.addContentTypeParser('text/csv', parser(eventsFromCsv));
}

/** `{"events":[...]}` → the events; 400 with the parse position, or with the envelope's problems. */
export function eventsFromJson(text: string): unknown[] {
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const { position, line, column } = parsed;
    throw new ValidationError(
      `the body is not valid JSON: ${parsed.message}`,
      { position, line, column },
      'malformed_body',
    );
  }
  const body = parsed.value;
  // The common case without zod; zod explains anything else.
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const keys = Object.keys(body);
    const events = (body as { events?: unknown }).events;
    if (
      keys.length === 1 &&
      keys[0] === 'events' &&
      Array.isArray(events) &&
      events.length >= 1 &&
      events.length <= maxEventsPerRequest
    ) {
      return events;
    }
  }
  const envelope = IngestEnvelope.safeParse(body);
  if (envelope.success) return envelope.data.events;
  throw new ValidationError(
    'the body must be {"events":[...]} with 1 to 1000 events',
    issueDetails(envelope.error),
  );
}

/** One event per line (blank lines ignored) → the events; 400 naming the first line that is not JSON. */
export function eventsFromNdjson(text: string): unknown[] {
  const events: unknown[] = [];
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    const content = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (content.trim() === '') continue;
    const parsed = parseJson(content);
    if (!parsed.ok) {
      throw new ValidationError(
        `line ${line} is not valid JSON: unexpected ${parsed.position >= content.length ? 'end of line' : `character at column ${parsed.column}`}`,
        { line, column: parsed.column },
        'malformed_body',
      );
    }
    if (events.length === maxEventsPerRequest) {
      throw new ValidationError(
        `at most ${maxEventsPerRequest} events per request`,
        { line },
        'too_many_events',
      );
    }
    events.push(parsed.value);
  }
  if (events.length === 0) throw new ValidationError('the body holds no events', undefined, 'malformed_body');
  return events;
}

/**
 * Reads the raw body within the byte limit and the deadline. A body over the limit is read to its end
 * and discarded (up to `discardLimitBytes`) before the 413, so the client is reading when it comes.
 */
export function readBody(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  options: BodyOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (declared > options.discardLimitBytes) {
      reject(tooLarge(options.limitBytes));
      return;
    }
    let chunks: Buffer[] = [];
    let received = 0;
    let discarding = declared > options.limitBytes;
    const finish = (err: Error | undefined) => {
      clearTimeout(timer);
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      if (err) {
        // The rest is never read; the route answers with `Connection: close` (see routes.ts).
        payload.pause();
        reject(err);
        return;
      }
      if (discarding) {
        reject(tooLarge(options.limitBytes));
        return;
      }
      if (!Number.isNaN(declared) && declared !== received) {
        reject(
          new ValidationError('the body length does not match Content-Length', undefined, 'malformed_body'),
        );
        return;
      }
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer | string) => {
      received += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      if (received > options.discardLimitBytes) finish(tooLarge(options.limitBytes));
      else if (discarding) return;
      else if (received > options.limitBytes) {
        discarding = true;
        chunks = [];
      } else chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    };
    const onEnd = () => finish(undefined);
    const onError = (err: Error) =>
      finish(new ValidationError(`the body could not be read: ${err.message}`, undefined, 'malformed_body'));
    const timer = setTimeout(
      () =>
        finish(
          new GlasshouseError('body_timeout', `the body did not arrive within ${options.timeoutMs} ms`, {
            status: 408,
          }),
        ),
      options.timeoutMs,
    );
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.resume();
  });
}

export function tooLarge(limit: number): GlasshouseError {
  return new GlasshouseError('body_too_large', `the body exceeds ${limit} bytes`, { status: 413 });
}
