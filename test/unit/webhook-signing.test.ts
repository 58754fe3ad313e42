import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebhookCreate } from '../../schemas/webhooks.js';
import { newWebhookSecret, signBody, verifySignature } from '../../services/api/webhooks/signing.js';

describe('webhook signatures', () => {
  it('is sha256= and the hex HMAC-SHA256 of the raw body bytes', () => {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    expect(signBody('Jefe', 'what do ya want for nothing?')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    const body = '{"type":"alert","note":"é"}';
    expect(signBody('s3cret-s3cret-s3cret', Buffer.from(body))).toBe(
      `sha256=${createHmac('sha256', 's3cret-s3cret-s3cret').update(body, 'utf8').digest('hex')}`,
    );
  });

  it('verifies in constant time and rejects any change of body, secret or header', () => {
    const secret = newWebhookSecret();
    const body = '{"a":1}';
    const header = signBody(secret, body);
    expect(verifySignature(secret, body, header)).toBe(true);
    expect(verifySignature(secret, '{"a":2}', header)).toBe(false);
    expect(verifySignature(`${secret}x`, body, header)).toBe(false);
    expect(verifySignature(secret, body, header.toUpperCase())).toBe(false);
    expect(verifySignature(secret, body, header.slice(0, -1))).toBe(false);
    expect(verifySignature(secret, body, undefined)).toBe(false);
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(newWebhookSecret()).not.toBe(secret);
  });
});

describe('webhook subscriptions', () => {
  it('accept only http(s) URLs, long enough secrets and known alert kinds', () => {
    expect(WebhookCreate.safeParse({ url: 'https://desk.example/hook' }).success).toBe(true);
    expect(WebhookCreate.safeParse({ url: 'http://127.0.0.1:9000/x', events: ['data_gap'] }).success).toBe(
      true,
    );
    for (const bad of [
      { url: 'ftp://desk.example/hook' },
      { url: 'javascript:alert(1)' },
      { url: 'not a url' },
      { url: 'https://desk.example', secret: 'short' },
      { url: 'https://desk.example', events: ['everything'] },
      { url: 'https://desk.example', events: [] },
      { url: 'https://desk.example', extra: true },
    ]) {
      expect(WebhookCreate.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
