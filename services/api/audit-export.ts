import { readFile } from 'node:fs/promises';
import type { AuditVerification } from '../../schemas/audit.js';
import { ChainVerifier } from '../core/audit/chain.js';
import { GlasshouseError } from '../runtime/errors.js';

/** Entries per request when reading a server's export. */
const pageSize = 1_000;

/**
 * The entries of an exported audit log, in order: from a server (`http(s)://host[:port]`, or its
 * `/v1/audit` URL, every page followed), or from a file holding a JSON array, a `{"items":[...]}`
 * page, or one entry per line (NDJSON).
 */
export async function* readAuditExport(
  source: string,
  fetchImpl: typeof fetch = fetch,
): AsyncGenerator<unknown> {
  if (/^https?:\/\//i.test(source)) {
    const base = new URL(source);
    if (!base.pathname.endsWith('/v1/audit')) base.pathname = `${base.pathname.replace(/\/+$/, '')}/v1/audit`;
    let after = 0;
    for (;;) {
      const url = new URL(base);
      url.searchParams.set('after', String(after));
      url.searchParams.set('limit', String(pageSize));
      const response = await fetchImpl(url);
      if (!response.ok) throw new GlasshouseError('export_unavailable', `${url} answered ${response.status}`);
      const page = (await response.json()) as { items?: unknown; next?: unknown };
      if (!Array.isArray(page.items))
        throw new GlasshouseError('export_malformed', `${url} did not answer {"items":[...]}`);
      yield* page.items;
      if (typeof page.next !== 'string' || page.items.length === 0) return;
      const next = Number(page.next);
      if (!Number.isInteger(next) || next <= after)
        throw new GlasshouseError('export_malformed', `${url} answered a cursor that does not advance`);
      after = next;
    }
  }
  const text = await readFile(source, 'utf8');
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{"items"')) {
    const parsed = JSON.parse(trimmed) as unknown;
    const items = Array.isArray(parsed) ? parsed : (parsed as { items?: unknown }).items;
    if (!Array.isArray(items))
      throw new GlasshouseError('export_malformed', `${source} holds no list of entries`);
    yield* items;
    return;
  }
  for (const [index, line] of trimmed.split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      yield JSON.parse(line);
    } catch {
      throw new GlasshouseError('export_malformed', `${source} line ${index + 1} is not JSON`);
    }
  }
}

/** Recomputes an exported chain without trusting whoever served it. */
export async function verifyExport(
  source: string,
  fetchImpl: typeof fetch = fetch,
): Promise<AuditVerification> {
  const verifier = new ChainVerifier();
  for await (const entry of readAuditExport(source, fetchImpl)) if (!verifier.push(entry)) break;
  return verifier.result();
}
