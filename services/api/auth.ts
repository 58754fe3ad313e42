import type { FastifyRequest } from 'fastify';
import type { Principal, PrincipalKind, RegistryView } from '../ports/registry.js';
import { GlasshouseError } from '../runtime/errors.js';

/** The audit actor of a principal: `<kind>:<id>`, e.g. `admin:bootstrap`, `overseer:desk-1`. */
export function actorOf(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}

/**
 * Authenticates the bearer credential of a request and checks its scope.
 * Missing or wrong credential → 401 `unauthorized`; a valid one of another kind → 403 `forbidden`.
 */
export async function requirePrincipal(
  registry: RegistryView,
  request: FastifyRequest,
  kind: PrincipalKind,
): Promise<Principal> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
  if (!match) {
    throw new GlasshouseError('unauthorized', `this call needs "Authorization: Bearer <${kind} token>"`, {
      status: 401,
    });
  }
  const principal = await registry.authenticate(match[1]!, request.ip);
  if (!principal)
    throw new GlasshouseError('unauthorized', 'the credential is unknown, wrong or revoked', { status: 401 });
  if (principal.kind !== kind) {
    throw new GlasshouseError(
      'forbidden',
      `this call needs an ${kind} credential; this one belongs to ${principal.kind} "${principal.id}"`,
      {
        status: 403,
      },
    );
  }
  return principal;
}
