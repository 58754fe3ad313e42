import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const roles = ['api', 'ingest', 'gateway', 'processor'];

/** Every import of every .ts file under `dir`: the importing file and the imported path (repo-relative, or a package name). */
async function importsUnder(dir: string): Promise<Array<{ file: string; target: string }>> {
  const found: Array<{ file: string; target: string }> = [];
  for (const entry of await readdir(join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const file = relative(root, path);
    const text = await readFile(path, 'utf8');
    for (const match of text.matchAll(
      /(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g,
    )) {
      const spec = match[1] ?? match[2]!;
      found.push({
        file,
        target: spec.startsWith('.') ? relative(root, resolve(dirname(path), spec)) : spec,
      });
    }
  }
  return found;
}

const folderOf = (path: string) => path.split('/').slice(0, 2).join('/');
const show = (list: Array<{ file: string; target: string }>) =>
  list.map(({ file, target }) => `${file} -> ${target}`);

describe('the import rules of the layering (STYLE.md)', () => {
  it('infra imports nothing from services', async () => {
    expect(show((await importsUnder('infra')).filter((i) => i.target.startsWith('services/')))).toEqual([]);
  });

  it('runtime imports no role, and no role imports another role', async () => {
    const all = await importsUnder('services');
    const roleOf = (path: string) => roles.find((role) => folderOf(path) === `services/${role}`);
    const crossing = all.filter(({ file, target }) => {
      const to = roleOf(target);
      if (!to) return false;
      if (folderOf(file) === 'services/runtime') return true;
      const from = roleOf(file);
      return from !== undefined && from !== to;
    });
    expect(show(crossing)).toEqual([]);
  });

  it('core imports no runtime, adapter or role, and no I/O module', async () => {
    const bad = (await importsUnder('services/core')).filter(
      ({ target }) =>
        /^services\/(runtime|adapters|api|ingest|gateway|processor|oversight|demo)\//.test(target) ||
        /^node:(fs|net|http|https|child_process|dgram)/.test(target),
    );
    expect(show(bad)).toEqual([]);
  });

  it('ports import no adapter or role; only adapters import the Kafka, ClickHouse and DuckDB clients', async () => {
    const ports = (await importsUnder('services/ports')).filter(({ target }) =>
      /^services\/(adapters|api|ingest|gateway|processor|oversight|demo)\//.test(target),
    );
    expect(show(ports)).toEqual([]);
    const clients = (await importsUnder('services')).filter(
      ({ file, target }) =>
        /^(kafkajs|@clickhouse\/client|@duckdb\/node-api)$/.test(target) &&
        !file.startsWith('services/adapters/'),
    );
    expect(show(clients)).toEqual([]);
  });

  it('one adapter never imports another (shared names live in ports)', async () => {
    const adapterOf = (path: string) =>
      /^services\/adapters\/(kafka|memory|clickhouse|duckdb)\//.exec(path)?.[1];
    const crossing = (await importsUnder('services/adapters')).filter(({ file, target }) => {
      const to = adapterOf(target);
      return to !== undefined && to !== adapterOf(file);
    });
    expect(show(crossing)).toEqual([]);
  });
});
