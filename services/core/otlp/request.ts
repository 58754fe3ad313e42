/**
 * The parts of an OTLP `ExportMetricsServiceRequest` Glasshouse reads, as protobufjs's `toObject`
 * gives them for both encodings (64-bit integers as decimal strings, enums as numbers, absent fields
 * absent). Field names are those of the official opentelemetry-proto definitions (schemas/otlp/).
 */
export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}

export interface OtlpKeyValue {
  key?: string;
  value?: OtlpAnyValue;
}

export interface OtlpNumberDataPoint {
  attributes?: OtlpKeyValue[];
  startTimeUnixNano?: string | number;
  timeUnixNano?: string | number;
  asDouble?: number;
  asInt?: string | number;
}

export interface OtlpMetric {
  name?: string;
  gauge?: { dataPoints?: OtlpNumberDataPoint[] };
  sum?: { dataPoints?: OtlpNumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: unknown[] };
  exponentialHistogram?: { dataPoints?: unknown[] };
  summary?: { dataPoints?: unknown[] };
}

export interface OtlpExportRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeMetrics?: Array<{
      scope?: { name?: string; version?: string };
      metrics?: OtlpMetric[];
    }>;
  }>;
}

/** `AggregationTemporality` of the metrics proto. */
export const temporality = { unspecified: 0, delta: 1, cumulative: 2 } as const;
