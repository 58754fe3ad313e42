import { describe, expect, it } from 'vitest';
import { MetricEvent } from '../../schemas/metric-event.js';
import { validateMetricEvent, validateMetricRecord } from '../../services/core/validation/index.js';
import { event, ingestRegistry } from '../support/ingest-harness.js';

const now = Date.now();
const registry = ingestRegistry();
const judge = (raw: unknown) => validateMetricEvent(raw, { agencyId: 'transit-agency', registry, now });

describe('correction events (supersedes, retract, note)', () => {
  it('accepts a correction and a retraction, keeping supersedes, retract and note', () => {
    expect(judge(event('e-2', { supersedes: 'e-1', note: 'meter misread' }))).toMatchObject({
      ok: true,
      event: { eventId: 'e-2', supersedes: 'e-1', note: 'meter misread' },
    });
    const retraction = judge(event('e-3', { supersedes: 'e-1', retract: true }));
    expect(retraction).toMatchObject({ ok: true, event: { supersedes: 'e-1', retract: true } });
  });

  it('drops retract: false, which means the same as no retract', () => {
    const verdict = judge(event('e-2', { supersedes: 'e-1', retract: false }));
    expect(verdict.ok && 'retract' in verdict.event).toBe(false);
    expect(verdict.ok).toBe(true);
  });

  it.each([
    [{ retract: true }, 'retract', 'must name the event in supersedes'],
    [{ supersedes: 'e-9' }, 'supersedes', 'cannot supersede itself'],
    [{ supersedes: '-bad' }, 'supersedes', 'starting with a letter or digit'],
    [{ note: 'why' }, 'note', 'only a correction'],
    [{ supersedes: 'e-1', note: 'x'.repeat(501) }, 'note', 'at most 500'],
    [{ supersedes: 'e-1', retract: 'yes' }, 'retract', ''],
  ])('rejects %j at %s with the reason', (patch, path, message) => {
    const verdict = judge(event('e-9', patch));
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toBe('invalid_event');
    expect(verdict.eventId).toBe('e-9');
    const error = verdict.errors.find((e) => e.path === path);
    expect(error, JSON.stringify(verdict.errors)).toBeDefined();
    expect(error!.message).toContain(message);
  });

  it('the processor validates a record with the same rules (direct producers)', () => {
    const value = JSON.stringify(event('e-4', { retract: true }));
    const verdict = validateMetricRecord(value, { 'glasshouse-agency': 'transit-agency' }, registry, now);
    expect(verdict).toMatchObject({ ok: false, reason: 'invalid_event' });
    const good = JSON.stringify(event('e-5', { supersedes: 'e-4', retract: true, note: 'sent twice' }));
    expect(
      validateMetricRecord(good, { 'glasshouse-agency': 'transit-agency' }, registry, now),
    ).toMatchObject({
      ok: true,
      event: { eventId: 'e-5', supersedes: 'e-4', retract: true, note: 'sent twice' },
    });
  });

  it('the exported JSON Schema lists the correction fields', () => {
    const schema = MetricEvent.toJSONSchema() as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['supersedes', 'retract', 'note']));
  });
});
