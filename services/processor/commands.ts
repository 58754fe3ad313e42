import { parseArgs } from 'node:util';
import { Topics } from '../../infra/kafka/topics.js';
import { ModuleVersion } from '../../schemas/registry.js';
import type { Bus } from '../ports/bus.js';
import { maxSelectRows, type Store } from '../ports/store.js';
import type { Row } from '../ports/tables.js';
import { chooseAdapters } from '../runtime/adapters.js';
import { loadConfig } from '../runtime/config.js';
import { GlasshouseError } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';
import { reasonCode, replayRecord } from './dead-letters.js';
import { compareRollups, compareUpdates, type Difference, type RawEvent } from './ground-truth.js';

type Print = (line: string) => void;
const print: Print = (line) => process.stdout.write(`${line}\n`);

/** Opens the configured store (and bus, when asked) for a one-shot command; closes them after. */
async function withAdapters<T>(needBus: boolean, work: (store: Store, bus: Bus) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  if (needBus && !config.kafka) {
    throw new GlasshouseError(
      'config_invalid',
      'GLASSHOUSE_KAFKA_BROKERS must be set: replay publishes to Kafka',
    );
  }
  const logger = createLogger(process.env.GLASSHOUSE_LOG_LEVEL ? config.logLevel : 'warn');
  const { bus, store } = await chooseAdapters(config, logger);
  try {
    await store.start();
    if (needBus) await bus.start();
    return await work(store, bus);
  } finally {
    await bus.stop().catch(() => {});
    await store.stop().catch(() => {});
  }
}

/** `glasshouse dlq list [--all] [--limit N]` and `glasshouse dlq replay [--id ID ...]`. */
export async function dlqCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parseArgs({
      args: rest,
      options: { all: { type: 'boolean' }, limit: { type: 'string' } },
      strict: true,
    });
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxSelectRows) {
      throw new GlasshouseError('usage', `--limit must be a whole number in 1..${maxSelectRows}`);
    }
    return withAdapters(false, async (store) => {
      const rows = await store.select('dead_letters', {
        ...(values.all ? {} : { where: [{ column: 'replayed_ms', op: '=', value: 0 }] }),
        orderBy: [{ column: 'received_ms', direction: 'desc' }],
        limit,
      });
      for (const row of rows) print(describeDeadLetter(row));
      print(
        `${rows.length} dead letter${rows.length === 1 ? '' : 's'}${values.all ? '' : ' not yet replayed'}`,
      );
      return 0;
    });
  }
  if (sub === 'replay') {
    const { values } = parseArgs({
      args: rest,
      options: { id: { type: 'string', multiple: true } },
      strict: true,
    });
    return withAdapters(true, async (store, bus) => {
      const rows = await store.select('dead_letters', {
        where: values.id?.length
          ? [{ column: 'id', op: 'in', value: values.id }]
          : [{ column: 'replayed_ms', op: '=', value: 0 }],
        orderBy: [{ column: 'received_ms', direction: 'asc' }],
        limit: maxSelectRows,
      });
      const missing = (values.id ?? []).filter((id) => !rows.some((r) => r.id === id));
      for (const id of missing) process.stderr.write(`glasshouse: no dead letter with id ${id}\n`);
      if (rows.length > 0) {
        // Publish first: a row marked replayed whose record never reached the topic would be lost.
        await bus.publish(Topics.metricsRaw, rows.map(replayRecord));
        const now = Date.now();
        await store.insert(
          'dead_letters',
          rows.map((r) => ({ ...r, replayed_ms: now })),
        );
      }
      print(`replayed ${rows.length} dead letter${rows.length === 1 ? '' : 's'} to ${Topics.metricsRaw}`);
      return missing.length > 0 ? 1 : 0;
    });
  }
  throw new GlasshouseError('usage', `unknown dlq sub-command "${sub ?? ''}" (use list or replay)`);
}

function describeDeadLetter(row: Row<'dead_letters'>): string {
  const text = Buffer.from(row.payload, 'base64').toString('utf8');
  const agency = (row.headers as Record<string, unknown> | null)?.['glasshouse-agency'];
  const replayed = row.replayed_ms > 0 ? ` replayed=${new Date(row.replayed_ms).toISOString()}` : '';
  return [
    `${row.id}  ${new Date(row.received_ms).toISOString()}  ${reasonCode(row)}  agency=${typeof agency === 'string' ? agency : '-'}${replayed}`,
    `  reason:  ${row.reason}`,
    `  payload: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`,
  ].join('\n');
}

/** `glasshouse verify-rollups --module M`: exits 1 and prints the differences when they disagree. */
export async function verifyRollupsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { module: { type: 'string' } }, strict: true });
  const moduleId = values.module;
  if (!moduleId) throw new GlasshouseError('usage', 'verify-rollups needs --module M');
  return withAdapters(false, async (store) => {
    const report = await verifyModule(store, moduleId);
    if (!report) {
      process.stderr.write(`glasshouse: unknown module "${moduleId}"\n`);
      return 2;
    }
    for (const d of report.differences) {
      print(`DIFF ${d.ruleId} ${d.what}: expected ${String(d.expected)}, stored ${String(d.actual)}`);
    }
    print(
      `${moduleId}: ${report.events} raw events, ${report.rollups} rollup rows, ${report.updates} goal windows checked: ` +
        (report.differences.length === 0 ? 'agree' : `${report.differences.length} differences`),
    );
    return report.differences.length === 0 ? 0 : 1;
  });
}

export interface VerifyReport {
  events: number;
  rollups: number;
  updates: number;
  differences: Difference[];
}

/** Reads a module's stored raw events, rollups and latest updates, and compares them (ground-truth.ts). */
export async function verifyModule(store: Store, moduleId: string): Promise<VerifyReport | undefined> {
  const [latest] = await store.select('module_versions', {
    where: [{ column: 'module_id', op: '=', value: moduleId }],
    orderBy: [{ column: 'version', direction: 'desc' }],
    limit: 1,
  });
  const parsed = latest ? ModuleVersion.safeParse(latest.body) : undefined;
  if (!parsed?.success) return undefined;
  const module = parsed.data;
  const events = await allRawEvents(store, moduleId);
  const rollups = await store.select('rollups', {
    where: [{ column: 'module_id', op: '=', value: moduleId }],
    limit: maxSelectRows,
  });
  const updates = [];
  for (const rule of [...module.goals, ...module.constraints]) {
    const [row] = await store.select('performance_updates', {
      where: [
        { column: 'module_id', op: '=', value: moduleId },
        { column: 'goal_id', op: '=', value: rule.id },
      ],
      orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
      limit: 1,
    });
    if (row) updates.push(row);
  }
  return {
    events: events.length,
    rollups: rollups.length,
    updates: updates.length,
    differences: [...compareRollups(module, rollups, events), ...compareUpdates(module, updates, events)],
  };
}

/** Every stored raw event of a module, paged by observedAt (the store caps one select). */
async function allRawEvents(store: Store, moduleId: string): Promise<RawEvent[]> {
  const out = new Map<string, Row<'metric_events'>>();
  let from = Number.NEGATIVE_INFINITY;
  for (;;) {
    const page = await store.select('metric_events', {
      where: [
        { column: 'module_id', op: '=', value: moduleId },
        ...(Number.isFinite(from) ? [{ column: 'observed_ms', op: '>=' as const, value: from }] : []),
      ],
      orderBy: [{ column: 'observed_ms' }],
      limit: maxSelectRows,
    });
    for (const e of page) out.set(`${e.agency_id} ${e.event_id}`, e);
    if (page.length < maxSelectRows) break;
    const last = page[page.length - 1]!.observed_ms;
    if (last === from)
      throw new GlasshouseError('too_many_rows', `more than ${maxSelectRows} events share one observedAt`);
    from = last;
  }
  return [...out.values()];
}
