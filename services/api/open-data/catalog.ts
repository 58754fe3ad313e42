import { toTimestamp } from '../../../schemas/common.js';
import type { ModuleVersion, Sociotechnician } from '../../../schemas/registry.js';

const knownLicenses: Record<string, { path: string; title: string }> = {
  'CC-BY-4.0': {
    path: 'https://creativecommons.org/licenses/by/4.0/',
    title: 'Creative Commons Attribution 4.0',
  },
  'CC-BY-SA-4.0': {
    path: 'https://creativecommons.org/licenses/by-sa/4.0/',
    title: 'Creative Commons Attribution Share-Alike 4.0',
  },
  'CC0-1.0': {
    path: 'https://creativecommons.org/publicdomain/zero/1.0/',
    title: 'CC0 1.0 Public Domain Dedication',
  },
  'ODC-By-1.0': {
    path: 'https://opendatacommons.org/licenses/by/1-0/',
    title: 'Open Data Commons Attribution 1.0',
  },
  'ODbL-1.0': { path: 'https://opendatacommons.org/licenses/odbl/1-0/', title: 'Open Database License 1.0' },
  'PDDL-1.0': { path: 'https://opendatacommons.org/licenses/pddl/1-0/', title: 'Open Data Commons PDDL 1.0' },
};

/** The data licence as a Data Package `licenses` entry: an SPDX id with its URL, or a URL. */
export function licenseOf(setting: string): { name: string; path: string; title: string } {
  if (/^https?:\/\//.test(setting)) return { name: 'other', path: setting, title: setting };
  const known = knownLicenses[setting];
  return known
    ? { name: setting, ...known }
    : { name: setting, path: `https://spdx.org/licenses/${setting}.html`, title: setting };
}

export interface CatalogInput {
  baseUrl: string;
  modules: ModuleVersion[];
  people: (id: string) => Sociotechnician | undefined;
  /** First and last observedAt stored per module (absent: no events yet). */
  coverage: Map<string, { fromMs: number; toMs: number }>;
  license: string;
  publisher: string;
}

/**
 * The DCAT catalog (JSON-LD, DCAT 2 / DCAT-AP terms): one dataset per module, with its title,
 * description, publisher, licence, temporal coverage, update frequency (continuous: events stream
 * in) and distributions (the data package, the raw events export, the breakdowns).
 */
export function dcatCatalog(input: CatalogInput) {
  const license = licenseOf(input.license);
  const publisher = { '@type': 'foaf:Agent', 'foaf:name': input.publisher };
  const api = (path: string) => `${input.baseUrl}${path}`;
  return {
    '@context': {
      dcat: 'http://www.w3.org/ns/dcat#',
      dct: 'http://purl.org/dc/terms/',
      foaf: 'http://xmlns.com/foaf/0.1/',
      vcard: 'http://www.w3.org/2006/vcard/ns#',
      xsd: 'http://www.w3.org/2001/XMLSchema#',
    },
    '@id': api('/v1/open-data/catalog.jsonld'),
    '@type': 'dcat:Catalog',
    'dct:title': 'Glasshouse open data',
    'dct:description':
      'Performance of public policy modules against their public goals: raw reports, daily rollups, alerts and the registry history of each module.',
    'dct:publisher': publisher,
    'dct:license': { '@id': license.path },
    'foaf:homepage': { '@id': api('/') },
    'dcat:dataset': input.modules
      .filter((m) => m.status === 'active' || input.coverage.has(m.id))
      .map((m) => {
        const owner = input.people(m.owner);
        const coverage = input.coverage.get(m.id);
        return {
          '@id': api(`/v1/modules/${m.id}`),
          '@type': 'dcat:Dataset',
          'dct:identifier': m.id,
          'dct:title': m.title,
          'dct:description': m.summary || m.title,
          'dcat:keyword': [m.domain],
          'dct:publisher': publisher,
          'dcat:contactPoint': {
            '@type': 'vcard:Individual',
            'vcard:fn': owner?.name ?? m.owner,
            'vcard:hasUID': { '@id': api(`/v1/sociotechnicians/${m.owner}`) },
          },
          'dct:license': { '@id': license.path },
          'dct:modified': { '@value': m.updatedAt, '@type': 'xsd:dateTime' },
          'dct:accrualPeriodicity': { '@id': 'http://purl.org/cld/freq/continuous' },
          ...(coverage
            ? {
                'dct:temporal': {
                  '@type': 'dct:PeriodOfTime',
                  'dcat:startDate': { '@value': toTimestamp(coverage.fromMs), '@type': 'xsd:dateTime' },
                  'dcat:endDate': { '@value': toTimestamp(coverage.toMs), '@type': 'xsd:dateTime' },
                },
              }
            : {}),
          'dcat:distribution': [
            {
              '@type': 'dcat:Distribution',
              'dct:title': 'Data package (CSV and Parquet, with datapackage.json)',
              'dcat:downloadURL': { '@id': api(`/v1/open-data/${m.id}.zip`) },
              'dcat:mediaType': 'application/zip',
              'dct:conformsTo': { '@id': 'https://specs.frictionlessdata.io/data-package/' },
              'dct:license': { '@id': license.path },
            },
            {
              '@type': 'dcat:Distribution',
              'dct:title': 'Raw events (NDJSON or CSV, by time range)',
              'dcat:accessURL': { '@id': api(`/v1/modules/${m.id}/events`) },
              'dcat:mediaType': 'application/x-ndjson',
              'dct:license': { '@id': license.path },
            },
          ],
        };
      }),
  };
}
