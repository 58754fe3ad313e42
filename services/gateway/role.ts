import { randomBytes } from 'node:crypto';
import { AlertAcknowledger } from '../oversight/acknowledge.js';
import { AlertVersions } from '../oversight/alert-versions.js';
import type { RoleContext, RoleFactory } from '../runtime/role.js';
import { registerDashboard } from './dashboard.js';
import { LiveFeed } from './feed.js';
import { Hub } from './hub.js';
import { defaultLiveLimits, type LiveLimits } from './limits.js';
import { Oversight } from './oversight.js';
import { ProposalNotices } from './proposal-notices.js';
import { LiveServer } from './server.js';
import { loadLiveSnapshot } from './snapshot.js';
import { LiveState } from './state.js';

export interface GatewayOptions {
  limits?: Partial<LiveLimits>;
  /** How long an acknowledgement waits for its alert version (default 10 s). */
  ackWaitMs?: number;
}

/** The pieces a wired gateway consists of (tests publish through `feed`). */
export interface Gateway {
  hub: Hub;
  state: LiveState;
  feed: LiveFeed;
  server: LiveServer;
  /** Alert versions as the feed reads them (acknowledgements wait on these). */
  versions: AlertVersions;
}

/** Wires the live gateway (`GET /v1/live`) and the citizen dashboard (`GET /`) into the process. */
export async function wireGateway(ctx: RoleContext, options: GatewayOptions = {}): Promise<Gateway> {
  const limits = { ...defaultLiveLimits, ...options.limits };
  const logger = ctx.logger.child({ component: 'gateway' });
  const hub = new Hub(randomBytes(8).toString('hex'), limits.historyPerChannel);
  const state = new LiveState(ctx.registry);
  const versions = new AlertVersions();
  const feed = new LiveFeed(ctx.bus, hub, state, ctx.metrics, logger.child({ component: 'live-feed' }), {
    versions,
    snapshot: () => loadLiveSnapshot(ctx.store, ctx.registry.modules(), ctx.clock.now()),
  });
  const oversight = new Oversight({
    registry: ctx.registry,
    acknowledger: AlertAcknowledger.forRole(ctx, versions, {
      cached: (alertId) => state.alert(alertId),
      ...(options.ackWaitMs === undefined ? {} : { waitMs: options.ackWaitMs }),
    }),
  });
  const server = new LiveServer({
    server: ctx.http.app.server,
    hub,
    state,
    oversight,
    limits,
    allowedOrigins: ctx.config.allowedOrigins,
    metrics: ctx.metrics,
    logger: logger.child({ component: 'live' }),
    clock: ctx.clock,
  });
  const unsubscribe = new ProposalNotices(ctx.registry, hub).start();
  ctx.http.app.addHook('onClose', async () => unsubscribe());
  await registerDashboard(ctx.http.app);
  // Sockets close (1001) before the HTTP server closes, or its close would wait on them.
  ctx.http.app.addHook('preClose', async () => server.stop());
  ctx.lifecycle.add(feed);
  ctx.lifecycle.add(server);
  return { hub, state, feed, server, versions };
}

export const gatewayRole: RoleFactory = async (ctx) => {
  await wireGateway(ctx);
};
