import { z } from 'zod';
import { type ContractName, contracts } from './index.js';

/** Who may call an endpoint. Reads are public; every write names its credential. */
export type Access = 'public' | 'agency' | 'overseer' | 'admin';

export interface Endpoint {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path template, e.g. `/v1/modules/{id}`. */
  path: string;
  summary: string;
  access: Access;
  body?: ContractName;
  /** Status code → contract name (or a description for non-JSON answers). */
  responses: Record<number, ContractName | { description: string; contentType?: string }>;
  query?: Record<string, string>;
}

/**
 * The public HTTP API. Roles append their endpoints here as they are built, so the OpenAPI document
 * served at `/v1/openapi.json` always matches what runs.
 */
export const endpoints: Endpoint[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process is up.',
    access: 'public',
    responses: { 200: { description: 'alive' } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: state restored, bus and store connected. 503 while any part is in error.',
    access: 'public',
    responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics.',
    access: 'public',
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This document.',
    access: 'public',
    responses: { 200: { description: 'OpenAPI 3.1 document' } },
  },
  {
    method: 'post',
    path: '/v1/metrics',
    summary:
      'Report metric events: {"events":[MetricEvent,...]} (1-1000, at most 1 MiB) or application/x-ndjson, one event per line, ' +
      'or text/csv (RFC 4180; header eventId,moduleId,metric,value,observedAt plus dim.<name> columns; rejected rows also name their `line`). ' +
      'Each event is judged on its own (rejected entries name the event index and field paths relative to the event); ' +
      '202 means the accepted events are durable on the bus. Rate limited per agency in events per second.',
    access: 'agency',
    body: 'IngestEnvelope',
    responses: {
      202: 'IngestResponse',
      400: 'ErrorBody',
      408: 'ErrorBody',
      413: 'ErrorBody',
      415: 'ErrorBody',
      429: 'ErrorBody',
      503: 'ErrorBody',
    },
  },
  {
    method: 'post',
    path: '/v1/otlp/v1/metrics',
    summary:
      'OTLP/HTTP metrics receiver (OTLP 1.x): an ExportMetricsServiceRequest as application/x-protobuf or application/json, ' +
      'optionally gzip. Gauge and sum data points of OTel metrics a module maps (`otlp` in the module) become metric events ' +
      '(cumulative sums as per-series deltas; eventIds derived from the series and time, so a retry is a duplicate) and are ' +
      'judged like /v1/metrics. Answers ExportMetricsServiceResponse in the request encoding, with partialSuccess ' +
      '(rejectedDataPoints, errorMessage) when some points were not taken.',
    access: 'agency',
    responses: {
      200: { description: 'ExportMetricsServiceResponse', contentType: 'application/x-protobuf' },
      400: 'ErrorBody',
      408: 'ErrorBody',
      413: 'ErrorBody',
      415: 'ErrorBody',
      429: 'ErrorBody',
      503: 'ErrorBody',
    },
  },
  // Registry and audit (api role).
  {
    method: 'get',
    path: '/v1/modules',
    summary:
      'Every module (latest version) with goals[].current, the latest PerformanceUpdate of each goal when one is known.',
    access: 'public',
    query: { domain: 'only modules of this domain', owner: 'only modules of this sociotechnician' },
    responses: { 200: { description: '{"items":[module]}' }, 400: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/modules/{id}',
    summary:
      'One module: the latest version with goals[].current, `pendingChanges` (its open proposal, public before it takes effect) and `changesApproved` (false where GLASSHOUSE_APPROVALS=0), or an old version with ?version=N. `flags` marks a version made while a goal was off track or near an alert, or that eases a goal; `proposalId` and `effectiveAt` name the approved proposal a version applies.',
    access: 'public',
    query: { version: 'a version number (1, 2, ...)' },
    responses: { 200: 'ModuleVersion', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'put',
    path: '/v1/modules/{id}',
    summary:
      'Creates a module, or the next version of one (the module plus a non-empty rationale); audited. An unchanged definition mints no version. With approvals on (the default), an existing module changes here only in title and summary: anything else answers 409 `approval_required` naming the proposals address, and any change while a proposal is open 409 `proposal_open`. At most 256 KiB.',
    access: 'admin',
    body: 'ModulePut',
    responses: {
      200: 'ModuleVersion',
      400: 'ErrorBody',
      409: 'ErrorBody',
      413: 'ErrorBody',
      503: 'ErrorBody',
    },
  },
  {
    method: 'post',
    path: '/v1/modules/{id}/proposals',
    summary:
      "Proposes the complete next version of a module (the module plus a rationale) for approval: 201 with the proposal, `state` proposed, `contentHash` the SHA-256 of the proposed module's RFC 8785 canonical JSON (the proposal's `module`), `requiredApprovals` 2 when flagged, else 1. A named admin only (403 `named_admin_required` for the bootstrap token); one open proposal per module (409 `proposal_open`); audited.",
    access: 'admin',
    body: 'ModulePut',
    responses: { 201: 'Proposal', 400: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 409: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/proposals/{pid}/approvals',
    summary:
      "Approves a proposal for exactly the content named by `contentHash` (409 `stale_content` otherwise). Neither the proposer nor the module's current or proposed owner may approve (403 `self_approval`); one admin approves once (409 `already_approved`). The last required approval makes it `approved` with `effectiveAt` = now + the notice period; audited.",
    access: 'admin',
    body: 'ApprovalBody',
    responses: { 200: 'Proposal', 400: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 409: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/proposals/{pid}/rejections',
    summary: 'Rejects an open proposal (proposed, or approved and not yet in force) with a note; audited.',
    access: 'admin',
    body: 'RejectionBody',
    responses: { 200: 'Proposal', 400: 'ErrorBody', 404: 'ErrorBody', 409: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/proposals/{pid}/withdraw',
    summary: 'Withdraws an open proposal; only its proposer (403 `not_proposer`); audited.',
    access: 'admin',
    body: 'WithdrawBody',
    responses: { 200: 'Proposal', 400: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 409: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/proposals',
    summary: 'Every proposal, newest first.',
    access: 'public',
    query: {
      state: 'proposed | approved | applied | rejected | withdrawn | expired',
      moduleId: 'only proposals of this module',
    },
    responses: { 200: 'ProposalList', 400: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/proposals/{pid}',
    summary: 'One proposal: its content, hash, approvals, flags, notice and state.',
    access: 'public',
    responses: { 200: 'Proposal', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/sociotechnicians',
    summary:
      'The public scoreboard: every sociotechnician profile with their active module count, summary score (percent of goal-time on track over the last 24 h), open alerts and trend; `method` states the formula.',
    access: 'public',
    responses: { 200: 'SociotechnicianList' },
  },
  {
    method: 'get',
    path: '/v1/sociotechnicians/{id}',
    summary:
      'A sociotechnician profile with the modules they are accountable for and their scorecard (time on track, open alerts, mean time to acknowledge, trend; `method` states the formula).',
    access: 'public',
    responses: { 200: 'SociotechnicianProfile', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'put',
    path: '/v1/sociotechnicians/{id}',
    summary: 'Creates or updates a sociotechnician profile; audited.',
    access: 'admin',
    body: 'SociotechnicianPut',
    responses: { 200: 'Sociotechnician', 400: 'ErrorBody', 503: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/agencies',
    summary:
      'Registers an agency and returns its API key once (stored as a salted scrypt hash); audited. 409 while the id is active.',
    access: 'admin',
    body: 'PrincipalCreate',
    responses: { 201: 'AgencyCreated', 400: 'ErrorBody', 409: 'ErrorBody', 503: 'ErrorBody' },
  },
  {
    method: 'delete',
    path: '/v1/agencies/{id}',
    summary: 'Revokes an agency key at once on every replica; audited.',
    access: 'admin',
    responses: { 200: { description: '{"agency":Principal}' }, 404: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/overseers',
    summary: 'Registers an oversight member and returns their token once; audited.',
    access: 'admin',
    body: 'PrincipalCreate',
    responses: { 201: 'OverseerCreated', 400: 'ErrorBody', 409: 'ErrorBody', 503: 'ErrorBody' },
  },
  {
    method: 'delete',
    path: '/v1/overseers/{id}',
    summary: 'Revokes an oversight token; audited.',
    access: 'admin',
    responses: { 200: { description: '{"overseer":Principal}' }, 404: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/admins',
    summary: 'Issues a named admin token once, so the audit trail names the person who acted; audited.',
    access: 'admin',
    body: 'PrincipalCreate',
    responses: { 201: 'AdminCreated', 400: 'ErrorBody', 409: 'ErrorBody', 503: 'ErrorBody' },
  },
  {
    method: 'delete',
    path: '/v1/admins/{id}',
    summary: 'Revokes a named admin token; audited.',
    access: 'admin',
    responses: { 200: { description: '{"admin":Principal}' }, 404: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/alerts/{id}/ack',
    summary:
      'Acknowledges an alert with a note (oversight token); audited. The processor writes the acknowledged version ' +
      '(acknowledgedBy, acknowledgedAt, note; the state is unchanged), which is answered once it is on alerts.events. ' +
      '503 ack_pending when it did not arrive within 10 s (it is applied when the processor catches up).',
    access: 'overseer',
    body: 'AlertAck',
    responses: {
      200: 'AlertEvent',
      400: 'ErrorBody',
      401: 'ErrorBody',
      403: 'ErrorBody',
      404: 'ErrorBody',
      503: 'ErrorBody',
    },
  },
  {
    method: 'get',
    path: '/v1/audit',
    summary:
      'The hash-chained audit log in seq order, paged: {"items":[AuditEntry],"next"?}. hash = SHA-256 (hex) of the RFC 8785 ' +
      'canonical JSON of the entry without `hash`; prevHash of seq 1 is 64 zeros. Verify offline with `glasshouse audit verify <url|file>`.',
    access: 'public',
    query: {
      after: 'entries with seq greater than this (default 0)',
      limit: 'entries per page, 1-1000 (default 100)',
    },
    responses: { 200: { description: '{"items":[AuditEntry],"next"?:string}' }, 400: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/audit/verify',
    summary:
      'Recomputes the whole stored chain: {valid:true,length,head} or {valid:false,length,brokenAt,reason}.',
    access: 'public',
    responses: { 200: 'AuditVerification' },
  },
  {
    method: 'get',
    path: '/v1/audit/checkpoint',
    summary:
      "The newest signed checkpoint of the audit log's Merkle tree (RFC 9162; leaf = SHA-256(0x00 ‖ entry hash bytes)) as a " +
      'C2SP tlog-checkpoint signed note: origin, size, base64 root, a blank line, the log signature and every witness ' +
      'cosignature collected. Save it and check later ones with `glasshouse audit verify <url> --checkpoint FILE`.',
    access: 'public',
    responses: { 200: { description: 'signed note', contentType: 'text/plain' }, 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/audit/key',
    summary: "The log's verifier key: <name>+<8 hex key id>+<base64(0x01 ‖ Ed25519 public key)>.",
    access: 'public',
    responses: { 200: { description: 'verifier key line', contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/v1/audit/witnesses',
    summary: 'The witnesses the log asks to cosign each checkpoint: {"items":[{url,key}]}.',
    access: 'public',
    responses: { 200: { description: '{"items":[{"url":string,"key":string}]}' } },
  },
  {
    method: 'get',
    path: '/v1/audit/proof/inclusion',
    summary:
      'The inclusion proof of entry `seq` in the tree of the first `size` entries (RFC 9162 2.1.3): {"proof":[base64]}.',
    access: 'public',
    query: { seq: 'the entry (1..size)', size: 'the tree size' },
    responses: { 200: { description: '{"proof":[string]}' }, 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/audit/proof/consistency',
    summary:
      'The consistency proof between the trees of the first `from` and `to` entries (RFC 9162 2.1.4): {"proof":[base64]}.',
    access: 'public',
    query: { from: 'the older tree size', to: 'the newer tree size' },
    responses: { 200: { description: '{"proof":[string]}' }, 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  // Queries (api role). Every query is bounded; a query over a bound answers 400 `limit_exceeded` naming it.
  {
    method: 'get',
    path: '/v1/modules/{id}/history',
    summary:
      "A goal's time series from the stored rollups: step-aligned points {t, value, count, status}, empty steps omitted, " +
      'at most 10,000 points and 366 days (400 `limit_exceeded` naming the limit). `method` states how points are computed.',
    access: 'public',
    query: {
      goal: 'goal (or constraint) id; default the first goal',
      from: 'RFC 3339 or epoch ms; default to − 24h',
      to: 'RFC 3339 or epoch ms; default now',
      step: 'a duration of at least 1s; default the goal bucket width (window / 60), widened to fit 10,000 points',
      asOf: 'RFC 3339 or epoch ms: what was published then (a vintage); default now. Points changed by a correction carry revised: true and firstPublished',
    },
    responses: { 200: 'HistoryAnswer', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/modules/{id}/breakdown',
    summary:
      "A goal's reports per value of a declared `open` or `aggregate` dimension, per closed UTC day (a day closes at its end plus " +
      "the module's allowedLateness), aggregated by the store. Each day is protected on its own: counts below `minCell` suppressed, " +
      'further counts suppressed until none can be worked out from the total, days that cannot be protected withheld, counts rounded ' +
      'to `base`, statistics only with their counts. Never a total over the range. `method` says it in words. At most 366 days.',
    access: 'public',
    query: {
      goal: 'goal id (required)',
      by: 'a declared dimension (required)',
      from: 'RFC 3339 or epoch ms; default to − 30 days',
      to: 'RFC 3339 or epoch ms; default now (the last closed day)',
    },
    responses: { 200: 'BreakdownAnswer', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/open-data/catalog.jsonld',
    summary:
      'A DCAT catalog (JSON-LD): one dataset per module with title, description, publisher, licence, contact point, temporal ' +
      'coverage, update frequency and its data package as distribution.',
    access: 'public',
    responses: { 200: { description: 'DCAT catalog', contentType: 'application/ld+json' } },
  },
  {
    method: 'get',
    path: '/v1/open-data/{moduleId}.zip',
    summary:
      "A module's Frictionless Data Package, streamed: datapackage.json (a Table Schema per file) and, as CSV and Parquet, its " +
      'events (open dimensions only), daily rollups per goal, alert versions and registry history. 429 with Retry-After when ' +
      'the export limits are reached.',
    access: 'public',
    responses: {
      200: { description: 'zip archive', contentType: 'application/zip' },
      404: 'ErrorBody',
      429: 'ErrorBody',
    },
  },
  {
    method: 'get',
    path: '/v1/modules/{id}/revisions',
    summary:
      "The module's corrections, newest first: the agency, when it was applied, the old and the new figure (null for a retraction) and the agency's note.",
    access: 'public',
    responses: { 200: 'RevisionList', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/corrections',
    summary:
      "Late corrections held for a named admin's approval (the event they correct was observed longer ago than the " +
      "module's correctionWindow, default 30d), and the decisions on them, newest first.",
    access: 'public',
    query: {
      state: 'held | approved | rejected',
      moduleId: 'one module',
      limit: '1 to 1000; default 100',
    },
    responses: { 200: 'HeldCorrectionList', 400: 'ErrorBody' },
  },
  ...(['approve', 'reject'] as const).map((decision) => ({
    method: 'post' as const,
    path: `/v1/corrections/{id}/${decision}`,
    summary:
      `${decision === 'approve' ? 'Approves' : 'Rejects'} a held correction (a named admin, not the bootstrap token); ` +
      'an audit entry with the rationale. ' +
      (decision === 'approve' ? 'The processor then applies the correction like any other. ' : '') +
      '404 unknown id, 409 already decided the other way.',
    access: 'admin' as const,
    body: 'CorrectionDecision' as const,
    responses: {
      200: 'HeldCorrection' as const,
      400: 'ErrorBody' as const,
      401: 'ErrorBody' as const,
      403: 'ErrorBody' as const,
      404: 'ErrorBody' as const,
      409: 'ErrorBody' as const,
      503: 'ErrorBody' as const,
    },
  })),
  {
    method: 'get',
    path: '/v1/modules/{id}/events',
    summary:
      'Open data: the stored raw events of a module (late ones included, flagged) in observedAt order, as NDJSON (one OpenEvent ' +
      'per line) or, with `Accept: text/csv` or `format=csv`, RFC 4180 CSV with a header row (dimensions as a JSON field). ' +
      'At most 31 days and 50,000 rows (400 `limit_exceeded`).',
    access: 'public',
    query: {
      from: 'RFC 3339 or epoch ms (required)',
      to: 'RFC 3339 or epoch ms (required)',
      metric: 'only this metric',
      format: 'ndjson or csv (overrides Accept)',
    },
    responses: {
      200: { description: 'NDJSON of OpenEvent, or CSV', contentType: 'application/x-ndjson' },
      400: 'ErrorBody',
      404: 'ErrorBody',
    },
  },
  {
    method: 'get',
    path: '/v1/alerts',
    summary:
      'The latest version of each alert, newest opened first, resolved ones too unless `state` filters; paged with `next`.',
    access: 'public',
    query: {
      state: 'pending, firing, resolved, or open (anything not resolved)',
      moduleId: 'only alerts of this module',
      limit: 'alerts per page, 1-1000 (default 100)',
      after: 'the `next` value of the previous page',
    },
    responses: { 200: 'AlertList', 400: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/comparisons/{group}',
    summary:
      "The modules of a comparison group side by side per shared goal metric, with Welch's t-test on the stored raw events " +
      '(t, df, p, sample sizes, means) and a plain-language verdict per pair; `method` states the test, window and alpha.',
    access: 'public',
    query: {
      window: 'a duration up to 31d; default the longest window of the compared goals, else 24h',
      to: 'end of the window, RFC 3339 or epoch ms; default now',
    },
    responses: { 200: 'ComparisonAnswer', 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  // Oversight notifications (api role).
  {
    method: 'post',
    path: '/v1/overseers/{id}/subscriptions',
    summary:
      'E-mails this overseer the alert versions passing the filters (domains, modules, severities): one message per version ' +
      'over SMTP, retried, never twice, or a daily digest. An admin or that overseer. Audited (the address hashed).',
    access: 'overseer',
    body: 'SubscriptionCreate',
    responses: { 201: { description: '{"subscription":Subscription}' }, 400: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/overseers/{id}/subscriptions',
    summary: 'The overseer’s subscriptions (an admin or that overseer).',
    access: 'overseer',
    responses: { 200: { description: '{"items":[Subscription]}' } },
  },
  {
    method: 'delete',
    path: '/v1/overseers/{id}/subscriptions/{subscriptionId}',
    summary: 'Ends a subscription; audited.',
    access: 'overseer',
    responses: { 200: { description: '{"subscription":Subscription}' }, 404: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/modules/{id}/csv-template',
    summary: 'The CSV an agency fills in for this module: the upload header and one row per metric.',
    access: 'public',
    responses: { 200: { description: 'CSV', contentType: 'text/csv' }, 404: 'ErrorBody' },
  },
  {
    method: 'post',
    path: '/v1/webhooks',
    summary:
      'Subscribes an oversight system to every alert version: each is POSTed as JSON (WebhookPayload; or, with format ' +
      '`slack`, a Slack incoming-webhook message, with `teams`, a Microsoft Teams MessageCard) with ' +
      '`X-Glasshouse-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, `X-Glasshouse-Timestamp` (epoch s) and ' +
      '`X-Glasshouse-Delivery`; retried with capped exponential backoff; failures kept. The secret is returned once. Audited.',
    access: 'admin',
    body: 'WebhookCreate',
    responses: { 201: 'WebhookCreated', 400: 'ErrorBody', 503: 'ErrorBody' },
  },
  {
    method: 'get',
    path: '/v1/webhooks',
    summary: 'Every subscription (never its secret) with the status of its recent deliveries.',
    access: 'admin',
    responses: { 200: { description: '{"items":[Webhook]}' } },
  },
  {
    method: 'get',
    path: '/v1/webhooks/{id}/deliveries',
    summary: 'A subscription’s deliveries, newest first; `state=failed` lists the kept failures.',
    access: 'admin',
    query: { state: 'pending, retrying, delivered or failed', limit: '1-1000 (default 100)' },
    responses: { 200: { description: '{"items":[WebhookDelivery]}' }, 400: 'ErrorBody', 404: 'ErrorBody' },
  },
  {
    method: 'delete',
    path: '/v1/webhooks/{id}',
    summary: 'Ends a subscription; audited. Its delivery records are kept.',
    access: 'admin',
    responses: { 200: { description: '{"webhook":Webhook}' }, 404: 'ErrorBody' },
  },
];

/** JSON Schema (draft 2020-12) of one contract, as agencies in other languages validate with it. */
export function jsonSchemaOf(name: ContractName, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  return z.toJSONSchema(contracts[name], { io, unrepresentable: 'any' }) as Record<string, unknown>;
}

const securitySchemes = {
  agency: { type: 'http', scheme: 'bearer', description: 'Agency API key' },
  overseer: { type: 'http', scheme: 'bearer', description: 'Oversight token' },
  admin: { type: 'http', scheme: 'bearer', description: 'Admin token (named, audited)' },
};

/** Builds the OpenAPI 3.1 document from `endpoints` and the zod contracts. */
export function openApiDocument(version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  const ref = (name: ContractName) => {
    schemas[name] ??= stripDialect(jsonSchemaOf(name, 'output'));
    return { $ref: `#/components/schemas/${name}` };
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const endpoint of endpoints) {
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(endpoint.responses)) {
      responses[status] =
        typeof answer === 'string'
          ? { description: answer, content: { 'application/json': { schema: ref(answer) } } }
          : {
              description: answer.description,
              ...(answer.contentType ? { content: { [answer.contentType]: {} } } : {}),
            };
    }
    if (endpoint.access !== 'public') {
      responses['401'] ??= {
        description: 'missing or wrong credentials',
        content: { 'application/json': { schema: ref('ErrorBody') } },
      };
      responses['403'] ??= {
        description: 'credentials without this scope',
        content: { 'application/json': { schema: ref('ErrorBody') } },
      };
    }
    const parameters = [
      ...[...endpoint.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...Object.entries(endpoint.query ?? {}).map(([name, description]) => ({
        name,
        in: 'query',
        description,
        schema: { type: 'string' },
      })),
    ];
    paths[endpoint.path] ??= {};
    paths[endpoint.path]![endpoint.method] = {
      summary: endpoint.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(endpoint.access !== 'public' ? { security: [{ [endpoint.access]: [] }] } : {}),
      ...(endpoint.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: stripDialect(jsonSchemaOf(endpoint.body, 'input')) } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Glasshouse',
      version,
      description: 'Public performance of policy modules against their goals.',
    },
    paths,
    components: { schemas, securitySchemes },
  };
}

function stripDialect(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}
