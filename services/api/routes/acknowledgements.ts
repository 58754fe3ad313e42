import type { FastifyInstance } from 'fastify';
import { AlertAck } from '../../../schemas/alert.js';
import type { AlertAcknowledger } from '../../oversight/acknowledge.js';
import type { RegistryView } from '../../ports/registry.js';
import { requirePrincipal } from '../auth.js';
import { parseOr400 } from '../deps.js';

/**
 * `POST /v1/alerts/:id/ack` (oversight token, body AlertAck): the same acknowledgement as the live
 * socket's `ack` op (oversight/acknowledge.ts). 200 with the acknowledged AlertEvent; 404 for an
 * unknown alert; 503 when it could not be recorded or its version did not arrive in time.
 */
export function acknowledgementRoutes(
  app: FastifyInstance,
  deps: { registry: RegistryView; acknowledger: AlertAcknowledger },
): void {
  app.post<{ Params: { id: string } }>('/v1/alerts/:id/ack', async (request) => {
    const principal = await requirePrincipal(deps.registry, request, 'overseer');
    const body = parseOr400(AlertAck, request.body, 'the body');
    return deps.acknowledger.acknowledge(principal, request.params.id, body.note);
  });
}
