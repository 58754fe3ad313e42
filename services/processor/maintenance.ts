import { parseArgs } from 'node:util';
import { parseDuration } from '../../schemas/common.js';
import { ModuleVersion } from '../../schemas/registry.js';
import type { Bus } from '../ports/bus.js';
import { groundTruthOf } from '../ports/ground-truth.js';
import { maxSelectRows, type Store } from '../ports/store.js';
import type { Row } from '../ports/tables.js';
import { Topics } from '../ports/topics.js';
import { chooseAdapters } from '../runtime/adapters.js';
import { loadConfig } from '../runtime/config.js';
import { GlasshouseError } from '../runtime/errors.js';
import { createLogger } from '../runtime/logger.js';
import { reasonCode, replayRecord } from './dead-letters.js';
import {
  bucketDifferences,
  type Difference,
  DifferenceLog,
  quantileOf,
  windowDifferences,
} from './ground-truth.js';

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

/** `glasshouse verify-rollups --module M`: exits 1 and prints the first differences when they disagree. */
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
    const shown =
      report.total > report.differences.length ? ` (first ${report.differences.length} shown)` : '';
    print(
      `${moduleId}: ${report.events} raw events, ${report.rollups} rollup rows, ${report.updates} goal windows checked: ` +
        (report.total === 0 ? 'agree' : `${report.total} differences${shown}`),
    );
    return report.total === 0 ? 0 : 1;
  });
}

export interface VerifyReport {
  /** Stored raw events of the module (after dedup). */
  events: number;
  /** Stored rollup rows (latest version of each key) of the module's current rules. */
  rollups: number;
  /** Goals and constraints whose latest update was checked. */
  updates: number;
  /** The first differences (at most `limit`), in rule and bucket order. */
  differences: Difference[];
  /** How many differences there are in all. */
  total: number;
}

/**
 * Checks a module's stored rollups and latest updates against the store's own SQL recompute of its
 * raw events (ports/ground-truth.ts): every rollup bucket of each current rule against all raw events
 * of its bucket, and each rule's latest update against its window over the raw events that were not
 * late. Streams: memory holds one bucket pair and the first `limit` differences, whatever the size.
 */
export async function verifyModule(
  store: Store,
  moduleId: string,
  limit = 20,
): Promise<VerifyReport | undefined> {
  const [latest] = await store.select('module_versions', {
    where: [{ column: 'module_id', op: '=', value: moduleId }],
    orderBy: [{ column: 'version', direction: 'desc' }],
    limit: 1,
  });
  const parsed = latest ? ModuleVersion.safeParse(latest.body) : undefined;
  if (!parsed?.success) return undefined;
  const module = parsed.data;
  const truth = groundTruthOf(store);
  const log = new DifferenceLog(limit);
  let rollups = 0;
  let updates = 0;
  for (const rule of [...module.goals, ...module.constraints]) {
    const geometry = await truth.bucketGeometry(parseDuration(rule.window) ?? 0);
    await truth.forEachBucket(
      { moduleId, ruleId: rule.id, metric: rule.metric, widthMs: geometry.widthMs },
      (pair) => {
        if (pair.stored) rollups += 1;
        log.add(bucketDifferences(rule.id, pair));
      },
    );
    const [row] = await store.select('performance_updates', {
      where: [
        { column: 'module_id', op: '=', value: moduleId },
        { column: 'goal_id', op: '=', value: rule.id },
      ],
      orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
      limit: 1,
    });
    if (!row) continue;
    updates += 1;
    const quantile = quantileOf(rule.aggregation);
    const window = await truth.window({
      moduleId,
      metric: rule.metric,
      geometry,
      asOfMs: row.as_of_ms,
      ...(quantile === undefined ? {} : { quantile }),
    });
    const body = row.body as { value: number | null; count: number };
    log.add(
      windowDifferences(rule, row.as_of_ms, window, geometry.buckets * geometry.widthMs, {
        value: body.value,
        count: body.count,
      }),
    );
  }
  return {
    events: await truth.eventCount(moduleId),
    rollups,
    updates,
    differences: log.first,
    total: log.total,
  };
}
