import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { OtlpExportRequest } from '../../core/otlp/request.js';
import { parseJson } from '../../core/validation/index.js';
import { ValidationError } from '../../runtime/errors.js';

/** The official opentelemetry-proto definitions, vendored under `schemas/otlp/` (see its README). */
const protoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../schemas/otlp');

function loadTypes() {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot, target);
  root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', { keepCase: false });
  root.resolveAll();
  return {
    request: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
  };
}

const types = loadTypes();

/** protobufjs's plain-object form: 64-bit integers as decimal strings, enums as numbers, bytes base64. */
const objectOptions: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: String };

export type OtlpEncoding = 'protobuf' | 'json';

/** An `ExportMetricsServiceRequest` in either OTLP encoding → its plain-object form; 400 if unreadable. */
export function decodeExportRequest(body: Buffer, encoding: OtlpEncoding): OtlpExportRequest {
  try {
    if (encoding === 'protobuf') return types.request.toObject(types.request.decode(body), objectOptions);
    const parsed = parseJson(body.toString('utf8'));
    if (!parsed.ok) {
      const { position, line, column } = parsed;
      throw new ValidationError(
        `the body is not valid JSON: ${parsed.message}`,
        { position, line, column },
        'malformed_body',
      );
    }
    if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value))
      throw new ValidationError(
        'the body must be an ExportMetricsServiceRequest object',
        undefined,
        'malformed_body',
      );
    // fromObject reads the OTLP/JSON mapping (lowerCamelCase names, integer enums, 64-bit integers as
    // strings or numbers) into the same message the protobuf encoding gives; unknown fields are ignored.
    return types.request.toObject(types.request.fromObject(parsed.value), objectOptions);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError(
      `the body is not an OTLP ExportMetricsServiceRequest (${encoding}): ${(err as Error).message}`,
      undefined,
      'malformed_body',
    );
  }
}

export interface PartialSuccess {
  rejectedDataPoints: number;
  errorMessage: string;
}

/** The `ExportMetricsServiceResponse`, in the request's encoding; `partialSuccess` only when something was refused. */
export function encodeExportResponse(
  partial: PartialSuccess | undefined,
  encoding: OtlpEncoding,
): Buffer | string {
  const body = partial ? { partialSuccess: partial } : {};
  if (encoding === 'json')
    return JSON.stringify(
      partial
        ? { partialSuccess: { ...partial, rejectedDataPoints: String(partial.rejectedDataPoints) } }
        : {},
    );
  return Buffer.from(types.response.encode(types.response.fromObject(body)).finish());
}
