import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The demo agencies' API keys, kept in one file (mode 0600) so a restarted demo keeps reporting with
 * the keys it was issued: `POST /v1/agencies` shows a key only once. Without the file (another machine,
 * a deleted file) the demo revokes and reissues the key, which the audit trail records.
 */
export class AgencyKeyFile {
  private keys: Record<string, string> = {};

  constructor(private readonly path: string | undefined) {}

  /** Loads the file; a missing or unreadable file means no keys yet. Returns a problem to log, if any. */
  async load(): Promise<string | undefined> {
    if (!this.path) return undefined;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? undefined : `cannot read ${this.path} (${code ?? String(err)})`;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
        return `${this.path} is not a JSON object`;
      this.keys = Object.fromEntries(
        Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      );
      return undefined;
    } catch {
      return `${this.path} is not valid JSON`;
    }
  }

  get(agency: string): string | undefined {
    return this.keys[agency];
  }

  /** Remembers a key and writes the file atomically. Returns a problem to log, if any. */
  async set(agency: string, key: string): Promise<string | undefined> {
    this.keys[agency] = key;
    if (!this.path) return undefined;
    const temp = `${this.path}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(temp, `${JSON.stringify(this.keys, null, 2)}\n`, { mode: 0o600 });
      await chmod(temp, 0o600);
      await rename(temp, this.path);
      return undefined;
    } catch (err) {
      return `cannot write ${this.path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); keys kept in memory only`;
    }
  }
}
