import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>`. */
export const signatureHeader = 'x-glasshouse-signature';
/** Header carrying the send time in epoch seconds (the body's `sentAt` says the same, signed). */
export const timestampHeader = 'x-glasshouse-timestamp';
export const deliveryHeader = 'x-glasshouse-delivery';

/** The signature header value of a body: `sha256=` + hex HMAC-SHA256(secret, body bytes). */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Checks a received signature header against the raw body in constant time (what a receiver does). */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A fresh signing secret: 32 random bytes, hex. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('hex')}`;
}
