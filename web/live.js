// The /v1/live client: subscribes to channels, reconnects by itself with backoff, and resumes each
// channel from the last seq it saw (same epoch), so a short drop loses nothing.

export class Live {
  /**
   * @param {string} url ws(s)://host/v1/live
   * @param {(channel: string, message: object) => void} onMessage snapshot, update, alert and proposal messages
   * @param {(state: 'connecting' | 'live' | 'offline', detail?: string) => void} onState
   */
  constructor(url, onMessage, onState) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    /** channel -> { seq, epoch } of the last message seen */
    this.channels = new Map();
    this.attempt = 0;
    this.socket = undefined;
    this.closedByUs = false;
  }

  subscribe(channel) {
    if (this.channels.has(channel)) return;
    this.channels.set(channel, { seq: undefined, epoch: undefined });
    this.send({ op: 'subscribe', channel });
  }

  connect() {
    this.onState('connecting');
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempt = 0;
      this.onState('live');
      for (const [channel, position] of this.channels) {
        const resume = position.seq === undefined ? {} : { since: position.seq, epoch: position.epoch };
        this.send({ op: 'subscribe', channel, ...resume });
      }
    });
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', (event) => {
      if (this.closedByUs) return;
      const delay = Math.min(30_000, 1_000 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      this.onState('offline', `Reconnecting in ${Math.ceil(delay / 1000)} s (code ${event.code})`);
      setTimeout(() => this.connect(), delay);
    });
  }

  close() {
    this.closedByUs = true;
    this.socket?.close(1000);
  }

  send(body) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(body));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === 'error') {
      console.warn('live error', message.code, message.message);
      return;
    }
    if (!message.channel || !['snapshot', 'update', 'alert', 'proposal'].includes(message.type)) return;
    const position = this.channels.get(message.channel);
    if (!position) return;
    position.seq = message.seq;
    position.epoch = message.epoch;
    this.onMessage(message.channel, message);
  }
}

/** The live endpoint on the page's own host. */
export function liveUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1/live`;
}
