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
      'Report metric events: {"events":[MetricEvent,...]} (1-1000, at most 1 MiB) or application/x-ndjson, one event per line. ' +
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
