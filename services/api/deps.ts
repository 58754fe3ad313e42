import type { z } from 'zod';
import { issueDetails, loneSurrogateIssues } from '../../schemas/common.js';
import type { ChangeRequest } from '../core/registry/changes.js';
import type { ApprovalPolicy } from '../core/registry/proposals.js';
import type { ChangeRequests } from '../ports/audit.js';
import type { Clock } from '../ports/clock.js';
import type { RegistryView, RegistryWrites } from '../ports/registry.js';
import type { Store } from '../ports/store.js';
import type { OpenTableFileWriter } from '../ports/table-files.js';
import { ValidationError } from '../runtime/errors.js';
import type { ExportGate } from './export-gate.js';
import { answerRefusal } from './routes/refusals.js';

/** What the api routes need: the registry view (read and apply), the audit client (write), the store (history). */
export interface ApiDeps {
  registry: RegistryView & RegistryWrites;
  audit: ChangeRequests;
  store: Store;
  clock: Clock;
  /** Bounds the public events exports and data packages (concurrency, per-source rate). */
  exports: ExportGate;
  /** How module changes are approved (`GLASSHOUSE_APPROVALS`, ...). */
  approvals: ApprovalPolicy;
  /** Opens a Parquet writer for data packages. */
  tableFiles: OpenTableFileWriter;
  /** The open data's licence (SPDX id or URL) and publisher. */
  openData: { license: string; publisher: string };
}

/**
 * Submits a change request to the sequencer and applies its registry records to this process's view
 * before answering, so a read right after a write on the same replica sees it. A refusal is answered
 * with its HTTP status (routes/refusals.ts).
 */
export async function write(deps: ApiDeps, actor: string, request: ChangeRequest) {
  const result = await deps.audit.submit(actor, request).catch(answerRefusal);
  deps.registry.apply(result.records);
  return result;
}

/**
 * Parses with a zod schema or throws a 400 listing every issue with its path. Strings with a lone
 * UTF-16 surrogate are refused first, wherever they are (they would reach the audit trail).
 */
export function parseOr400<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const malformed = loneSurrogateIssues(value);
  if (malformed.length) throw new ValidationError(`${what} holds text that is not well-formed`, malformed);
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(`${what} does not match the contract`, issueDetails(parsed.error));
  return parsed.data;
}
