import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { AlertEventMs, publicAlert, storedAlert } from '../../schemas/alert.js';
import {
  AlertEvent,
  AuditEntry,
  ClientMessage,
  contracts,
  formatDuration,
  IngestEnvelope,
  issueDetails,
  loneSurrogateIssues,
  MetricEvent,
  ModulePut,
  PerformanceUpdate,
  PolicyModule,
  parseDuration,
  ServerMessage,
  verdictOf,
} from '../../schemas/index.js';
import { openApiDocument } from '../../schemas/openapi.js';
import { exampleGoal } from '../support/examples.js';

/** Parses and returns `path: message` lines, so a failing expectation shows what went wrong. */
function problems(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input);
  return result.success ? [] : issueDetails(result.error).map((d) => `${d.path}: ${d.message}`);
}

const goodModule = {
  id: 'bus-punctuality',
  domain: 'transit',
  title: 'Bus punctuality',
  summary: 'Buses arrive when the timetable says.',
  owner: 'ada',
  agencies: ['transit-agency'],
  comparisonGroup: 'punctuality-approaches',
  maxSilence: '10m',
  goals: [exampleGoal({ minSamples: 10, hold: '5m' })],
  constraints: [
    { id: 'cost', metric: 'cost_per_trip', op: '<=', bound: 12, window: '24h', aggregation: 'mean' },
  ],
};

describe('MetricEvent', () => {
  const good = {
    eventId: 'evt-1:a.b',
    moduleId: 'bus-punctuality',
    metric: 'on_time_rate',
    value: 91.5,
    observedAt: '2026-11-26T10:00:00Z',
  };

  it('wants an eventId that starts with a letter or digit (no spreadsheet formula)', () => {
    for (const eventId of ['-1', '+1', '=1', '@1', '.x', ':x', '_x'])
      expect(MetricEvent.safeParse({ ...good, eventId }).success, eventId).toBe(false);
    for (const eventId of ['a-', '0', 'Z:1.2_3-4', 'x'.repeat(128)])
      expect(MetricEvent.safeParse({ ...good, eventId }).success, eventId).toBe(true);
    expect(MetricEvent.safeParse({ ...good, eventId: 'x'.repeat(129) }).success).toBe(false);
  });

  it('refuses dimension values with a lone surrogate, naming the path, and keeps paired ones', () => {
    const parsed = MetricEvent.safeParse(
      JSON.parse(
        '{"eventId":"e","moduleId":"m","metric":"x","value":1,"observedAt":0,"dimensions":{"line":"a\\ud800"}}',
      ),
    );
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]).toMatchObject({
      path: ['dimensions', 'line'],
      message: expect.stringContaining('surrogate'),
    });
    expect(MetricEvent.safeParse({ ...good, dimensions: { line: 'bus 😀' } }).success).toBe(true);
    expect(loneSurrogateIssues(JSON.parse('{"a":[1,{"b":"\\udc00"}],"\\ud800":"x","c":"😀"}'))).toEqual([
      { path: 'a.1.b', message: expect.stringContaining('surrogate') },
      { path: '\ud800', message: expect.stringContaining('surrogate') },
    ]);
  });

  it('accepts RFC 3339 and epoch ms, and parses both to epoch ms', () => {
    expect(MetricEvent.parse(good).observedAt).toBe(Date.parse('2026-11-26T10:00:00Z'));
    expect(MetricEvent.parse({ ...good, observedAt: 1_764_151_200_000 }).observedAt).toBe(1_764_151_200_000);
    expect(MetricEvent.parse({ ...good, observedAt: '2026-11-26T11:00:00+01:00' }).observedAt).toBe(
      Date.parse('2026-11-26T10:00:00Z'),
    );
  });

  it.each([
    [{ eventId: '' }, 'eventId: must be 1-128 characters'],
    [{ eventId: 'x'.repeat(129) }, 'eventId: must be 1-128 characters'],
    [{ eventId: 'a b' }, 'eventId: must be 1-128 characters'],
    [{ moduleId: 'Bus Punctuality' }, 'moduleId: must be 1-64 characters'],
    [{ value: '91' }, 'value: Invalid input: expected number, received string'],
    [{ value: Number.NaN }, 'value:'],
    [{ value: Number.POSITIVE_INFINITY }, 'value:'],
    [{ observedAt: 'yesterday' }, 'observedAt:'],
    [{ observedAt: 1.5 }, 'observedAt: must be whole epoch milliseconds'],
    [{ observedAt: 9e15 }, 'observedAt: must be epoch milliseconds before 2200'],
    [{ dimensions: { route: 7 } }, 'dimensions.route:'],
    [{ extra: true }, '(root): Unrecognized key: "extra"'],
  ])('rejects %o with a readable reason', (patch, expected) => {
    const found = problems(MetricEvent, { ...good, ...patch });
    expect(found.join('\n')).toContain(expected);
  });

  it('limits dimensions to 16', () => {
    const dims = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`d${i}`, 'v']));
    expect(problems(MetricEvent, { ...good, dimensions: dims })).toEqual([
      'dimensions: at most 16 dimensions',
    ]);
    dims.d16 = undefined as unknown as string;
    delete dims.d16;
    expect(problems(MetricEvent, { ...good, dimensions: dims })).toEqual([]);
  });

  it('checks the envelope size limits', () => {
    expect(problems(IngestEnvelope, { events: [] })).toEqual(['events: must hold at least 1 event']);
    expect(problems(IngestEnvelope, { events: Array(1001).fill({}) })).toEqual([
      'events: must hold at most 1000 events',
    ]);
    expect(problems(IngestEnvelope, { events: [{}] })).toEqual([]);
  });
});

describe('PolicyModule', () => {
  it('accepts the documented example and fills defaults', () => {
    const parsed = PolicyModule.parse(goodModule);
    expect(parsed.status).toBe('active');
    expect(parsed.allowedLateness).toBe('30s');
    expect(parsed.constraints[0]?.hold).toBe('0s');
  });

  it.each([
    [{ goals: [{ ...goodModule.goals[0], window: '-5m' }] }, 'goals.0.window: must be a duration'],
    [{ goals: [{ ...goodModule.goals[0], window: '0s' }] }, 'goals.0.window: must be greater than 0'],
    [{ goals: [{ ...goodModule.goals[0], tolerance: -0.1 }] }, 'goals.0.tolerance: must be 0 or more'],
    [{ goals: [{ ...goodModule.goals[0], aggregation: 'median' }] }, 'goals.0.aggregation:'],
    [{ goals: [] }, 'goals: a module needs at least one goal'],
    [{ goals: [goodModule.goals[0], goodModule.goals[0]] }, 'goals.1.id: duplicate rule id "ontime"'],
    [
      { constraints: [{ ...goodModule.constraints[0], id: 'ontime' }] },
      'constraints.0.id: duplicate rule id "ontime" (already used by goals[0])',
    ],
    [{ title: '   ' }, 'title: must not be empty'],
    [{ allowedLateness: '30d' }, 'allowedLateness: must be at most 7d'],
  ])('rejects %o', (patch, expected) => {
    expect(problems(PolicyModule, { ...goodModule, ...patch }).join('\n')).toContain(expected);
  });

  it('rejects __proto__ smuggled through JSON.parse as an unknown key', () => {
    const body = JSON.parse(`{"__proto__":{"admin":true},${JSON.stringify(goodModule).slice(1)}`);
    expect(problems(PolicyModule, body).join('\n')).toContain('Unrecognized key: "__proto__"');
  });

  it('requires a non-empty rationale on PUT', () => {
    expect(problems(ModulePut, goodModule)).toContain(
      'rationale: Invalid input: expected string, received undefined',
    );
    expect(problems(ModulePut, { ...goodModule, rationale: ' ' })).toContain('rationale: must not be empty');
    expect(problems(ModulePut, { ...goodModule, rationale: 'raise target after review' })).toEqual([]);
  });

  it('checks dimension declarations and disclosure rules', () => {
    const dim = (over: Record<string, unknown> = {}) => ({
      name: 'district',
      description: 'District',
      publish: 'open',
      ...over,
    });
    expect(
      problems(PolicyModule, {
        ...goodModule,
        dimensions: [dim(), dim({ name: 'age', publish: 'aggregate' })],
      }),
    ).toEqual([]);
    expect(problems(PolicyModule, { ...goodModule, dimensions: [dim(), dim()] })).toContain(
      'dimensions.1.name: duplicate dimension "district"',
    );
    expect(
      problems(PolicyModule, { ...goodModule, dimensions: [dim({ publish: 'public' })] }).join(),
    ).toContain('dimensions.0.publish');
    expect(problems(PolicyModule, { ...goodModule, dimensions: [dim({ pattern: '(' })] }).join()).toContain(
      'dimensions.0.pattern: not a regular expression',
    );
    expect(
      problems(PolicyModule, { ...goodModule, dimensions: [dim({ name: '__proto__' })] }).join(),
    ).toContain('is reserved');
    expect(problems(PolicyModule, { ...goodModule, disclosure: { minCell: 2 } })).toContain(
      'disclosure.minCell: must be at least 3',
    );
    expect(problems(PolicyModule, { ...goodModule, disclosure: { minCell: 3, base: 1 } })).toEqual([]);
  });
});

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('1.5h')).toBeUndefined();
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1_500)).toBe('1500ms');
  });
});

const update = {
  moduleId: 'bus-punctuality',
  moduleVersion: 1,
  goalId: 'ontime',
  metric: 'on_time_rate',
  aggregation: 'mean',
  window: '1h',
  asOf: '2026-11-26T10:00:00.000Z',
  value: 80,
  count: 12,
  target: 90,
  shortfall: 0.111,
  status: 'off_track',
  stagnating: false,
  trend: -1.5,
};
const alert = {
  alertId: 'a'.repeat(32),
  version: 1,
  moduleId: 'bus-punctuality',
  moduleVersion: 1,
  ruleId: 'ontime',
  kind: 'goal_deviation',
  severity: 'critical',
  state: 'firing',
  owner: 'ada',
  openedAt: '2026-11-26T10:00:00.000Z',
  updatedAt: '2026-11-26T10:00:00.000Z',
  observed: 80,
  target: 90,
  shortfall: 0.111,
  message: 'on time rate 80% is below 90%',
};

describe('outputs', () => {
  it('accepts a PerformanceUpdate and an AlertEvent and rejects broken ones', () => {
    expect(problems(PerformanceUpdate, update)).toEqual([]);
    expect(problems(PerformanceUpdate, { ...update, status: 'great' }).join()).toContain('status:');
    expect(problems(AlertEvent, alert)).toEqual([]);
    expect(problems(AlertEvent, { ...alert, state: 'acknowledged' }).join()).toContain('state:');
    expect(problems(AlertEvent, { ...alert, alertId: 'x' }).join()).toContain('alertId:');
  });

  it('makes an alert public once and reads it back with the same times in epoch ms', () => {
    const full = AlertEvent.parse({
      ...alert,
      version: 3,
      state: 'resolved',
      updatedAt: '2026-11-26T10:07:30.250Z',
      resolvedAt: '2026-11-26T10:07:30.250Z',
      acknowledgedBy: 'desk',
      acknowledgedAt: '2026-11-26T10:05:00.001Z',
      note: 'on it',
      reason: 'restated',
    });
    const inside = storedAlert(full);
    expect(inside).toMatchObject({
      openedMs: Date.UTC(2026, 10, 26, 10),
      updatedMs: Date.UTC(2026, 10, 26, 10, 7, 30, 250),
      resolvedMs: Date.UTC(2026, 10, 26, 10, 7, 30, 250),
      acknowledgedMs: Date.UTC(2026, 10, 26, 10, 5, 0, 1),
    });
    expect(AlertEventMs.parse(inside)).toEqual(inside);
    expect(inside).not.toHaveProperty('openedAt');
    // Byte for byte: the same JSON, fields in the contract's order, as the public version read back.
    for (const version of [full, AlertEvent.parse(alert)]) {
      expect(JSON.stringify(publicAlert(storedAlert(version)))).toBe(JSON.stringify(version));
    }
    // An absent optional time stays absent (not a key holding undefined).
    expect(Object.keys(publicAlert(storedAlert(AlertEvent.parse(alert))))).not.toContain('resolvedAt');
  });

  it('checks audit entry hashes are SHA-256 hex', () => {
    const entry = {
      seq: 1,
      at: '2026-11-26T10:00:00.000Z',
      actor: 'bootstrap',
      action: 'module.put',
      subject: 'module:x',
      before: null,
      after: {},
      rationale: 'r',
      prevHash: '0'.repeat(64),
      hash: 'f'.repeat(64),
    };
    expect(problems(AuditEntry, entry)).toEqual([]);
    expect(problems(AuditEntry, { ...entry, hash: 'xyz' })).toEqual([
      'hash: must be 64 lowercase hex characters (SHA-256)',
    ]);
  });

  it('maps every status to its public verdict word', () => {
    expect(verdictOf('on_track', false)).toBe('Success');
    expect(verdictOf('at_risk', false)).toBe('At risk');
    expect(verdictOf('off_track', false)).toBe('Failure');
    expect(verdictOf('off_track', true)).toBe('Stagnation');
    expect(verdictOf('no_data', true)).toBe('No data');
  });
});

describe('live messages', () => {
  it('accepts every client op and rejects unknown ops and channels', () => {
    expect(
      problems(ClientMessage, { op: 'subscribe', channel: 'module:bus-punctuality', since: 4, epoch: 'e1' }),
    ).toEqual([]);
    expect(problems(ClientMessage, { op: 'subscribe', channel: 'scoreboard' })).toEqual([]);
    expect(problems(ClientMessage, { op: 'ack', alertId: alert.alertId, note: 'looking into it' })).toEqual(
      [],
    );
    expect(problems(ClientMessage, { op: 'dance' }).join()).toContain('op:');
    expect(problems(ClientMessage, { op: 'subscribe', channel: 'everything' }).join()).toContain(
      'channel: must be module:<id>',
    );
  });

  it('types server messages by their payload', () => {
    const envelope = { channel: 'module:bus-punctuality', epoch: 'e1', seq: 3 };
    expect(problems(ServerMessage, { type: 'update', ...envelope, data: update })).toEqual([]);
    expect(problems(ServerMessage, { type: 'alert', ...envelope, data: alert })).toEqual([]);
    expect(problems(ServerMessage, { type: 'update', ...envelope, data: alert }).length).toBeGreaterThan(0);
  });
});

describe('exported contracts', () => {
  it('turns every contract into JSON Schema and an OpenAPI document', async () => {
    const { jsonSchemaOf } = await import('../../schemas/openapi.js');
    for (const name of Object.keys(contracts) as Array<keyof typeof contracts>) {
      const schema = jsonSchemaOf(name);
      expect(schema.$schema, name).toContain('2020-12');
    }
    const metric = jsonSchemaOf('MetricEvent');
    expect(metric).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['eventId', 'moduleId', 'metric', 'value', 'observedAt']),
      additionalProperties: false,
    });
    const doc = openApiDocument('test') as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/v1/openapi.json']),
    );
  });
});
