/** Bounds that keep one gateway process safe from any one client. Every value is per process. */
export interface LiveLimits {
  /** Largest inbound frame in bytes; larger frames close the connection with 1009. */
  maxPayload: number;
  /** Channels one connection may subscribe to at once; more answer `too_many_subscriptions`. */
  maxSubscriptions: number;
  /** Sustained inbound messages per second per connection; a burst above `messageBurst` closes with 4029. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Open connections per remote address; more are refused with 429 before the upgrade. */
  maxConnectionsPerIp: number;
  /** Open connections in total; more are refused with 503 before the upgrade. */
  maxConnections: number;
  /** Bytes waiting in a socket above which updates are conflated (latest per goal) instead of sent. */
  conflateAboveBytes: number;
  /** Bytes (socket buffer plus conflated backlog) above which the connection is closed with 4008. */
  closeAboveBytes: number;
  /** A connection that stays conflated this long without draining is closed with 4008. */
  slowConsumerGraceMs: number;
  /** Messages kept per channel for resumption with `since`. */
  historyPerChannel: number;
  /** Ping interval; a connection that has not answered the previous ping is terminated. */
  heartbeatMs: number;
}

export const defaultLiveLimits: LiveLimits = {
  maxPayload: 16 * 1024,
  maxSubscriptions: 100,
  messagesPerSecond: 20,
  messageBurst: 40,
  maxConnectionsPerIp: 100,
  maxConnections: 20_000,
  conflateAboveBytes: 256 * 1024,
  closeAboveBytes: 4 * 1024 * 1024,
  slowConsumerGraceMs: 15_000,
  historyPerChannel: 256,
  heartbeatMs: 30_000,
};
