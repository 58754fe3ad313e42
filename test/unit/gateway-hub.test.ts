import { describe, expect, it } from 'vitest';
import { Hub, type Outbound, type Subscriber } from '../../services/gateway/hub.js';

class Recorder implements Subscriber {
  readonly got: Outbound[] = [];
  deliver(message: Outbound): void {
    this.got.push(message);
  }
  seqs(): number[] {
    return this.got.map((m) => JSON.parse(m.bytes.toString()).seq);
  }
}

describe('Hub', () => {
  it('numbers each channel on its own and serializes a broadcast once for every subscriber', () => {
    const hub = new Hub('e1', 10);
    const a = new Recorder();
    const b = new Recorder();
    hub.subscribe('module:x', a);
    hub.subscribe('module:x', b);
    hub.subscribe('alerts', a);
    hub.publish('module:x', 'update', { v: 1 }, 'k');
    hub.publish('alerts', 'alert', { v: 2 });
    hub.publish('module:x', 'update', { v: 3 }, 'k');
    expect(a.seqs()).toEqual([1, 1, 2]);
    expect(b.seqs()).toEqual([1, 2]);
    expect(a.got[0]?.bytes).toBe(b.got[0]?.bytes);
    expect(JSON.parse(a.got[1]?.bytes.toString() ?? '')).toEqual({
      type: 'alert',
      channel: 'alerts',
      epoch: 'e1',
      seq: 1,
      data: { v: 2 },
    });
    expect(a.got[0]?.conflateKey).toBe('k');
    expect(a.got[1]?.conflateKey).toBeUndefined();
  });

  it('resumes from history within the same epoch and falls back to a snapshot otherwise', () => {
    const hub = new Hub('e1', 3);
    for (let i = 1; i <= 5; i += 1) hub.publish('module:x', 'update', { i });
    const s = new Recorder();
    expect(hub.subscribe('module:x', s)).toEqual({ kind: 'snapshot', seq: 5 });
    const replay = hub.subscribe('module:x', s, 2, 'e1');
    expect(
      replay.kind === 'replay' && replay.messages.map((m) => JSON.parse(m.bytes.toString()).seq),
    ).toEqual([3, 4, 5]);
    expect(hub.subscribe('module:x', s, 5, 'e1')).toEqual({ kind: 'replay', messages: [] });
    expect(hub.subscribe('module:x', s, 1, 'e1')).toEqual({ kind: 'snapshot', seq: 5, recovered: false });
    expect(hub.subscribe('module:x', s, 2, 'e0')).toEqual({ kind: 'snapshot', seq: 5, recovered: false });
    expect(hub.subscribe('module:x', s, 9, 'e1')).toEqual({ kind: 'snapshot', seq: 5, recovered: false });
  });

  it('forgets channels that were only subscribed to, and keeps the seq of channels with messages', () => {
    const hub = new Hub('e1', 3);
    const s = new Recorder();
    hub.subscribe('module:ghost', s);
    hub.unsubscribe('module:ghost', s);
    expect(hub.subscriberCount('module:ghost')).toBe(0);
    hub.subscribe('module:x', s);
    hub.publish('module:x', 'update', {});
    hub.unsubscribe('module:x', s);
    expect(hub.seq('module:x')).toBe(1);
    hub.publish('module:x', 'update', {});
    expect(s.got).toHaveLength(1);
  });
});
