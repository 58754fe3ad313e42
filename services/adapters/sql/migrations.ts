import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { MigrationError } from './errors.js';

/** One versioned migration file, `NNNN_name.sql`. Applied files are immutable: their checksum is recorded. */
export interface Migration {
  /** The file name without `.sql`, e.g. `0001_initial`; migrations apply in id order. */
  id: string;
  checksum: string;
  statements: string[];
  /** From a `-- requires-version: X.Y` line: skipped (not recorded) on older servers. */
  requiresVersion?: [number, number];
}

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads every migration in `dir`, sorted by id. Other files are ignored; a malformed name is an error. */
export async function loadMigrations(dir: URL): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  const numbers = new Set<string>();
  for (const name of names) {
    const match = fileName.exec(name);
    if (!match) throw new MigrationError(`migration file ${name} must be named NNNN_snake_name.sql`);
    if (numbers.has(match[1]!)) throw new MigrationError(`two migrations share the number ${match[1]}`);
    numbers.add(match[1]!);
    const text = await readFile(new URL(name, dir), 'utf8');
    const statements = splitStatements(text);
    if (statements.length === 0) throw new MigrationError(`migration ${name} has no statements`);
    const requires = /^--\s*requires-version:\s*(\d+)\.(\d+)\s*$/m.exec(text);
    migrations.push({
      id: name.slice(0, -'.sql'.length),
      checksum: createHash('sha256').update(text).digest('hex'),
      statements,
      ...(requires
        ? { requiresVersion: [Number(requires[1]), Number(requires[2])] as [number, number] }
        : {}),
    });
  }
  return migrations;
}

/**
 * Splits a migration into statements: `--` comment lines are dropped and a statement ends with a
 * line ending in `;`. Migrations are our own files, so no `;` appears inside a string literal.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('--')) continue;
    current.push(line);
    if (trimmed.endsWith(';')) {
      statements.push(current.join('\n').trim().slice(0, -1).trim());
      current = [];
    }
  }
  if (current.length > 0) statements.push(current.join('\n').trim());
  return statements.filter((s) => s.length > 0);
}

/** True when server version text such as `18.16.1` or `24.8.4.13` is at least `major.minor`. */
export function versionAtLeast(version: string, [major, minor]: [number, number]): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

/** Throws when a migration recorded as applied no longer matches its file. */
export function checkApplied(migrations: Migration[], applied: Map<string, string>): void {
  for (const m of migrations) {
    const recorded = applied.get(m.id);
    if (recorded !== undefined && recorded !== m.checksum) {
      throw new MigrationError(
        `migration ${m.id} was edited after it was applied; add a new migration instead`,
      );
    }
  }
}
