import type { IssueDetail } from '../../schemas/common.js';
import type { IncomingRecord, OutgoingRecord } from '../ports/bus.js';
import type { Row } from '../ports/tables.js';

/** Headers the processor adds to a `metrics.dlq` record; the original headers are kept beside them. */
export const dlqHeaders = {
  reason: 'glasshouse-dlq-reason',
  errors: 'glasshouse-dlq-errors',
  source: 'glasshouse-dlq-source',
} as const;

/** A record set aside: why, and everything needed to replay it. */
export interface DeadLetter {
  record: IncomingRecord;
  reason: string;
  errors: IssueDetail[];
}

/** A stable id per source record, so a redelivered poison record collapses onto one row. */
export function deadLetterId(record: Pick<IncomingRecord, 'topic' | 'partition' | 'offset'>): string {
  return `${record.topic}:${record.partition}:${record.offset}`;
}

/** The `metrics.dlq` record: the original key, bytes and headers, plus the reason. */
export function toDlqRecord(letter: DeadLetter): OutgoingRecord {
  const { record } = letter;
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [dlqHeaders.reason]: letter.reason,
      [dlqHeaders.errors]: JSON.stringify(letter.errors).slice(0, 4096),
      [dlqHeaders.source]: deadLetterId(record),
    },
  };
}

/**
 * The `dead_letters` row. `payload` is the original bytes in base64 (records produced straight to
 * Kafka need not be UTF-8); `headers` the original headers; `replayed_ms` 0 until an operator replays it.
 */
export function toDeadLetterRow(letter: DeadLetter, receivedMs: number): Row<'dead_letters'> {
  const { record } = letter;
  const detail = letter.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  return {
    id: deadLetterId(record),
    source_topic: record.topic,
    source_partition: record.partition,
    source_offset: record.offset,
    reason: detail ? `${letter.reason}: ${detail}`.slice(0, 2000) : letter.reason,
    received_ms: receivedMs,
    headers: { ...record.headers },
    payload: record.value.toString('base64'),
    replayed_ms: 0,
  };
}

/** The reason code of a stored row (the text before the first colon). */
export function reasonCode(row: Pick<Row<'dead_letters'>, 'reason'>): string {
  const colon = row.reason.indexOf(':');
  return colon === -1 ? row.reason : row.reason.slice(0, colon);
}

/** Rebuilds the record to re-publish to `metrics.raw`: original bytes and headers, keyed by moduleId when readable. */
export function replayRecord(row: Row<'dead_letters'>): OutgoingRecord {
  const value = Buffer.from(row.payload, 'base64');
  const headers: Record<string, string> = {};
  if (typeof row.headers === 'object' && row.headers !== null) {
    for (const [name, v] of Object.entries(row.headers as Record<string, unknown>)) {
      if (typeof v === 'string' && !Object.values(dlqHeaders).includes(name as never)) headers[name] = v;
    }
  }
  return { key: moduleKeyOf(value), value, headers };
}

function moduleKeyOf(value: Buffer): string | null {
  try {
    const parsed: unknown = JSON.parse(value.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const id = (parsed as Record<string, unknown>).moduleId;
      if (typeof id === 'string' && id.length <= 64) return id;
    }
  } catch {}
  return null;
}
