import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { type AlertEvent, type AlertEventMs, storedAlert } from '../../../schemas/alert.js';
import { toTimestamp } from '../../../schemas/common.js';
import type { ModuleVersion } from '../../../schemas/registry.js';
import { openDimensions } from '../../core/validation/index.js';
import { dayMs } from '../../ports/daily.js';
import type { Store } from '../../ports/store.js';
import type { FileColumn, TableFileWriter } from '../../ports/table-files.js';
import type { Row } from '../../ports/tables.js';
import { csvRecord } from '../csv.js';
import {
  alertsTable,
  dailyTable,
  eventsTable,
  type PackageTable,
  registryTable,
  type TableRow,
  tableSchema,
} from './tables.js';

/** Rows read from the store per page while a package is written. */
export const packagePageRows = 10_000;

/** A file of the package on disk, and its name inside the zip. */
export interface PackageFile {
  name: string;
  path: string;
}

export interface PackageInput {
  store: Store;
  module: ModuleVersion;
  versions: ModuleVersion[];
  writer: TableFileWriter;
  dir: string;
  license: { name: string; path: string; title: string };
  publisher: string;
  now: number;
}

/** One table being written: its CSV file stream and its Parquet table, fed page by page. */
class TableOut {
  private readonly csv: WriteStream;
  readonly csvPath: string;
  readonly parquetPath: string;
  rows = 0;

  constructor(
    readonly table: PackageTable,
    private readonly writer: TableFileWriter,
    dir: string,
  ) {
    this.csvPath = join(dir, `${table.name}.csv`);
    this.parquetPath = join(dir, `${table.name}.parquet`);
    this.csv = createWriteStream(this.csvPath);
  }

  async start(): Promise<void> {
    await this.writer.create(this.table.name, this.table.columns);
    await this.write(csvRecord(this.table.columns.map((c) => c.name)));
  }

  async add(rows: TableRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.rows += rows.length;
    await this.writer.append(this.table.name, this.table.columns, rows);
    await this.write(
      rows.map((row) => csvRecord(row.map((v, i) => csvText(v, this.table.columns[i]!)))).join(''),
    );
  }

  async finish(): Promise<void> {
    this.csv.end();
    await once(this.csv, 'finish');
    await this.writer.writeParquet(this.table.name, this.parquetPath);
  }

  private async write(text: string): Promise<void> {
    if (!this.csv.write(text)) await once(this.csv, 'drain');
  }
}

/** A value as CSV text: times RFC 3339 (UTC), booleans true/false, null empty. */
function csvText(value: TableRow[number], column: FileColumn): string | number | null {
  if (value === null) return null;
  if (column.type === 'timestamp') return toTimestamp(value as number);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return value;
}

/**
 * Writes a module's data package into `dir`: each table as CSV and Parquet, read from the store a
 * page at a time (the daily rollups aggregated by the store's SQL), and `datapackage.json`
 * describing them (Frictionless Data Package, a Table Schema per file). Returns the files in the
 * order the zip holds them.
 */
export async function writePackage(input: PackageInput): Promise<PackageFile[]> {
  const { store, module, writer, dir } = input;
  const tables = [eventsTable, dailyTable, alertsTable, registryTable].map(
    (t) => new TableOut(t, writer, dir),
  );
  const [events, daily, alerts, registry] = tables as [TableOut, TableOut, TableOut, TableOut];
  for (const t of tables) await t.start();

  for (let offset = 0; ; offset += packagePageRows) {
    const page = await store.select('metric_events', {
      where: [{ column: 'module_id', op: '=', value: module.id }],
      orderBy: [{ column: 'observed_ms' }, { column: 'agency_id' }, { column: 'event_id' }],
      limit: packagePageRows,
      offset,
    });
    await events.add(page.map((row) => eventRow(row, module)));
    if (page.length < packagePageRows) break;
  }

  const until = (Math.floor(input.now / dayMs) + 2) * dayMs;
  for (const goal of module.goals) {
    const quantile = goal.aggregation === 'p50' ? 0.5 : goal.aggregation === 'p95' ? 0.95 : undefined;
    const rows = await store.daily({
      moduleId: module.id,
      metric: goal.metric,
      fromMs: 0,
      toMs: until,
      ...(quantile === undefined ? {} : { quantile }),
    });
    await daily.add(
      rows.map((r) => [
        goal.id,
        goal.metric,
        goal.aggregation,
        toTimestamp(r.dayMs).slice(0, 10),
        r.count,
        r.sum,
        r.min,
        r.max,
        r.sum / r.count,
        dailyValue(goal.aggregation, r),
      ]),
    );
  }

  for (let offset = 0; ; offset += packagePageRows) {
    const page = await store.select('alerts', {
      where: [{ column: 'module_id', op: '=', value: module.id }],
      orderBy: [{ column: 'opened_ms' }, { column: 'alert_id' }, { column: 'version' }],
      limit: packagePageRows,
      offset,
    });
    await alerts.add(page.map((row) => alertRow(storedAlert(row.body as AlertEvent))));
    if (page.length < packagePageRows) break;
  }

  await registry.add(
    input.versions.map((v) => [
      v.version,
      Date.parse(v.updatedAt),
      v.updatedBy,
      v.rationale,
      JSON.stringify(v),
    ]),
  );

  for (const t of tables) await t.finish();
  const descriptor = dataPackage(input, tables);
  const descriptorPath = join(dir, 'datapackage.json');
  const out = createWriteStream(descriptorPath);
  out.end(`${JSON.stringify(descriptor, null, 2)}\n`);
  await once(out, 'finish');
  return [
    { name: 'datapackage.json', path: descriptorPath },
    ...tables.flatMap((t) => [
      { name: `data/${t.table.name}.csv`, path: t.csvPath },
      { name: `data/${t.table.name}.parquet`, path: t.parquetPath },
    ]),
  ];
}

function eventRow(row: Row<'metric_events'>, module: ModuleVersion): TableRow {
  const dims =
    typeof row.dimensions === 'object' && row.dimensions !== null && !Array.isArray(row.dimensions)
      ? openDimensions(row.dimensions as Record<string, unknown>, module)
      : {};
  return [
    row.agency_id,
    row.event_id,
    row.metric,
    row.value,
    row.observed_ms,
    row.received_ms,
    row.late,
    row.module_version,
    JSON.stringify(dims),
  ];
}

function alertRow(a: AlertEventMs): TableRow {
  return [
    a.alertId,
    a.version,
    a.ruleId,
    a.kind,
    a.severity,
    a.state,
    a.openedMs,
    a.updatedMs,
    a.resolvedMs ?? null,
    a.observed,
    a.target,
    a.shortfall,
    a.message,
    a.acknowledgedBy ?? null,
    a.note ?? null,
  ];
}

function dailyValue(
  aggregation: string,
  r: { count: number; sum: number; min: number; max: number; lastValue: number; quantile: number | null },
): number | null {
  switch (aggregation) {
    case 'mean':
      return r.sum / r.count;
    case 'sum':
      return r.sum;
    case 'count':
      return r.count;
    case 'min':
      return r.min;
    case 'max':
      return r.max;
    case 'last':
      return r.lastValue;
    case 'rate':
      return r.sum / (dayMs / 1000);
    default:
      return r.quantile;
  }
}

/** `datapackage.json`: a Frictionless (tabular) Data Package, one resource per file. */
function dataPackage(input: PackageInput, tables: TableOut[]) {
  const { module } = input;
  return {
    profile: 'tabular-data-package',
    name: `glasshouse-${module.id}`,
    id: `glasshouse:module:${module.id}`,
    title: module.title,
    description: module.summary || module.title,
    keywords: [module.domain, 'performance', 'public administration'],
    created: toTimestamp(input.now),
    version: `${module.version}.0.0`,
    licenses: [input.license],
    contributors: [{ title: input.publisher, role: 'publisher' }],
    resources: tables.flatMap((t) => {
      const schema = tableSchema(t.table);
      const base = { title: t.table.title, description: t.table.description, schema };
      return [
        {
          profile: 'tabular-data-resource',
          name: t.table.name,
          path: `data/${t.table.name}.csv`,
          format: 'csv',
          mediatype: 'text/csv',
          encoding: 'utf-8',
          dialect: {
            delimiter: ',',
            lineTerminator: '\r\n',
            quoteChar: '"',
            doubleQuote: true,
            header: true,
          },
          ...base,
          description: `${t.table.description} Text that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return) is written with a leading ' ; the Parquet file holds it as it is.`,
        },
        {
          profile: 'tabular-data-resource',
          name: `${t.table.name}-parquet`,
          path: `data/${t.table.name}.parquet`,
          format: 'parquet',
          mediatype: 'application/vnd.apache.parquet',
          ...base,
        },
      ];
    }),
  };
}
