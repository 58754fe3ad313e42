import { parse } from 'csv-parse/sync';
import type { IssueDetail } from '../../schemas/common.js';
import { csvColumns, csvDimensionPrefix, maxEventsPerRequest } from '../../schemas/metric-event.js';
import { ValidationError } from '../runtime/errors.js';

/** A data row that could not become an event (its field count differs from the header's). */
export class UnreadableRow {
  constructor(readonly errors: IssueDetail[]) {}
}

/** The events of a CSV upload, with the file line each one starts on (for per-row errors). */
export interface CsvEvents {
  events: unknown[];
  lines: number[];
}

const numberText = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const epochMsText = /^\d{1,16}$/;

/**
 * An RFC 4180 upload → raw events. The first record is the header: the five columns of `csvColumns`
 * and any `dim.<name>` columns, each once, nothing else (400 otherwise). Every later record is one
 * event: `value` becomes a number when it reads as one, `observedAt` epoch ms when it is all digits
 * (RFC 3339 otherwise); every other cell stays text exactly as written, so a cell that looks like a
 * formula (`=SUM(A1)`) is stored as those characters and nothing evaluates it. An empty cell is an
 * absent field (an empty dimension is left out). Values are then judged one by one like JSON events;
 * a row with the wrong number of fields is refused on its own. A file that is not CSV (an unclosed
 * quote, a stray quote) is a 400 naming the line.
 */
export function eventsFromCsv(text: string): CsvEvents {
  let records: string[][];
  try {
    records = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true });
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new ValidationError(
      `the body is not valid CSV${line === undefined ? '' : ` at line ${line}`}: ${(err as Error).message}`,
      line === undefined ? undefined : { line },
      'malformed_body',
    );
  }
  const [header, ...rows] = records;
  if (!header) throw new ValidationError('the body holds no events', undefined, 'malformed_body');
  const columns = readHeader(header);
  // The parser's own line count is off for CRLF files with line breaks inside quotes; count them here.
  const starts = recordStartLines(text);
  if (rows.length === 0) throw new ValidationError('the body holds no events', { line: 2 }, 'malformed_body');
  const events: unknown[] = [];
  const lines: number[] = [];
  for (const [i, row] of rows.entries()) {
    const line = starts[i + 1] ?? 0;
    if (events.length === maxEventsPerRequest) {
      throw new ValidationError(
        `at most ${maxEventsPerRequest} events per request`,
        { line },
        'too_many_events',
      );
    }
    lines.push(line);
    events.push(
      row.length === columns.length
        ? eventFromRow(columns, row)
        : new UnreadableRow([
            {
              path: '(row)',
              message: `line ${line} has ${row.length} fields, the header has ${columns.length}`,
            },
          ]),
    );
  }
  return { events, lines };
}

function readHeader(names: string[]): string[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name))
      throw new ValidationError(`the header names column "${name}" twice`, { line: 1 }, 'malformed_body');
    seen.add(name);
    const known = (csvColumns as readonly string[]).includes(name) || name.startsWith(csvDimensionPrefix);
    if (!known || name === csvDimensionPrefix) {
      throw new ValidationError(
        `unknown column "${name}": the header is ${csvColumns.join(',')} plus dim.<name> columns`,
        { line: 1 },
        'malformed_body',
      );
    }
  }
  const missing = csvColumns.filter((c) => !seen.has(c));
  if (missing.length > 0) {
    throw new ValidationError(
      `the header lacks ${missing.join(', ')}: it must name ${csvColumns.join(',')} (plus dim.<name> columns)`,
      { line: 1, missing },
      'malformed_body',
    );
  }
  return names;
}

function eventFromRow(columns: string[], cells: string[]): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  let dimensions: Record<string, string> | undefined;
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i]!;
    const cell = cells[i]!;
    if (cell === '') continue;
    if (column.startsWith(csvDimensionPrefix)) {
      dimensions ??= {};
      dimensions[column.slice(csvDimensionPrefix.length)] = cell;
    } else if (column === 'value') {
      const trimmed = cell.trim();
      event.value = numberText.test(trimmed) ? Number(trimmed) : cell;
    } else if (column === 'observedAt') {
      const trimmed = cell.trim();
      event.observedAt = epochMsText.test(trimmed) ? Number(trimmed) : trimmed;
    } else event[column] = cell;
  }
  if (dimensions) event.dimensions = dimensions;
  return event;
}

/**
 * The line each non-empty record starts on, for text the parser accepted: a line break ends a record
 * unless it is inside quotes (a doubled quote toggles twice, so it changes nothing).
 */
function recordStartLines(text: string): number[] {
  const starts: number[] = [];
  let line = 1;
  let quoted = false;
  let atStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (atStart) {
      if (c === '\n') {
        line++;
        continue;
      }
      if (c === '\r' && text[i + 1] === '\n') continue;
      starts.push(line);
      atStart = false;
    }
    if (c === '"') quoted = !quoted;
    else if (c === '\n') {
      line++;
      if (!quoted) atStart = true;
    }
  }
  return starts;
}
