import type { Bus, OutgoingRecord } from '../ports/bus.js';

interface Pending {
  records: OutgoingRecord[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces concurrent requests' records into fewer bus publishes (Kafka's linger, without a
 * timer): while one publish is in flight, newly arriving records wait and then go out together,
 * up to `maxRecords` per publish. Each caller's promise settles with the publish that carried its
 * records, so a failure answers 503 to exactly the requests whose records it held. Records of one
 * request are never split across publishes, so a request is confirmed or refused as a whole.
 */
export class CoalescingPublisher {
  private queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly bus: Pick<Bus, 'publish'>,
    private readonly topic: string,
    private readonly maxRecords = 5_000,
    private readonly maxInFlight = 2,
  ) {}

  /** Resolves once the bus confirmed these records; rejects with the bus's error otherwise. */
  publish(records: OutgoingRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.drain();
    });
  }

  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const group: Pending[] = [];
      let count = 0;
      while (
        this.queue.length > 0 &&
        (group.length === 0 || count + this.queue[0]!.records.length <= this.maxRecords)
      ) {
        const next = this.queue.shift()!;
        group.push(next);
        count += next.records.length;
      }
      this.inFlight++;
      const records = group.length === 1 ? group[0]!.records : group.flatMap((p) => p.records);
      this.bus.publish(this.topic, records).then(
        () => this.settle(group, undefined),
        (err: unknown) => this.settle(group, err ?? new Error('publish failed')),
      );
    }
  }

  private settle(group: Pending[], err: unknown): void {
    this.inFlight--;
    for (const p of group) {
      if (err === undefined) p.resolve();
      else p.reject(err);
    }
    this.drain();
  }
}
