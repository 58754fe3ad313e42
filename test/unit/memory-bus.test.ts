import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { hashKey, PartitionLog } from '../../services/adapters/memory/partition-log.js';
import { busContract } from '../contract/bus-contract.js';

busContract('memory', {
  async createBus() {
    const bus = new MemoryBus({ topicPrefix: 'unit', retryBaseMs: 5 });
    await bus.start();
    return bus;
  },
  waitMs: 5_000,
});

describe('MemoryBus specifics', () => {
  it('keeps the retained window of a plain log and the latest record per key of a compacted one', () => {
    const plain = new PartitionLog(4, false);
    const compacted = new PartitionLog(4, true);
    for (let i = 0; i < 10; i++) {
      const record = {
        topic: 't',
        partition: 0,
        key: `k${i % 2}`,
        value: Buffer.from(String(i)),
        headers: {},
        timestamp: i,
      };
      plain.append(record);
      compacted.append(record);
    }
    expect(plain.end).toBe(10);
    expect(plain.read(0, 100).map((r) => r.offset)).toEqual(['6', '7', '8', '9']);
    expect(compacted.read(0, 100).map((r) => r.value.toString())).toEqual(['8', '9']);
    expect(compacted.read(9, 100).map((r) => r.offset)).toEqual(['9']);
  });

  it('hashes keys stably', () => {
    expect(hashKey('bus-punctuality')).toBe(hashKey('bus-punctuality'));
    expect(hashKey('a')).not.toBe(hashKey('b'));
  });

  it('refuses work once stopped, and reports it in health', async () => {
    const bus = new MemoryBus();
    expect(bus.health().state).toBe('error');
    await bus.start();
    await bus.ensureTopics([{ name: 'x', partitions: 1 }]);
    expect(bus.health().state).toBe('ok');
    const seen: string[] = [];
    await bus.consume({
      topic: 'x',
      group: 'g',
      onBatch: async (b) => void seen.push(...b.records.map((r) => r.offset)),
    });
    await bus.publish('x', [{ key: null, value: 'v' }]);
    await expect.poll(() => seen.length, { timeout: 2_000 }).toBe(1);
    await bus.stop();
    await bus.stop();
    expect(bus.health().state).toBe('error');
    await expect(bus.publish('x', [{ key: null, value: 'v' }])).rejects.toMatchObject({
      code: 'bus_stopped',
    });
  });
});
