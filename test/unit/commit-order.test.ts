import { describe, expect, it } from 'vitest';
import { CommitOrder } from '../../services/adapters/commit-order.js';
import { Deferred } from '../../services/runtime/sync.js';

function order() {
  const commits: string[] = [];
  const redeliveries: string[] = [];
  const commitOrder = new CommitOrder({
    commit: async (partition, next) => void commits.push(`${partition}@${next}`),
    redeliver: (partition, from) => void redeliveries.push(`${partition}@${from}`),
    commitFailed: () => {},
  });
  return { commits, redeliveries, commitOrder };
}

describe('CommitOrder', () => {
  it('commits a partition in offset order, each batch once it is durable', async () => {
    const { commits, commitOrder } = order();
    const [a, b] = [new Deferred(), new Deferred()];
    commitOrder.add(0, '0', '5', a.promise);
    commitOrder.add(0, '5', '9', b.promise);
    const other = commitOrder.add(1, '0', '3');
    b.resolve();
    // Partition 1 committed meanwhile; partition 0's second batch waits for its first.
    await other;
    expect(commits).toEqual(['1@3']);
    a.resolve();
    await commitOrder.settled(1000);
    expect(commits).toEqual(['1@3', '0@5', '0@9']);
  });

  it('commits nothing from a failed receipt on, and asks for the partition again from its batch', async () => {
    const { commits, redeliveries, commitOrder } = order();
    const [a, b, c] = [new Deferred(), new Deferred(), new Deferred()];
    commitOrder.add(0, '0', '5', a.promise);
    commitOrder.add(0, '5', '9', b.promise);
    commitOrder.add(0, '9', '12', c.promise);
    a.resolve();
    c.resolve();
    b.reject(new Error('store unavailable'));
    await commitOrder.settled(1000);
    expect(commits).toEqual(['0@5']);
    expect(redeliveries).toEqual(['0@5']);
  });

  it('after a reset, forgets the receipts in flight and does not wait for them', async () => {
    const { commits, commitOrder } = order();
    const old = new Deferred();
    const stale = commitOrder.add(0, '0', '5', old.promise);
    commitOrder.reset(0);
    await commitOrder.add(0, '0', '7');
    old.resolve();
    // Settles once it is known that the forgotten receipt commits nothing.
    await stale;
    expect(commits).toEqual(['0@7']);
  });

  it('issues the next commit without waiting for the earlier commit to complete', async () => {
    const calls: string[] = [];
    const held = new Deferred();
    const commitOrder = new CommitOrder({
      commit: async (partition, next) => {
        calls.push(`${partition}@${next}`);
        if (calls.length === 1) await held.promise;
      },
      redeliver: () => {},
      commitFailed: () => {},
    });
    const first = commitOrder.add(0, '0', '5');
    const second = commitOrder.add(0, '5', '9');
    let firstDone = false;
    void first.then(() => {
      firstDone = true;
    });
    // The second commit completes while the first is still held.
    await second;
    expect(calls).toEqual(['0@5', '0@9']);
    expect(firstDone).toBe(false);
    held.resolve();
    await first;
  });
});
