import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { csvField } from '../../services/api/csv.js';
import type { Row } from '../../services/ports/tables.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { type Deployment, distributed, standalone } from '../support/store-setups.js';

const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
const admin = { token: adminToken };
const day = 86_400_000;
const fixtures = new URL('../fixtures/frictionless/', import.meta.url);

/** Every entry of a zip, read with yauzl (not the library that wrote it). */
async function unzip(bytes: Buffer): Promise<Map<string, Buffer>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, z) => (err ? reject(err) : resolve(z!))),
  );
  const out = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return reject(err);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          out.set(entry.fileName, Buffer.concat(chunks));
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return out;
}

async function schema(name: string): Promise<object> {
  // Draft-04 profiles: their keywords here mean the same in the validator's default draft.
  const { $schema: _draft, ...rest } = JSON.parse(await readFile(new URL(name, fixtures), 'utf8'));
  return rest;
}

/** A Parquet file's rows, read by DuckDB and written as CSV fields the way the package's CSV writes them. */
async function parquetAsCsvFields(
  bytes: Buffer,
  fields: Array<{ name: string; type: string }>,
): Promise<string[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'gh-parquet-'));
  try {
    const file = join(dir, 'f.parquet');
    await writeFile(file, bytes);
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    const columns = fields
      .map((f) =>
        f.type === 'datetime'
          ? `strftime("${f.name}", '%Y-%m-%dT%H:%M:%S.%gZ') AS "${f.name}"`
          : f.type === 'date'
            ? `strftime("${f.name}", '%Y-%m-%d') AS "${f.name}"`
            : `"${f.name}"`,
      )
      .join(', ');
    const rows = (await c.runAndReadAll(`SELECT ${columns} FROM read_parquet('${file}')`)).getRowObjectsJS();
    c.closeSync();
    instance.closeSync();
    return rows.map((r) =>
      fields.map((f) => {
        const v = r[f.name];
        if (v === null || v === undefined) return '';
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'boolean') return v ? 'true' : 'false';
        // The CSV writer's rule for text a spreadsheet would run, undone by parse: compare like with like.
        return typeof v === 'string' ? (parse(csvField(v), { relax_quotes: true })[0]?.[0] ?? '') : String(v);
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function openDataSuite(name: string, deploy: () => Promise<Deployment>) {
  describe(`open data (${name})`, () => {
    let deployment: Deployment;
    let api: RunningApi;
    const d0 = Math.floor(Date.now() / day) * day - 2 * day;

    beforeAll(async () => {
      deployment = await deploy();
      api = await startApi({ bus: await deployment.bus(), store: deployment.store, adminToken });
      expect(
        (await api.call('PUT', '/v1/sociotechnicians/ada', { ...admin, body: { name: 'Ada Lovelace' } }))
          .status,
      ).toBe(200);
      const put = await api.call('PUT', '/v1/modules/clinic', {
        ...admin,
        body: {
          domain: 'health',
          title: 'Clinic waits',
          summary: 'Waiting times at walk-in clinics.',
          owner: 'ada',
          goals: [
            {
              id: 'wait',
              metric: 'wait_minutes',
              unit: 'min',
              direction: 'decrease',
              target: 30,
              tolerance: 0.1,
              window: '1h',
              aggregation: 'p95',
            },
          ],
          dimensions: [
            { name: 'clinic', description: 'Clinic', values: ['harbour', 'hill'], publish: 'open' },
            {
              name: 'postcode',
              description: 'Patient postcode',
              pattern: 'zq-[a-z]{3}',
              publish: 'aggregate',
            },
            { name: 'caseNumber', description: 'Case number', pattern: 'zq-case-[0-9]+', publish: 'never' },
          ],
          disclosure: { minCell: 5, base: 1 },
          rationale: '=HYPERLINK("http://x") a rationale that starts like a formula',
        },
      });
      expect(put.status).toBe(200);
      const events: Row<'metric_events'>[] = Array.from({ length: 40 }, (_, i) => ({
        module_id: 'clinic',
        agency_id: 'health',
        event_id: i === 0 ? '=cmd|calc' : `ev-${i}`,
        metric: 'wait_minutes',
        value: 10 + (i % 7) * 3.25,
        observed_ms: d0 + (i % 2) * day + i * 60_000,
        received_ms: d0 + (i % 2) * day + i * 60_000 + 500,
        // Aggregate values must stay out of every export; a never value (stored before the
        // declaration said never) too.
        dimensions: {
          clinic: i % 3 === 0 ? 'hill' : 'harbour',
          postcode: `zq-${'abcdefghij'[i % 10]}aa`,
          ...(i === 5 ? { caseNumber: 'zq-case-77' } : {}),
          ...(i === 6 ? { note: '+leaked-undeclared zq-undeclared' } : {}),
        },
        late: i === 3,
        module_version: 1,
        supersedes: '',
        retract: false,
        note: '',
      }));
      await deployment.store.insert('metric_events', events);
    });
    afterAll(async () => {
      await api?.stop();
      await deployment?.cleanup();
    });

    it('writes a data package that validates, whose Parquet files equal its CSV files', async () => {
      const answer = await fetch(`${api.url}/v1/open-data/clinic.zip`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('application/zip');
      const files = await unzip(Buffer.from(await answer.arrayBuffer()));
      expect([...files.keys()].sort()).toEqual(
        [
          'datapackage.json',
          ...['events', 'daily', 'alerts', 'registry'].flatMap((t) => [`data/${t}.csv`, `data/${t}.parquet`]),
        ]
          .map((f) => `clinic/${f}`)
          .sort(),
      );
      const descriptor = JSON.parse(files.get('clinic/datapackage.json')!.toString('utf8'));
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats.default(ajv);
      for (const profile of ['data-package.json', 'tabular-data-package.json']) {
        const validate = ajv.compile(await schema(profile));
        expect(validate(descriptor), `${profile}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
      const tableSchema = ajv.compile(await schema('table-schema.json'));
      for (const resource of descriptor.resources) {
        expect(tableSchema(resource.schema), `${resource.name}: ${ajv.errorsText(tableSchema.errors)}`).toBe(
          true,
        );
      }
      expect(descriptor.licenses[0]).toMatchObject({ name: 'CC-BY-4.0' });

      for (const resource of descriptor.resources.filter((r: { format: string }) => r.format === 'csv')) {
        const csv = parse(files.get(`clinic/${resource.path}`)!.toString('utf8')) as string[][];
        const [header, ...rows] = csv;
        expect(header).toEqual(resource.schema.fields.map((f: { name: string }) => f.name));
        const parquet = await parquetAsCsvFields(
          files.get(`clinic/${resource.path.replace(/\.csv$/, '.parquet')}`)!,
          resource.schema.fields,
        );
        expect(parquet, resource.name).toEqual(rows);
        if (resource.name === 'events') expect(rows).toHaveLength(40);
      }
      const events = parse(files.get('clinic/data/events.csv')!.toString('utf8'), { columns: true }) as Array<
        Record<string, string>
      >;
      // Formula injection: text a spreadsheet would run is written with a leading '.
      expect(events.map((e) => e.eventId)).toContain("'=cmd|calc");
      const registry = parse(files.get('clinic/data/registry.csv')!.toString('utf8'), {
        columns: true,
      }) as Array<Record<string, string>>;
      expect(registry[0]!.rationale).toMatch(/^'=HYPERLINK/);
      // Daily rollups per goal: two days of 20 reports, p95 by the rank rule.
      const daily = parse(files.get('clinic/data/daily.csv')!.toString('utf8'), { columns: true }) as Array<
        Record<string, string>
      >;
      expect(daily.map((r) => [r.goalId, r.day, r.count])).toEqual([
        ['wait', new Date(d0).toISOString().slice(0, 10), '20'],
        ['wait', new Date(d0 + day).toISOString().slice(0, 10), '20'],
      ]);
    });

    it('publishes no aggregate, never or undeclared dimension value in any public answer', async () => {
      const texts: Array<[string, string]> = [];
      const get = async (path: string, accept?: string) => {
        const r = await fetch(`${api.url}${path}`, accept ? { headers: { accept } } : {});
        expect(r.status, path).toBe(200);
        texts.push([path, await r.text()]);
      };
      const range = `from=${d0}&to=${d0 + 3 * day}`;
      await get(`/v1/modules/clinic/events?${range}`);
      await get(`/v1/modules/clinic/events?${range}`, 'text/csv');
      await get(`/v1/modules/clinic/history?goal=wait&${range}`);
      await get(`/v1/modules/clinic/breakdown?goal=wait&by=clinic&${range}`);
      await get('/v1/modules/clinic');
      await get('/v1/modules');
      await get('/v1/open-data/catalog.jsonld');
      const zip = await fetch(`${api.url}/v1/open-data/clinic.zip`);
      const files = await unzip(Buffer.from(await zip.arrayBuffer()));
      for (const [file, bytes] of files) {
        if (file.endsWith('.parquet')) {
          const rows = await parquetAsCsvFields(bytes, [{ name: 'dimensions', type: 'string' }]).catch(
            () => [],
          );
          texts.push([file, JSON.stringify(rows)]);
          // Parquet pages are compressed: the raw bytes say nothing; the decoded rows do (events only have dimensions).
        } else texts.push([file, bytes.toString('utf8')]);
      }
      // The open values do appear (the scan can see dimensions), the others nowhere.
      expect(texts.some(([, t]) => t.includes('harbour'))).toBe(true);
      expect(texts.find(([f]) => f === 'clinic/data/events.parquet')?.[1]).toContain('harbour');
      for (const [where, text] of texts) {
        expect(text, where).not.toMatch(/zq-[a-j]aa|zq-case-77|zq-undeclared/);
      }
    });

    it('describes every module in a DCAT catalog', async () => {
      const answer = await fetch(`${api.url}/v1/open-data/catalog.jsonld`);
      expect(answer.headers.get('content-type')).toContain('application/ld+json');
      const catalog = await answer.json();
      expect(catalog['@type']).toBe('dcat:Catalog');
      const dataset = catalog['dcat:dataset'].find(
        (d: Record<string, unknown>) => d['dct:identifier'] === 'clinic',
      );
      expect(dataset).toMatchObject({
        'dct:title': 'Clinic waits',
        'dct:description': 'Waiting times at walk-in clinics.',
        'dct:license': { '@id': 'https://creativecommons.org/licenses/by/4.0/' },
        'dct:accrualPeriodicity': { '@id': 'http://purl.org/cld/freq/continuous' },
        'dcat:contactPoint': { 'vcard:fn': 'Ada Lovelace' },
        'dct:temporal': {
          'dcat:startDate': { '@value': new Date(d0).toISOString() },
          'dcat:endDate': { '@value': new Date(d0 + day + 39 * 60_000).toISOString() },
        },
      });
      expect(dataset['dcat:distribution'][0]['dcat:downloadURL']['@id']).toBe(
        `${api.url}/v1/open-data/clinic.zip`,
      );
      expect((await fetch(`${api.url}/v1/open-data/nope.zip`)).status).toBe(404);
      expect((await fetch(`${api.url}/v1/open-data/clinic.tar`)).status).toBe(404);
    });
  });
}

openDataSuite('in-process bus + DuckDB', () => standalone('open-data'));
openDataSuite('Kafka + ClickHouse', () => distributed('open-data'));
