import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Principal, PrincipalKind } from '../../ports/registry.js';

/** The bootstrap admin: the holder of `GLASSHOUSE_ADMIN_TOKEN`. */
export const bootstrapAdmin: Principal = { kind: 'admin', id: 'bootstrap', name: 'Bootstrap admin' };

/**
 * Credentials are `gh_<kind>_<id>_<64 hex>`: the kind and id let a server find the one stored hash to
 * compare with, and the 256 random bits are the secret. Ids are slugs and may contain `_`, but the
 * random part is hex, so the last `_` always separates them.
 */
const secretPattern = /^gh_(admin|agency|overseer)_([a-z0-9][a-z0-9_-]{0,63})_([0-9a-f]{64})$/;

/** Issues a new secret for a principal. Shown once; only its salted hash is kept. */
export function issueSecret(kind: PrincipalKind, id: string): string {
  return `gh_${kind}_${id}_${randomBytes(32).toString('hex')}`;
}

/** Who a secret claims to belong to, or undefined when it is not a Glasshouse credential. */
export function parseSecret(secret: string): { kind: PrincipalKind; id: string } | undefined {
  const match = secretPattern.exec(secret);
  return match ? { kind: match[1] as PrincipalKind, id: match[2]! } : undefined;
}

// scrypt parameters (RFC 7914): N=2^14, r=8, p=1 costs ~50 ms and 16 MiB, so successful checks are cached.
const params = { N: 16_384, r: 8, p: 1 } as const;
const keyLength = 32;

function derive(secret: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, { N, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** A salted scrypt hash: `scrypt$N$r$p$<salt base64url>$<hash base64url>`. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(secret, salt, params.N, params.r, params.p);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/** Compares a secret with a stored hash in constant time. A malformed hash never matches. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every(Number.isInteger) || N > 1_048_576 || r > 32 || p > 16) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== keyLength) return false;
  const actual = await derive(secret, Buffer.from(parts[4]!, 'base64url'), N, r, p);
  return timingSafeEqual(actual, expected);
}

/** Constant-time equality of two secrets of any length (digests first, so lengths do not leak). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** SHA-256 of a secret: the key of the verification cache, so the cache never holds secrets. */
export function secretDigest(secret: string): string {
  return digest(secret).toString('hex');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The key of the credential pre-check: `HMAC-SHA256(key, secret)` is stored beside each scrypt hash
 * (`secretCheck`), so a bogus secret is refused with one HMAC, in constant time, before it can take a
 * scrypt slot. Derived from the command key, which every role of a deployment shares; a role with
 * another key sees a foreign key id and falls back to the bounded scrypt path.
 */
export function derivePrecheckKey(commandKey: Buffer): Buffer {
  return createHmac('sha256', commandKey).update('glasshouse credential pre-check').digest();
}

/** `hmac-sha256$<key id>$<tag hex>`: what is stored beside a scrypt hash. */
export function secretCheck(key: Buffer, secret: string): string {
  return `hmac-sha256$${keyId(key)}$${createHmac('sha256', key).update(secret, 'utf8').digest('hex')}`;
}

/**
 * The pre-check of a secret against a stored check: `match` (the secret is very likely right; scrypt
 * still decides), `mismatch` (certainly wrong: no scrypt needed) or `unknown` (no check stored, or one
 * made under another key).
 */
export function precheck(
  key: Buffer,
  secret: string,
  stored: string | undefined,
): 'match' | 'mismatch' | 'unknown' {
  if (stored === undefined) return 'unknown';
  const parts = stored.split('$');
  if (parts.length !== 3 || parts[0] !== 'hmac-sha256' || parts[1] !== keyId(key)) return 'unknown';
  const expected = Buffer.from(parts[2]!, 'hex');
  if (expected.length !== 32) return 'unknown';
  const actual = createHmac('sha256', key).update(secret, 'utf8').digest();
  return timingSafeEqual(actual, expected) ? 'match' : 'mismatch';
}

const keyIds = new WeakMap<Buffer, string>();

/** A short public name of a key (not the key): tells a check made under this key from others. */
function keyId(key: Buffer): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = createHmac('sha256', key).update('glasshouse key id').digest('hex').slice(0, 16);
    keyIds.set(key, id);
  }
  return id;
}
