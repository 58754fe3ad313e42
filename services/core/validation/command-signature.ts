import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signs a command record: HMAC-SHA256 under `key` over the command name, the record key (the module)
 * and the record value, so a signature cannot be moved to another command, module or body.
 * Lowercase hex; it goes in the `glasshouse-signature` header.
 */
export function signCommand(key: Buffer, name: string, moduleId: string, body: string | Buffer): string {
  return createHmac('sha256', key)
    .update(`${name}\n${moduleId}\n`)
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('hex');
}

/** True when `signature` is the command's signature under `key`. Compares in constant time. */
export function commandSignatureValid(
  key: Buffer,
  name: string,
  moduleId: string,
  body: string | Buffer,
  signature: string | undefined,
): boolean {
  if (signature === undefined || !/^[0-9a-f]{64}$/.test(signature)) return false;
  const expected = Buffer.from(signCommand(key, name, moduleId, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

/** Derives the 32-byte command key from a secret the roles share (a configured key or the admin token). */
export function deriveCommandKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('glasshouse command key').digest();
}
