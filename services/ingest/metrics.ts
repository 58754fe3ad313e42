import { Counter, Histogram, type Registry } from 'prom-client';

/** Ingest's Prometheus series, per agency (agencies are registered principals, so the label is bounded). */
export class IngestMetrics {
  readonly accepted: Counter<'agency'>;
  readonly rejected: Counter<'agency' | 'reason'>;
  readonly duplicates: Counter<'agency'>;
  readonly publishSeconds: Histogram<'agency' | 'outcome'>;
  readonly requests: Counter<'status'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.accepted = new Counter({
      name: 'glasshouse_ingest_events_accepted_total',
      help: 'Events published to metrics.raw and confirmed by the bus',
      labelNames: ['agency'],
      registers,
    });
    this.rejected = new Counter({
      name: 'glasshouse_ingest_events_rejected_total',
      help: 'Events rejected by validation, by reason',
      labelNames: ['agency', 'reason'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'glasshouse_ingest_events_duplicate_total',
      help: 'Events whose eventId the agency had already sent recently',
      labelNames: ['agency'],
      registers,
    });
    this.publishSeconds = new Histogram({
      name: 'glasshouse_ingest_publish_seconds',
      help: 'Time from publish to bus confirmation, per request',
      labelNames: ['agency', 'outcome'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.requests = new Counter({
      name: 'glasshouse_ingest_requests_total',
      help: 'POST /v1/metrics answers by status code',
      labelNames: ['status'],
      registers,
    });
  }
}
