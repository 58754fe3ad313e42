import { createHash } from 'node:crypto';
import type { ModuleVersion, OtlpMapping } from '../../../schemas/registry.js';
import {
  type OtlpAnyValue,
  type OtlpExportRequest,
  type OtlpKeyValue,
  type OtlpNumberDataPoint,
  temporality,
} from './request.js';

/** One data point a module takes, before cumulative sums become deltas. */
export interface MappedPoint {
  moduleId: string;
  metric: string;
  /** `gauge` and delta or non-monotonic sums are taken as they are; `cumulative` needs the series' state. */
  kind: 'value' | 'cumulative';
  /** Identifies the series (resource, scope, metric, attributes, target), never its start time. */
  seriesId: string;
  /** Derived from the series and the point's time: an exporter's retry sends the same eventId. */
  eventId: string;
  startNs: string;
  timeNs: string;
  observedAt: number;
  value: number;
  dimensions?: Record<string, string>;
}

export interface MappedExport {
  points: MappedPoint[];
  /** Data points no module takes, by reason (the words go into `partialSuccess.errorMessage`). */
  refused: Map<string, number>;
}

/**
 * The data points of an export that the agency's modules take, per their `otlp` mappings: a point of
 * a mapped OTel metric whose attributes (point attributes over resource attributes) include every
 * pair the mapping names. Gauges and sums only; histograms and summaries are refused with the reason,
 * as are points of metrics no module maps. One point may feed several modules.
 */
export function mapExport(request: OtlpExportRequest, modules: readonly ModuleVersion[]): MappedExport {
  const byName = new Map<string, Array<{ module: ModuleVersion; mapping: OtlpMapping }>>();
  for (const module of modules) {
    for (const mapping of module.otlp ?? []) {
      const list = byName.get(mapping.otelMetric) ?? [];
      list.push({ module, mapping });
      byName.set(mapping.otelMetric, list);
    }
  }
  const points: MappedPoint[] = [];
  const refused = new Map<string, number>();
  const refuse = (reason: string, n: number) => {
    if (n > 0) refused.set(reason, (refused.get(reason) ?? 0) + n);
  };
  for (const resourceMetrics of request.resourceMetrics ?? []) {
    const resource = attributeMap(resourceMetrics.resource?.attributes);
    for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
      const scope = [scopeMetrics.scope?.name ?? '', scopeMetrics.scope?.version ?? ''];
      for (const metric of scopeMetrics.metrics ?? []) {
        const name = metric.name ?? '';
        const other =
          (metric.histogram?.dataPoints?.length ?? 0) +
          (metric.exponentialHistogram?.dataPoints?.length ?? 0) +
          (metric.summary?.dataPoints?.length ?? 0);
        refuse('histograms and summaries are not taken (only gauges and sums)', other);
        const sum = metric.sum;
        const dataPoints = metric.gauge?.dataPoints ?? sum?.dataPoints ?? [];
        const targets = byName.get(name);
        if (!targets) {
          refuse(`no module maps the metric "${name.slice(0, 100)}"`, dataPoints.length);
          continue;
        }
        const cumulative =
          sum !== undefined &&
          sum.aggregationTemporality === temporality.cumulative &&
          sum.isMonotonic === true;
        if (sum !== undefined && (sum.aggregationTemporality ?? 0) === temporality.unspecified) {
          refuse('a sum without aggregation temporality cannot be read', dataPoints.length);
          continue;
        }
        for (const point of dataPoints) {
          const attributes = attributeMap(point.attributes);
          const value = pointValue(point);
          const timeNs = nanos(point.timeUnixNano);
          if (value === undefined || timeNs === undefined || timeNs === '0') {
            refuse('a data point without a finite value or a time', 1);
            continue;
          }
          let taken = false;
          for (const { module, mapping } of targets) {
            if (!matches(mapping, attributes, resource)) continue;
            taken = true;
            const identity = [sorted(resource), scope, name, sorted(attributes), module.id, mapping.metric];
            const dimensions = keptDimensions(mapping, attributes, resource);
            points.push({
              moduleId: module.id,
              metric: mapping.metric,
              kind: cumulative ? 'cumulative' : 'value',
              seriesId: digest(identity).slice(0, 32),
              eventId: `otlp-${digest([...identity, timeNs]).slice(0, 48)}`,
              startNs: nanos(point.startTimeUnixNano) ?? '0',
              timeNs,
              observedAt: Number(BigInt(timeNs) / 1_000_000n),
              value,
              ...(dimensions ? { dimensions } : {}),
            });
          }
          if (!taken) refuse(`no mapping of "${name.slice(0, 100)}" matches the point's attributes`, 1);
        }
      }
    }
  }
  return { points, refused };
}

/** An attribute value as text: strings as they are, numbers and booleans written out, the rest as JSON. */
export function attributeText(value: OtlpAnyValue | undefined): string {
  if (!value) return '';
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return String(value.boolValue);
  if (value.intValue !== undefined) return String(value.intValue);
  if (value.doubleValue !== undefined) return String(value.doubleValue);
  return JSON.stringify(value);
}

function attributeMap(list: OtlpKeyValue[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const kv of list ?? []) if (kv.key !== undefined) map.set(kv.key, attributeText(kv.value));
  return map;
}

function sorted(map: Map<string, string>): Array<[string, string]> {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function matches(
  mapping: OtlpMapping,
  attributes: Map<string, string>,
  resource: Map<string, string>,
): boolean {
  for (const [key, want] of Object.entries(mapping.attributes ?? {})) {
    if ((attributes.get(key) ?? resource.get(key)) !== want) return false;
  }
  return true;
}

function keptDimensions(
  mapping: OtlpMapping,
  attributes: Map<string, string>,
  resource: Map<string, string>,
): Record<string, string> | undefined {
  let dimensions: Record<string, string> | undefined;
  for (const key of mapping.dimensions ?? []) {
    const value = attributes.get(key) ?? resource.get(key);
    if (value === undefined) continue;
    dimensions ??= {};
    dimensions[key] = value;
  }
  return dimensions;
}

function pointValue(point: OtlpNumberDataPoint): number | undefined {
  const value = point.asDouble ?? (point.asInt === undefined ? undefined : Number(point.asInt));
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

function nanos(value: string | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  return /^\d{1,20}$/.test(text) ? BigInt(text).toString() : undefined;
}

function digest(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}
