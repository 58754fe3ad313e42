import type { IssueDetail } from '../../../schemas/common.js';
import { agencyHeader } from '../../../schemas/metric-event.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { parseJson } from './json.js';
import {
  type ModuleLookup,
  type RejectionReason,
  type ValidEvent,
  validateMetricEvent,
} from './metric-event.js';

/** Why a `metrics.raw` record was refused: an event rejection, or a record that is not an event at all. */
export type RecordRejectionReason = RejectionReason | 'malformed_json' | 'missing_agency';

export type RecordVerdict =
  | { ok: true; agencyId: string; event: ValidEvent; module: ModuleVersion }
  | { ok: false; reason: RecordRejectionReason; errors: IssueDetail[] };

// Agency ids are slugs (schemas/common.ts); a header that is not one cannot name an agency.
const agencyPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Validates a record read from `metrics.raw` (written by ingest, or produced straight to Kafka by
 * an agency): the agency header, the JSON value, then the same per-event rules as ingest. Pure;
 * the processor sends failures to `metrics.dlq` with `reason` and the original bytes.
 */
export function validateMetricRecord(
  value: Buffer | string,
  headers: Readonly<Record<string, string>>,
  registry: ModuleLookup,
  now: number,
): RecordVerdict {
  const agencyId = headers[agencyHeader];
  if (agencyId === undefined || !agencyPattern.test(agencyId)) {
    return {
      ok: false,
      reason: 'missing_agency',
      errors: [{ path: `headers.${agencyHeader}`, message: 'must name the reporting agency' }],
    };
  }
  const parsed = parseJson(typeof value === 'string' ? value : value.toString('utf8'));
  if (!parsed.ok)
    return { ok: false, reason: 'malformed_json', errors: [{ path: '(root)', message: parsed.message }] };
  const verdict = validateMetricEvent(parsed.value, { agencyId, registry, now });
  if (!verdict.ok) return { ok: false, reason: verdict.reason, errors: verdict.errors };
  return { ok: true, agencyId, event: verdict.event, module: verdict.module };
}
