/**
 * Channels of the live protocol: a per-channel increasing `seq`, a bounded history for resumption,
 * and fan-out of one serialized frame to every local subscriber.
 */

/** One server message, serialized once and shared by every connection it goes to. */
export interface Outbound {
  /** The JSON text as bytes, ready for the socket. */
  readonly bytes: Buffer;
  /**
   * Set on performance updates: messages with the same key replace each other in a slow client's
   * backlog (latest per goal). Alerts, snapshots and answers have none and are never dropped.
   */
  readonly conflateKey?: string;
}

/** Something that receives a channel's messages: one live connection. */
export interface Subscriber {
  deliver(message: Outbound): void;
}

interface Sequenced extends Outbound {
  readonly seq: number;
}

interface ChannelState {
  seq: number;
  /** Oldest first; at most `historyLimit` entries. */
  history: Sequenced[];
  subscribers: Set<Subscriber>;
}

/** How a subscription starts: replay from history, or a snapshot at `seq` (recovered false when a resume failed). */
export type SubscribeStart =
  | { kind: 'replay'; messages: Outbound[] }
  | { kind: 'snapshot'; seq: number; recovered?: false };

export class Hub {
  private readonly channels = new Map<string, ChannelState>();

  constructor(
    /** Random per process: a `seq` from another epoch (replica, restart) means nothing here. */
    readonly epoch: string,
    private readonly historyLimit: number,
  ) {}

  /**
   * Assigns the channel's next seq, serializes the message once and delivers it to every subscriber.
   * Returns the number of subscribers it went to.
   */
  publish(
    channel: string,
    type: 'update' | 'alert' | 'proposal',
    data: unknown,
    conflateKey?: string,
  ): number {
    const state = this.state(channel);
    state.seq += 1;
    const bytes = Buffer.from(JSON.stringify({ type, channel, epoch: this.epoch, seq: state.seq, data }));
    const message: Sequenced =
      conflateKey === undefined ? { seq: state.seq, bytes } : { seq: state.seq, bytes, conflateKey };
    state.history.push(message);
    if (state.history.length > this.historyLimit) state.history.shift();
    for (const subscriber of state.subscribers) subscriber.deliver(message);
    return state.subscribers.size;
  }

  /**
   * Adds a subscriber. With `since` from this epoch and history still holding every later message,
   * answers those messages; otherwise the caller sends a snapshot at the returned seq.
   */
  subscribe(channel: string, subscriber: Subscriber, since?: number, epoch?: string): SubscribeStart {
    const state = this.state(channel);
    state.subscribers.add(subscriber);
    if (since === undefined) return { kind: 'snapshot', seq: state.seq };
    if (epoch !== this.epoch || since > state.seq)
      return { kind: 'snapshot', seq: state.seq, recovered: false };
    if (since === state.seq) return { kind: 'replay', messages: [] };
    const oldest = state.history[0]?.seq;
    if (oldest === undefined || oldest > since + 1)
      return { kind: 'snapshot', seq: state.seq, recovered: false };
    return { kind: 'replay', messages: state.history.filter((m) => m.seq > since) };
  }

  unsubscribe(channel: string, subscriber: Subscriber): void {
    const state = this.channels.get(channel);
    if (!state) return;
    state.subscribers.delete(subscriber);
    // A channel nobody watches and nothing was ever published to carries no information: forget it.
    if (state.subscribers.size === 0 && state.seq === 0) this.channels.delete(channel);
  }

  /** The channel's latest seq (0 before its first message). */
  seq(channel: string): number {
    return this.channels.get(channel)?.seq ?? 0;
  }

  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subscribers.size ?? 0;
  }

  private state(channel: string): ChannelState {
    let state = this.channels.get(channel);
    if (!state) {
      state = { seq: 0, history: [], subscribers: new Set() };
      this.channels.set(channel, state);
    }
    return state;
  }
}
