import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { closeCodes } from '../../schemas/live.js';
import type { Clock } from '../ports/clock.js';
import type { Component, Health } from '../ports/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import { type ConnectionDeps, LiveConnection, type LiveStats } from './connection.js';
import type { Hub } from './hub.js';
import type { LiveLimits } from './limits.js';
import type { Oversight } from './oversight.js';
import type { LiveState } from './state.js';

export const livePath = '/v1/live';

export interface LiveServerOptions {
  server: Server;
  hub: Hub;
  state: LiveState;
  oversight: Oversight;
  limits: LiveLimits;
  /** Browser origins allowed to connect; undefined allows every origin. */
  allowedOrigins: string[] | undefined;
  metrics: Registry;
  logger: Logger;
  clock: Clock;
}

const drainEveryMs = 25;
const shutdownGraceMs = 2_000;

/**
 * `GET /v1/live`: refuses over-limit and foreign-origin upgrades before the handshake, then owns
 * every socket: heartbeat, periodic draining of congested sockets, and a 1001 close on shutdown.
 */
export class LiveServer implements Component {
  readonly name = 'live';
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<LiveConnection>();
  private readonly perIp = new Map<string, number>();
  /** Connections open or still in their handshake: the global limit counts both, like `perIp`. */
  private admitted = 0;
  private readonly congested = new Set<LiveConnection>();
  private readonly stats: LiveStats = { sent: 0, conflated: 0 };
  private readonly refused: Counter<'reason'>;
  private readonly closed: Counter<'reason'>;
  private readonly clientErrors: Counter<'code'>;
  private readonly deps: ConnectionDeps;
  private timers: NodeJS.Timeout[] = [];
  private unwatchCredentials: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private running = false;
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) =>
    this.upgrade(request, socket, head);

  constructor(private readonly options: LiveServerOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.limits.maxPayload,
      // Compression costs over 10x in broadcast throughput and memory per socket; updates are small.
      perMessageDeflate: false,
      clientTracking: false,
    });
    const registers = [options.metrics];
    const stats = this.stats;
    const connections = this.connections;
    new Gauge({
      name: 'glasshouse_live_connections',
      help: 'Open /v1/live connections',
      registers,
      collect() {
        this.set(connections.size);
      },
    });
    let sentReported = 0;
    new Counter({
      name: 'glasshouse_live_messages_sent_total',
      help: 'Messages written to live sockets',
      registers,
      collect() {
        this.inc(stats.sent - sentReported);
        sentReported = stats.sent;
      },
    });
    let conflatedReported = 0;
    new Counter({
      name: 'glasshouse_live_conflated_total',
      help: 'Updates replaced by a newer update of the same goal before a slow client read them',
      registers,
      collect() {
        this.inc(stats.conflated - conflatedReported);
        conflatedReported = stats.conflated;
      },
    });
    this.refused = new Counter({
      name: 'glasshouse_live_refused_total',
      help: 'Upgrades refused before the handshake, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.closed = new Counter({
      name: 'glasshouse_live_closed_total',
      help: 'Connections closed by the gateway, by reason (slow_consumer, flood, too_big, dead, shutdown)',
      labelNames: ['reason'],
      registers,
    });
    this.clientErrors = new Counter({
      name: 'glasshouse_live_client_errors_total',
      help: 'Error answers sent to live clients, by code',
      labelNames: ['code'],
      registers,
    });
    this.deps = {
      hub: options.hub,
      state: options.state,
      oversight: options.oversight,
      limits: options.limits,
      stats: this.stats,
      logger: options.logger,
      now: () => options.clock.now(),
      onSlow: (connection) => this.congested.add(connection),
      onClosing: (reason) => this.closed.inc({ reason }),
      onClientError: (code) => this.clientErrors.inc({ code }),
    };
  }

  async start(): Promise<void> {
    this.options.server.on('upgrade', this.onUpgrade);
    this.timers = [
      setInterval(() => this.heartbeat(), this.options.limits.heartbeatMs),
      setInterval(() => this.drainCongested(), drainEveryMs),
    ];
    for (const timer of this.timers) timer.unref();
    // A revoked overseer loses its open sockets' authentication, not only future ones.
    this.unwatchCredentials = this.options.oversight.onCredentialsChange(() => {
      for (const connection of this.connections) connection.recheckCredential();
    });
    this.running = true;
  }

  /** Closes every socket with 1001 and waits (briefly) for them to go. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.running = false;
      this.options.server.off('upgrade', this.onUpgrade);
      this.unwatchCredentials?.();
      for (const timer of this.timers) clearInterval(timer);
      const all = [...this.connections];
      const gone = all.map(
        (c) =>
          new Promise<void>((resolve) =>
            c.socket.readyState === c.socket.CLOSED ? resolve() : c.socket.once('close', () => resolve()),
          ),
      );
      for (const connection of all) {
        this.closed.inc({ reason: 'shutdown' });
        connection.socket.close(closeCodes.goingAway, 'server shutting down');
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(gone),
        new Promise((resolve) => (timer = setTimeout(resolve, shutdownGraceMs))),
      ]);
      clearTimeout(timer);
      for (const connection of this.connections) connection.socket.terminate();
      this.wss.close();
    })();
    return this.stopping;
  }

  health(): Health {
    return this.running
      ? { state: 'ok', detail: `${this.connections.size} connections` }
      : { state: 'error', detail: 'not accepting connections' };
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', (err) => this.options.logger.debug({ err }, 'socket error during upgrade'));
    const path = (request.url ?? '').split('?', 1)[0];
    if (path !== livePath) return this.refuse(socket, 404, 'not_found', `no WebSocket endpoint at ${path}`);
    // The handshake checks ws would answer in HTML, answered in the error envelope instead.
    const key = request.headers['sec-websocket-key'];
    const version = request.headers['sec-websocket-version'];
    if (
      request.method !== 'GET' ||
      request.headers.upgrade?.toLowerCase() !== 'websocket' ||
      typeof key !== 'string' ||
      !/^[+/0-9A-Za-z]{22}==$/.test(key.trim()) ||
      (version !== '13' && version !== '8')
    ) {
      return this.refuse(
        socket,
        400,
        'bad_handshake',
        'a WebSocket handshake needs GET, Upgrade: websocket, a Sec-WebSocket-Key and Sec-WebSocket-Version: 13',
      );
    }
    const origin = request.headers.origin;
    const allowed = this.options.allowedOrigins;
    // Non-browser clients send no Origin; the allow-list protects browsers' ambient cross-site requests.
    if (allowed && origin !== undefined && !allowed.includes(origin)) {
      return this.refuse(socket, 403, 'origin_not_allowed', `origin ${origin} is not allowed`);
    }
    if (this.admitted >= this.options.limits.maxConnections) {
      return this.refuse(socket, 503, 'too_many_connections', 'the live gateway is at capacity; retry later');
    }
    const ip = request.socket.remoteAddress ?? 'unknown';
    if ((this.perIp.get(ip) ?? 0) >= this.options.limits.maxConnectionsPerIp) {
      return this.refuse(
        socket,
        429,
        'too_many_connections',
        `at most ${this.options.limits.maxConnectionsPerIp} live connections per address`,
      );
    }
    // Count the connection before the handshake completes, so concurrent upgrades cannot overshoot.
    this.admitted += 1;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    let accepted = false;
    // handleUpgrade answers an invalid handshake itself and never calls back: release the slot when that socket ends.
    socket.once('close', () => {
      if (!accepted) this.release(ip);
    });
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      accepted = true;
      const connection = new LiveConnection(ws, ip, this.deps);
      this.connections.add(connection);
      ws.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.closed.inc({ reason: 'too_big' });
        this.options.logger.debug({ err, ip }, 'live socket error');
      });
      ws.once('close', () => {
        connection.detach();
        this.connections.delete(connection);
        this.congested.delete(connection);
        this.release(ip);
      });
    });
  }

  private release(ip: string): void {
    this.admitted -= 1;
    const count = (this.perIp.get(ip) ?? 1) - 1;
    if (count <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, count);
  }

  private refuse(socket: Duplex, status: number, code: string, message: string): void {
    this.refused.inc({ reason: code });
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  private heartbeat(): void {
    for (const connection of this.connections) {
      if (!connection.alive) {
        this.closed.inc({ reason: 'dead' });
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  private drainCongested(): void {
    for (const connection of this.congested) if (connection.drain()) this.congested.delete(connection);
  }
}
