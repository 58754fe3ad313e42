import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import yazl from 'yazl';
import { Slug } from '../../../schemas/common.js';
import { GlasshouseError } from '../../runtime/errors.js';
import type { ApiDeps } from '../deps.js';
import { moduleOr404, moduleVersions } from '../module-versions.js';
import { dcatCatalog, licenseOf } from '../open-data/catalog.js';
import { writePackage } from '../open-data/package.js';

function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * Open data for portals and researchers: `GET /v1/open-data/catalog.jsonld` (DCAT) and
 * `GET /v1/open-data/:moduleId.zip` (a Frictionless Data Package of the module, CSV and Parquet).
 * A package is written to a scratch directory page by page, then streamed out as a zip and removed;
 * packages share the events export's bounds (`deps.exports`: 429 with Retry-After).
 */
export function openDataRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/open-data/catalog.jsonld', async (request, reply) => {
    const modules = deps.registry.modules();
    const coverage = new Map<string, { fromMs: number; toMs: number }>();
    for (const m of modules) {
      const where = [{ column: 'module_id', op: '=' as const, value: m.id }];
      const [first] = await deps.store.select('metric_events', {
        where,
        orderBy: [{ column: 'observed_ms' }],
        columns: ['observed_ms'],
        limit: 1,
      });
      if (!first) continue;
      const last = await deps.store.select('metric_events', {
        where,
        orderBy: [{ column: 'observed_ms', direction: 'desc' }],
        columns: ['observed_ms'],
        limit: 1,
      });
      coverage.set(m.id, { fromMs: first.observed_ms, toMs: last[0]?.observed_ms ?? first.observed_ms });
    }
    void reply.header('content-type', 'application/ld+json; charset=utf-8');
    return dcatCatalog({
      baseUrl: baseUrl(request),
      modules,
      people: (id) => deps.registry.sociotechnician(id),
      coverage,
      license: deps.openData.license,
      publisher: deps.openData.publisher,
    });
  });

  app.get<{ Params: { file: string } }>('/v1/open-data/:file', async (request, reply) => {
    const match = /^(.*)\.zip$/.exec(request.params.file);
    const id = match ? Slug.safeParse(match[1]) : undefined;
    if (!id?.success)
      throw new GlasshouseError('not_found', 'open data: catalog.jsonld, or <moduleId>.zip', { status: 404 });
    const module = moduleOr404(deps, id.data);
    const release = deps.exports.admit(request.ip);
    const dir = await mkdtemp(join(tmpdir(), 'glasshouse-package-'));
    const cleanup = async () => {
      release();
      await rm(dir, { recursive: true, force: true });
    };
    let files: Awaited<ReturnType<typeof writePackage>>;
    try {
      const writer = await deps.tableFiles(dir);
      try {
        files = await writePackage({
          store: deps.store,
          module,
          versions: await moduleVersions(deps, module.id),
          writer,
          dir,
          license: licenseOf(deps.openData.license),
          publisher: deps.openData.publisher,
          now: deps.clock.now(),
        });
      } finally {
        await writer.close();
      }
    } catch (err) {
      await cleanup();
      throw err;
    }
    const zip = new yazl.ZipFile();
    const mtime = new Date(deps.clock.now());
    for (const file of files) zip.addFile(file.path, `${module.id}/${file.name}`, { mtime });
    zip.end();
    // The scratch files go once the zip has been read to the end, or the client went away.
    let cleaned = false;
    const once = () => {
      if (cleaned) return;
      cleaned = true;
      void cleanup();
    };
    zip.outputStream.once('end', once);
    reply.raw.once('close', once);
    void reply
      .header('content-type', 'application/zip')
      .header('content-disposition', `attachment; filename="${module.id}.zip"`);
    return reply.send(zip.outputStream);
  });
}
