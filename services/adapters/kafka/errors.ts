import { BusError } from '../../ports/bus-errors.js';

interface KafkaLikeError {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  cause?: unknown;
}

/** Protocol errors after which an idempotent producer's sequence numbers can no longer be trusted. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
  'DUPLICATE_SEQUENCE_NUMBER',
]);

/** The innermost error kafkajs wrapped (KafkaJSNumberOfRetriesExceeded keeps the real one in `cause`). */
function rootCause(err: unknown): KafkaLikeError {
  let current = err as KafkaLikeError;
  for (let i = 0; i < 8 && current?.cause && typeof current.cause === 'object'; i++) {
    current = current.cause as KafkaLikeError;
  }
  return current ?? {};
}

/** True for the errors after which kafkajs's idempotent producer is wedged and must be recreated. */
export function isProducerStateError(err: unknown): boolean {
  const root = rootCause(err);
  const outer = err as KafkaLikeError;
  return (
    PRODUCER_STATE_ERRORS.has(root.type ?? '') ||
    PRODUCER_STATE_ERRORS.has(outer?.type ?? '') ||
    /producer is disconnected/i.test(outer?.message ?? '') ||
    /producer is disconnected/i.test(root.message ?? '')
  );
}

/** Maps whatever kafkajs threw to a BusError with a stable code. */
export function toBusError(err: unknown, what: string): BusError {
  if (err instanceof BusError) return err;
  const outer = (err ?? {}) as KafkaLikeError;
  const root = rootCause(err);
  const detail = `${what}: ${root.message ?? outer.message ?? String(err)}`;
  const type = root.type ?? outer.type ?? '';
  if (type === 'UNKNOWN_TOPIC_OR_PARTITION') return new BusError('bus_topic_unknown', detail, false, err);
  if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE' || type === 'INVALID_RECORD') {
    return new BusError('bus_record_too_large', detail, false, err);
  }
  if (isProducerStateError(err)) return new BusError('bus_producer_reset', detail, true, err);
  const name = root.name ?? outer.name ?? '';
  const unavailable =
    root.retriable === true ||
    outer.name === 'KafkaJSNumberOfRetriesExceeded' ||
    /Connection|Timeout|NoBrokerAvailable|BrokerNotFound|LeaderNotAvailable/.test(name);
  if (unavailable) return new BusError('bus_unavailable', detail, true, err);
  return new BusError('bus_error', detail, false, err);
}
