import type { WebSocket } from 'ws';
import { loneSurrogateIssues } from '../../schemas/common.js';
import { type Channel, ClientMessage, closeCodes } from '../../schemas/live.js';
import type { Principal } from '../ports/registry.js';
import { GlasshouseError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Hub, Outbound, Subscriber } from './hub.js';
import type { LiveLimits } from './limits.js';
import type { Oversight } from './oversight.js';
import type { LiveState } from './state.js';

/** Hot-path counters, read by the metrics collector (cheaper than a prom-client call per frame). */
export interface LiveStats {
  sent: number;
  conflated: number;
}

export interface ConnectionDeps {
  hub: Hub;
  state: LiveState;
  oversight: Oversight;
  limits: LiveLimits;
  stats: LiveStats;
  logger: Logger;
  now(): number;
  /** Called when the connection starts holding a backlog, so the server drains it periodically. */
  onSlow(connection: LiveConnection): void;
  /** Called once, when the gateway closes the connection on purpose (`slow_consumer`, `flood`). */
  onClosing(reason: 'slow_consumer' | 'flood'): void;
  onClientError(code: string): void;
}

const knownOps = new Set(['subscribe', 'unsubscribe', 'auth', 'ack']);
// A slow or flooding client gets its close frame queued; if it never reads it, the socket is destroyed after this.
const terminateAfterMs = 5_000;

/**
 * One `/v1/live` socket: parses and answers client ops in order, holds subscriptions, and writes
 * channel messages, conflating updates into a backlog while the socket is congested.
 */
export class LiveConnection implements Subscriber {
  private readonly subscriptions = new Set<Channel>();
  private principal: Principal | undefined;
  /** The token `principal` was authenticated with: re-checked before every ack and on credential changes. */
  private token: string | undefined;
  private tokens: number;
  private refilledAt: number;
  private queue: Promise<void> = Promise.resolve();
  /** Messages held back while the socket is congested; insertion order is send order. */
  private readonly backlog = new Map<string, Outbound>();
  private backlogBytes = 0;
  private backlogSerial = 0;
  /** When the connection last made progress while it had a backlog; undefined without a backlog. */
  private stalledSince: number | undefined;
  private closing = false;
  alive = true;

  constructor(
    readonly socket: WebSocket,
    readonly ip: string,
    private readonly deps: ConnectionDeps,
  ) {
    this.tokens = deps.limits.messageBurst;
    this.refilledAt = deps.now();
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
  }

  /** Sends a channel message now, or holds it in the backlog while the socket is congested. */
  deliver(message: Outbound): void {
    if (this.closing) return;
    if (this.backlog.size === 0 && this.socket.bufferedAmount <= this.deps.limits.conflateAboveBytes) {
      this.write(message.bytes);
      return;
    }
    const key = message.conflateKey ?? `#${this.backlogSerial++}`;
    const replaced = this.backlog.get(key);
    if (replaced) {
      this.backlog.delete(key);
      this.backlogBytes -= replaced.bytes.length;
      this.deps.stats.conflated += 1;
    }
    this.backlog.set(key, message);
    this.backlogBytes += message.bytes.length;
    if (this.stalledSince === undefined) {
      this.stalledSince = this.deps.now();
      this.deps.onSlow(this);
    }
    this.drain();
  }

  /**
   * Writes backlog messages while the socket has room. Returns true once the backlog is empty.
   * Closes with 4008 when the backlog outgrows its cap or nothing drains for the grace period.
   */
  drain(): boolean {
    if (this.closing) return true;
    const { conflateAboveBytes, closeAboveBytes, slowConsumerGraceMs } = this.deps.limits;
    let progressed = false;
    for (const [key, message] of this.backlog) {
      if (this.socket.bufferedAmount > conflateAboveBytes) break;
      this.backlog.delete(key);
      this.backlogBytes -= message.bytes.length;
      this.write(message.bytes);
      progressed = true;
    }
    if (this.backlog.size === 0) {
      this.stalledSince = undefined;
      return true;
    }
    const now = this.deps.now();
    if (progressed) this.stalledSince = now;
    if (
      this.socket.bufferedAmount + this.backlogBytes > closeAboveBytes ||
      now - (this.stalledSince ?? now) > slowConsumerGraceMs
    ) {
      this.closeWith('slow_consumer', closeCodes.slowConsumer, 'slow consumer: messages are not being read');
      return true;
    }
    return false;
  }

  /** Every channel this connection is subscribed to, for cleanup. */
  channels(): Iterable<Channel> {
    return this.subscriptions;
  }

  /** Leaves every channel; called once the socket has closed. */
  detach(): void {
    this.closing = true;
    for (const channel of this.subscriptions) this.deps.hub.unsubscribe(channel, this);
    this.subscriptions.clear();
    this.backlog.clear();
    this.backlogBytes = 0;
  }

  private write(bytes: Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(bytes, { binary: false });
    this.deps.stats.sent += 1;
  }

  private answer(body: Record<string, unknown>): void {
    this.deliver({ bytes: Buffer.from(JSON.stringify(body)) });
  }

  private fail(code: string, message: string, op?: string): void {
    this.deps.onClientError(code);
    this.answer(op === undefined ? { type: 'error', code, message } : { type: 'error', code, message, op });
  }

  private closeWith(reason: 'slow_consumer' | 'flood', code: number, text: string): void {
    if (this.closing) return;
    this.closing = true;
    this.deps.onClosing(reason);
    this.backlog.clear();
    this.backlogBytes = 0;
    this.socket.close(code, text);
    setTimeout(() => this.socket.terminate(), terminateAfterMs).unref();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const now = this.deps.now();
    const { messagesPerSecond, messageBurst } = this.deps.limits;
    this.tokens = Math.min(messageBurst, this.tokens + ((now - this.refilledAt) / 1000) * messagesPerSecond);
    this.refilledAt = now;
    this.tokens -= 1;
    if (this.tokens < 0) {
      this.closeWith('flood', closeCodes.flood, `more than ${messagesPerSecond} messages per second`);
      return;
    }
    // Ops are answered in the order they arrive, even when one (auth, ack) waits on I/O.
    this.queue = this.queue
      .then(() => this.handle(data, isBinary))
      .catch((err) => this.deps.logger.error({ err }, 'live op failed'));
  }

  private async handle(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.closing) return;
    if (isBinary) return this.fail('binary_not_supported', 'send JSON text frames');
    let body: unknown;
    try {
      body = JSON.parse(data.toString('utf8'));
    } catch {
      return this.fail('malformed_json', 'the message is not valid JSON');
    }
    const op = typeof body === 'object' && body !== null ? (body as { op?: unknown }).op : undefined;
    if (typeof op !== 'string' || !knownOps.has(op)) {
      return this.fail('unknown_op', `"op" must be one of ${[...knownOps].join(', ')}`);
    }
    const malformed = loneSurrogateIssues(body);
    if (malformed.length) {
      const detail = malformed.map((i) => `${i.path}: ${i.message}`).join('; ');
      return this.fail('invalid_message', detail, op);
    }
    const parsed = ClientMessage.safeParse(body);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      return this.fail('invalid_message', detail, op);
    }
    const message = parsed.data;
    switch (message.op) {
      case 'subscribe':
        return this.subscribe(message.channel, message.since, message.epoch);
      case 'unsubscribe':
        this.subscriptions.delete(message.channel);
        this.deps.hub.unsubscribe(message.channel, this);
        return this.answer({ type: 'ok', op: 'unsubscribe', channel: message.channel });
      case 'auth':
        return this.authenticate(message.token);
      case 'ack':
        return this.acknowledge(message.alertId, message.note);
    }
  }

  private subscribe(channel: Channel, since: number | undefined, epoch: string | undefined) {
    if (!this.subscriptions.has(channel) && this.subscriptions.size >= this.deps.limits.maxSubscriptions) {
      return this.fail(
        'too_many_subscriptions',
        `at most ${this.deps.limits.maxSubscriptions} channels per connection`,
        'subscribe',
      );
    }
    this.subscriptions.add(channel);
    const start = this.deps.hub.subscribe(channel, this, since, epoch);
    this.answer({ type: 'ok', op: 'subscribe', channel });
    if (start.kind === 'replay') {
      for (const message of start.messages) this.deliver(message);
      return;
    }
    const snapshot = {
      type: 'snapshot',
      channel,
      epoch: this.deps.hub.epoch,
      seq: start.seq,
      ...(start.recovered === false ? { recovered: false } : {}),
      data: this.deps.state.snapshot(channel),
    };
    this.answer(snapshot);
  }

  /**
   * Re-checks the credential of an authenticated connection (queued behind the ops in flight) after
   * a registry change; a revoked one is dropped and the client told with an `unauthorized` error.
   */
  recheckCredential(): void {
    if (this.token === undefined || this.closing) return;
    this.queue = this.queue
      .then(async () => {
        if (this.token === undefined || this.closing) return;
        if (await this.stillValid()) return;
        this.fail('unauthorized', 'the oversight token was revoked; authenticate again', 'auth');
      })
      .catch((err) => this.deps.logger.error({ err }, 'live credential re-check failed'));
  }

  private async authenticate(token: string): Promise<void> {
    try {
      this.principal = await this.deps.oversight.authenticate(token, this.ip);
      this.token = token;
      this.answer({ type: 'ok', op: 'auth' });
    } catch (err) {
      this.principal = undefined;
      this.token = undefined;
      this.failWith(err, 'auth');
    }
  }

  /**
   * Whether the connection's credential still authenticates (the registry caches verified secrets,
   * so this is a digest lookup). Forgets a revoked or replaced one. Throws when the answer is unknown.
   */
  private async stillValid(): Promise<boolean> {
    if (this.token === undefined) return false;
    try {
      this.principal = await this.deps.oversight.authenticate(this.token, this.ip);
      return true;
    } catch (err) {
      if (err instanceof GlasshouseError && err.code === 'unauthorized') {
        this.principal = undefined;
        this.token = undefined;
        return false;
      }
      throw err;
    }
  }

  private async acknowledge(alertId: string, note: string): Promise<void> {
    if (!this.principal)
      return this.fail('unauthorized', 'send {"op":"auth","token":...} with an oversight token first', 'ack');
    try {
      // Authenticated once per connection, but a revocation must stop acknowledgements at once.
      if (!(await this.stillValid()) || !this.principal)
        return this.fail('unauthorized', 'the oversight token was revoked; authenticate again', 'ack');
      await this.deps.oversight.acknowledge(this.principal, alertId, note);
      this.answer({ type: 'ok', op: 'ack', alertId });
    } catch (err) {
      this.failWith(err, 'ack');
    }
  }

  private failWith(err: unknown, op: string) {
    if (err instanceof GlasshouseError) {
      if (err.status >= 500) this.deps.logger.warn({ err, op }, 'live op failed');
      return this.fail(err.code, err.message, op);
    }
    this.deps.logger.error({ err, op }, 'live op failed');
    this.fail('internal', 'internal error', op);
  }
}
