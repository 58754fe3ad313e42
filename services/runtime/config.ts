import { z } from 'zod';
import { Duration, parseDuration } from '../../schemas/common.js';
import { keyTypes, type NoteVerifierKey, parseVerifierKey } from '../core/audit/note.js';
import type { ExpiringTable } from '../ports/retention.js';
import { WebhookAllowList } from './address-guard.js';
import { ConfigError } from './errors.js';

export const roles = ['all', 'ingest', 'processor', 'gateway', 'api'] as const;
export type Role = (typeof roles)[number];

const intFrom = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const brokerList = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'each broker must be host:port'))
      .min(1, 'must name at least one broker'),
  );

const dayMs = 86_400_000;

/**
 * A retention: whole days (`400d`) or `forever`, parsed to milliseconds (null: forever).
 * `minDays` keeps what a restart restores from the store (see README, "Retention").
 */
const retention = (minDays: number) =>
  z
    .string()
    .regex(/^(\d{1,5}d|forever)$/, 'must be a number of days like 400d, or forever')
    .transform((text) => (text === 'forever' ? null : Number(text.slice(0, -1))))
    .pipe(
      z
        .number()
        .int()
        .min(minDays, `must be at least ${minDays}d`)
        .max(36_500, 'must be at most 36500d (or forever)')
        .transform((days) => days * dayMs)
        .nullable(),
    );

/** `<url> <verifier key>` pairs, comma-separated: the witnesses every new audit checkpoint is pushed to. */
const witnessList = z.string().transform((text, ctx) => {
  const witnesses: Array<{ url: string; key: NoteVerifierKey }> = [];
  for (const [index, item] of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .entries()) {
    const [url, vkey, ...rest] = item.split(/\s+/);
    try {
      if (!url || !vkey || rest.length) throw new Error('must be "<url> <verifier key>"');
      const parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw new Error('the url must be http(s)');
      const key = parseVerifierKey(vkey);
      if (key.type !== keyTypes.cosignatureV1)
        throw new Error('the key must be a cosignature (type 0x04) key');
      witnesses.push({ url: parsed.toString().replace(/\/+$/, ''), key });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `witness ${index + 1}: ${(err as Error).message}` });
    }
  }
  return witnesses;
});

/** A duration such as `72h` or `7d`, parsed to milliseconds. */
const durationMs = Duration.transform((text) => parseDuration(text) ?? 0);

/** Every environment variable Glasshouse reads, parsed once at startup. */
const Env = z.object({
  GLASSHOUSE_PORT: intFrom(0, 65_535).default(8080),
  GLASSHOUSE_HOST: z.string().min(1).default('127.0.0.1'),
  GLASSHOUSE_DATA_DIR: z.string().min(1).default('./data'),
  /** Standalone: DuckDB's memory limit (its buffer cache; larger sorts spill to disk). */
  GLASSHOUSE_DUCKDB_MEMORY: z
    .string()
    .regex(/^[1-9][0-9]{0,6}(KB|MB|GB|KiB|MiB|GiB)$/, 'must be a size such as 512MB or 2GiB')
    .default('128MB'),
  /** Standalone: DuckDB's worker threads (the process's own event loop needs a core too). */
  GLASSHOUSE_DUCKDB_THREADS: intFrom(1, 256).default(1),
  GLASSHOUSE_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Signs commands between roles (alert acknowledgements); defaults to one derived from the admin token. */
  GLASSHOUSE_COMMAND_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  GLASSHOUSE_KAFKA_BROKERS: brokerList.optional(),
  GLASSHOUSE_CLICKHOUSE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  GLASSHOUSE_CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,63}$/, 'must be a lowercase identifier')
    .default('glasshouse'),
  GLASSHOUSE_CLICKHOUSE_USER: z.string().optional(),
  GLASSHOUSE_CLICKHOUSE_PASSWORD: z.string().optional(),
  GLASSHOUSE_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]{0,100}$/, 'must be letters, digits, ".", "_" or "-"')
    .default(''),
  GLASSHOUSE_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  GLASSHOUSE_INGEST_RATE: intFrom(1, 10_000_000).default(5_000),
  GLASSHOUSE_INGEST_BURST: intFrom(1, 100_000_000).default(10_000),
  GLASSHOUSE_ALLOWED_ORIGINS: z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .optional(),
  GLASSHOUSE_SHUTDOWN_TIMEOUT_MS: intFrom(100, 600_000).default(15_000),
  /** Attempts per webhook delivery before it is kept as failed. */
  GLASSHOUSE_WEBHOOK_ATTEMPTS: intFrom(1, 20).default(6),
  /** First webhook retry delay in ms; doubles per attempt, capped at 60 s. */
  GLASSHOUSE_WEBHOOK_RETRY_MS: intFrom(10, 60_000).default(1_000),
  /** The site's public address: links in e-mail and chat notifications point there. */
  GLASSHOUSE_PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /**
   * The SMTP server e-mail notifications go through, as smtp://[user:pass@]host:port (STARTTLS when
   * offered) or smtps://...; without it no e-mail is sent (subscriptions are still kept).
   */
  GLASSHOUSE_SMTP_URL: z
    .url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' })
    .optional(),
  /** The From address of notification e-mails. */
  GLASSHOUSE_MAIL_FROM: z.email({ error: 'must be an e-mail address' }).default('glasshouse@localhost'),
  /** The hour (UTC, 0-23) daily digests are sent, for the day before. */
  GLASSHOUSE_DIGEST_HOUR: intFrom(0, 23).default(6),
  /** Raw events, by event time. Bounds the processor's dedup guarantee (README, "Retention"). */
  GLASSHOUSE_RETENTION_RAW_EVENTS: retention(8).prefault('400d'),
  GLASSHOUSE_RETENTION_UPDATES: retention(8).prefault('400d'),
  /** At least 2 × the longest window (366d) + the longest allowed lateness (7d): restore reads that far back. */
  GLASSHOUSE_RETENTION_ROLLUPS: retention(739).prefault('forever'),
  GLASSHOUSE_RETENTION_ALERTS: retention(8).prefault('forever'),
  /** Public events exports streamed at once per api process. */
  GLASSHOUSE_EXPORT_CONCURRENCY: intFrom(1, 1_000).default(4),
  /** Public events exports one source address may start per minute. */
  GLASSHOUSE_EXPORT_RATE: intFrom(1, 100_000).default(30),
  /** The licence of the open data: an SPDX id (CC-BY-4.0, CC0-1.0, ODbL-1.0, ...) or a URL. */
  GLASSHOUSE_DATA_LICENSE: z
    .string()
    .regex(/^([A-Za-z0-9.+-]{1,64}|https?:\/\/\S{1,500})$/, 'must be an SPDX licence id (CC-BY-4.0) or a URL')
    .default('CC-BY-4.0'),
  /** Who publishes the open data (the catalog's and every dataset's publisher). */
  GLASSHOUSE_DATA_PUBLISHER: z.string().trim().min(1).max(200).default('Glasshouse'),
  /** The audit log's signing key (PKCS#8 PEM, Ed25519); standalone generates one under the data directory. */
  GLASSHOUSE_LOG_KEY_FILE: z.string().min(1).optional(),
  /** The audit log's origin line in its checkpoints, and its key name. */
  GLASSHOUSE_LOG_ORIGIN: z
    .string()
    .regex(/^[^\s+]{1,200}$/, 'must be a name without spaces or "+", like example.org/audit')
    .default('glasshouse.local/audit'),
  GLASSHOUSE_WITNESSES: witnessList.optional(),
  /** `0`: single-admin deployment, direct edits of goals and owners (marked as not independently approved). */
  GLASSHOUSE_APPROVALS: z.enum(['0', '1'], { error: 'must be 0 or 1' }).default('1'),
  /** How long a proposal waits for its approvals. */
  GLASSHOUSE_PROPOSAL_TTL: durationMs.prefault('7d'),
  /** How long an approved change is public before it takes effect. */
  GLASSHOUSE_NOTICE_PERIOD: durationMs.prefault('72h'),
  /** Blocked webhook destinations the operator allows: CIDRs, addresses or host:port, comma-separated. */
  GLASSHOUSE_WEBHOOK_ALLOW: z
    .string()
    .transform((text, ctx) => {
      try {
        return WebhookAllowList.parse(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
});

export interface CliOverrides {
  role?: Role;
  demo?: boolean;
  port?: number;
  dataDir?: string;
}

/** The validated configuration, passed down explicitly; nothing else reads `process.env`. */
export interface Config {
  role: Role;
  demo: boolean;
  port: number;
  host: string;
  dataDir: string;
  /** `GLASSHOUSE_DUCKDB_MEMORY`: the standalone store's memory limit. */
  duckdbMemory: string;
  /** `GLASSHOUSE_DUCKDB_THREADS`: the standalone store's worker threads. */
  duckdbThreads: number;
  adminToken: string | undefined;
  /** `GLASSHOUSE_COMMAND_KEY` (runtime/command-key.ts picks the key actually used). */
  commandKey: string | undefined;
  kafka: { brokers: string[] } | undefined;
  clickhouse: { url: string; database: string; username?: string; password?: string } | undefined;
  topicPrefix: string;
  logLevel: z.infer<typeof Env>['GLASSHOUSE_LOG_LEVEL'];
  ingest: { ratePerSecond: number; burst: number };
  allowedOrigins: string[] | undefined;
  shutdownTimeoutMs: number;
  webhooks: { maxAttempts: number; retryBaseMs: number; allow: WebhookAllowList };
  /** The site's public address (links in notifications); `http://localhost:<port>/` when unset. */
  publicUrl: string;
  /** E-mail notifications: SMTP server (undefined: none sent), sender, digest hour; retries as webhooks. */
  mail: { smtpUrl: string | undefined; from: string; digestHourUtc: number };
  /** How long each expiring table keeps a row, in ms; undefined keeps it forever. */
  retentionMs: Record<ExpiringTable, number | undefined>;
  exports: { concurrency: number; perMinute: number };
  /** How module changes are approved (core/registry/proposals.ts). */
  approvals: { enabled: boolean; ttlMs: number; noticeMs: number };
  /** The open data's licence (SPDX id or URL) and publisher, for the catalog and data packages. */
  openData: { license: string; publisher: string };
  /** The audit log's checkpoints: origin, signing key file (undefined: generated) and witnesses. */
  auditLog: {
    origin: string;
    keyFile: string | undefined;
    witnesses: Array<{ url: string; key: NoteVerifierKey }>;
  };
}

/** Parses the environment (and CLI overrides); throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv, cli: CliOverrides = {}): Config {
  const present = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => k.startsWith('GLASSHOUSE_') && v !== ''),
  );
  const parsed = Env.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`, problems);
  }
  const e = parsed.data;
  return {
    role: cli.role ?? 'all',
    demo: cli.demo ?? false,
    port: cli.port ?? e.GLASSHOUSE_PORT,
    host: e.GLASSHOUSE_HOST,
    dataDir: cli.dataDir ?? e.GLASSHOUSE_DATA_DIR,
    duckdbMemory: e.GLASSHOUSE_DUCKDB_MEMORY,
    duckdbThreads: e.GLASSHOUSE_DUCKDB_THREADS,
    adminToken: e.GLASSHOUSE_ADMIN_TOKEN,
    commandKey: e.GLASSHOUSE_COMMAND_KEY,
    kafka: e.GLASSHOUSE_KAFKA_BROKERS ? { brokers: e.GLASSHOUSE_KAFKA_BROKERS } : undefined,
    clickhouse: e.GLASSHOUSE_CLICKHOUSE_URL
      ? {
          url: e.GLASSHOUSE_CLICKHOUSE_URL,
          database: e.GLASSHOUSE_CLICKHOUSE_DATABASE,
          ...(e.GLASSHOUSE_CLICKHOUSE_USER ? { username: e.GLASSHOUSE_CLICKHOUSE_USER } : {}),
          ...(e.GLASSHOUSE_CLICKHOUSE_PASSWORD ? { password: e.GLASSHOUSE_CLICKHOUSE_PASSWORD } : {}),
        }
      : undefined,
    topicPrefix: e.GLASSHOUSE_TOPIC_PREFIX,
    logLevel: e.GLASSHOUSE_LOG_LEVEL,
    ingest: { ratePerSecond: e.GLASSHOUSE_INGEST_RATE, burst: e.GLASSHOUSE_INGEST_BURST },
    allowedOrigins: e.GLASSHOUSE_ALLOWED_ORIGINS,
    shutdownTimeoutMs: e.GLASSHOUSE_SHUTDOWN_TIMEOUT_MS,
    webhooks: {
      maxAttempts: e.GLASSHOUSE_WEBHOOK_ATTEMPTS,
      retryBaseMs: e.GLASSHOUSE_WEBHOOK_RETRY_MS,
      allow: e.GLASSHOUSE_WEBHOOK_ALLOW ?? WebhookAllowList.parse(undefined),
    },
    publicUrl: e.GLASSHOUSE_PUBLIC_URL ?? `http://localhost:${cli.port ?? e.GLASSHOUSE_PORT}/`,
    mail: {
      smtpUrl: e.GLASSHOUSE_SMTP_URL,
      from: e.GLASSHOUSE_MAIL_FROM,
      digestHourUtc: e.GLASSHOUSE_DIGEST_HOUR,
    },
    retentionMs: {
      metric_events: e.GLASSHOUSE_RETENTION_RAW_EVENTS ?? undefined,
      performance_updates: e.GLASSHOUSE_RETENTION_UPDATES ?? undefined,
      rollups: e.GLASSHOUSE_RETENTION_ROLLUPS ?? undefined,
      alerts: e.GLASSHOUSE_RETENTION_ALERTS ?? undefined,
    },
    exports: { concurrency: e.GLASSHOUSE_EXPORT_CONCURRENCY, perMinute: e.GLASSHOUSE_EXPORT_RATE },
    approvals: {
      enabled: e.GLASSHOUSE_APPROVALS === '1',
      ttlMs: e.GLASSHOUSE_PROPOSAL_TTL,
      noticeMs: e.GLASSHOUSE_NOTICE_PERIOD,
    },
    openData: { license: e.GLASSHOUSE_DATA_LICENSE, publisher: e.GLASSHOUSE_DATA_PUBLISHER },
    auditLog: {
      origin: e.GLASSHOUSE_LOG_ORIGIN,
      keyFile: e.GLASSHOUSE_LOG_KEY_FILE,
      witnesses: e.GLASSHOUSE_WITNESSES ?? [],
    },
  };
}
