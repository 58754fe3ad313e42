import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isBlockedAddress, type WebhookAllowList } from '../../runtime/address-guard.js';

/**
 * What went wrong with an attempt, as a category: the public status never carries socket errors,
 * which would tell an admin's probe of internal hosts open ports from closed ones.
 */
export type DeliveryErrorCategory =
  | 'refused_address'
  | 'dns_failed'
  | 'connect_failed'
  | 'tls_failed'
  | 'timeout'
  | `http_status_${number}`;

export type PostOutcome =
  | { ok: true; status: number }
  | { ok: false; status?: number; error: DeliveryErrorCategory };

class RefusedAddress extends Error {
  readonly code = 'GLASSHOUSE_REFUSED_ADDRESS';
}

/** The URL host without IPv6 brackets. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

/**
 * POSTs `body` to `url` and reports the outcome. The destination is checked where the socket is
 * made: the host is resolved once per attempt by a `lookup` that drops every blocked address (see
 * address-guard.ts) and the socket connects to an address that passed, so a name that resolves to
 * a public address at check time and a private one a moment later (DNS rebinding) is refused too.
 * An IP literal is checked before the request. Redirects are not followed; the answer body is dropped.
 */
export function postWebhook(
  url: string,
  options: {
    headers: Record<string, string>;
    body: string;
    allow: WebhookAllowList;
    timeoutMs: number;
    signal: AbortSignal;
  },
): Promise<PostOutcome> {
  const target = new URL(url);
  const host = bareHost(target.hostname);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const named = options.allow.allowsHost(target.hostname, port);
  const permitted = (address: string) =>
    named || !isBlockedAddress(address) || options.allow.allowsAddress(address);
  if (isIP(host) && !permitted(host)) return Promise.resolve({ ok: false, error: 'refused_address' });
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { all: true, family: lookupOptions.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const usable = (addresses as LookupAddress[]).filter((a) => permitted(a.address));
      if (usable.length === 0)
        return callback(new RefusedAddress(`${hostname} resolves only to refused addresses`), '', 0);
      if (lookupOptions.all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout]);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostOutcome>((resolve) => {
    const request = send(target, {
      method: 'POST',
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
      lookup,
      // One socket per attempt: a pooled socket would skip the address check of this attempt.
      agent: false,
      signal,
    });
    request.on('response', (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(
        status >= 200 && status < 300
          ? { ok: true, status }
          : { ok: false, status, error: `http_status_${status}` },
      );
      request.destroy();
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ ok: false, error: categorize(err, timeout.aborted) });
    });
    request.end(options.body);
  });
}

function categorize(err: NodeJS.ErrnoException, timedOut: boolean): DeliveryErrorCategory {
  if (err instanceof RefusedAddress) return 'refused_address';
  if (timedOut) return 'timeout';
  const code = err.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA') return 'dns_failed';
  if (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)
  )
    return 'tls_failed';
  if (code === 'ETIMEDOUT') return 'timeout';
  return 'connect_failed';
}
