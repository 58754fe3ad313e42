import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDurably } from './admin-token.js';
import { ConfigError } from './errors.js';

/** `<data dir>/audit-log-key.pem`: the log key generated on the first run when none is configured. */
export function generatedLogKeyFile(dataDir: string): string {
  return join(dataDir, 'audit-log-key.pem');
}

/**
 * The Ed25519 key that signs the audit log's checkpoints: from `GLASSHOUSE_LOG_KEY_FILE` (PKCS#8
 * PEM) when set, else the one kept under the data directory, generated (mode 0600) on the first run.
 */
export async function resolveLogKey(
  configured: string | undefined,
  dataDir: string,
): Promise<{ key: KeyObject; file: string; generated: boolean }> {
  if (configured !== undefined)
    return { key: await readKey(configured, 'GLASSHOUSE_LOG_KEY_FILE'), file: configured, generated: false };
  const file = generatedLogKeyFile(dataDir);
  return { ...(await loadOrGenerateKey(file)), file };
}

/** The Ed25519 key kept in `file`, generated there (mode 0600, written atomically) when it does not exist. */
export async function loadOrGenerateKey(file: string): Promise<{ key: KeyObject; generated: boolean }> {
  let pem: string | undefined;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new ConfigError(`cannot read the log key ${file}: ${(err as Error).message}`);
  }
  if (pem !== undefined) return { key: parseKey(pem, file), generated: false };
  const { privateKey } = generateKeyPairSync('ed25519');
  await writeDurably(file, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  return { key: privateKey, generated: true };
}

/** Reads a PKCS#8 PEM Ed25519 private key; a problem names `what` (a variable or an option). */
export async function readKey(path: string, what: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  return parseKey(pem, `${what} (${path})`);
}

function parseKey(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ConfigError(`${what}: not a PKCS#8 PEM private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new ConfigError(`${what}: the key is ${key.asymmetricKeyType}, not Ed25519`);
  return key;
}
