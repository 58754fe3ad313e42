import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ContractName, contracts } from '../schemas/index.js';
import { jsonSchemaOf } from '../schemas/openapi.js';
import { type CliOverrides, loadConfig, type Role, roles } from './runtime/config.js';
import { GlasshouseError } from './runtime/errors.js';
import { createLogger } from './runtime/logger.js';

const usage = `usage:
  glasshouse start [--role all|ingest|processor|gateway|api] [--demo] [--port N] [--data-dir D]
  glasshouse schemas export [--out DIR]      write JSON Schema files for every public contract
  glasshouse dlq list [--all] [--limit N]    show records the processor set aside, with the reason
  glasshouse dlq replay [--id ID ...]        re-publish them (all not yet replayed, or these) to metrics.raw
  glasshouse verify-rollups --module M       recompute rollups and windows in the store's SQL; exit 1 listing differences
  glasshouse audit verify <url|file> [--checkpoint FILE [--save]] [--log-key VKEY] [--witness VKEY ...]
                    [--quorum K] [--evidence FILE] [--head HASH]
                                             check the audit log without trusting its server: the log's
                                             signature and K witness cosignatures on its checkpoint, the
                                             entries against its root, consistency with the saved checkpoint;
                                             on failure write an evidence file and exit 1
  glasshouse witness --port P --data-dir D --log-key VKEY [--log-key VKEY ...] [--key-file F] [--name N] [--host H]
                                             run an independent witness (C2SP tlog-witness) that cosigns the
                                             checkpoints of these logs only when they extend what it cosigned
`;

type Command = (args: string[]) => Promise<number>;

/** Sub-commands by name. Each returns the process exit code. */
export const commands: Record<string, Command> = {
  start: startCommand,
  schemas: schemasCommand,
  dlq: async (args) => (await import('./processor/maintenance.js')).dlqCommand(args),
  'verify-rollups': async (args) => (await import('./processor/maintenance.js')).verifyRollupsCommand(args),
  audit: auditCommand,
  witness: witnessCommand,
};

/** Runs the CLI and returns the exit code; `start` keeps the process alive until a signal. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(name && name !== '--help' ? `unknown command "${name}"\n${usage}` : usage);
    return name && name !== '--help' ? 2 : 0;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof GlasshouseError || isCodedError(err)) {
      process.stderr.write(`glasshouse: ${err.message}\n`);
      return 2;
    }
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`glasshouse: ${err.message}\n${usage}`);
      return 2;
    }
    throw err;
  }
}

/** Errors of the adapters' contract (a stable `code` and `retriable`), e.g. a data directory in use. */
function isCodedError(err: unknown): err is Error & { code: string } {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    typeof (err as { retriable?: unknown }).retriable === 'boolean'
  );
}

async function startCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      role: { type: 'string' },
      demo: { type: 'boolean' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
  });
  const cli: CliOverrides = {};
  if (values.role !== undefined) {
    if (!(roles as readonly string[]).includes(values.role)) {
      throw new GlasshouseError(
        'config_invalid',
        `--role must be one of ${roles.join(', ')} (got "${values.role}")`,
      );
    }
    cli.role = values.role as Role;
  }
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65_535) {
      throw new GlasshouseError('config_invalid', `--port must be a port number (got "${values.port}")`);
    }
    cli.port = Number(values.port);
  }
  if (values.demo) cli.demo = true;
  if (values['data-dir'] !== undefined) cli.dataDir = values['data-dir'];
  const config = loadConfig(process.env, cli);
  const logger = createLogger(config.logLevel);
  const { startGlasshouse } = await import('./main.js');
  const running = await startGlasshouse(config, logger);
  running.lifecycle.installSignalHandlers();
  logger.info(
    { port: running.port, dashboard: running.dashboardUrl },
    `glasshouse ready on http://${config.host}:${running.port}/ (dashboard ${running.dashboardUrl})`,
  );
  if (running.generatedAdminToken !== undefined) {
    // Plain text on the terminal, not in the structured log: shown this once, never stored in clear.
    process.stdout.write(
      `\n  Dashboard:   ${running.dashboardUrl}\n` +
        `  Admin token: ${running.generatedAdminToken}\n` +
        '  (shown once: only its hash is kept, in the data directory; keep it to administer this Glasshouse)\n\n',
    );
  }
  // Stay alive: the HTTP server and consumers hold the event loop open until a signal stops them.
  return new Promise<number>(() => {});
}

async function schemasCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'export')
    throw new GlasshouseError('usage', `unknown schemas sub-command "${sub ?? ''}"\n${usage}`);
  const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } }, strict: true });
  const out = values.out ?? 'schemas/json';
  await mkdir(out, { recursive: true });
  for (const name of Object.keys(contracts) as ContractName[]) {
    const file = join(out, `${name}.schema.json`);
    await writeFile(file, `${JSON.stringify({ title: name, ...jsonSchemaOf(name, 'input') }, null, 2)}\n`);
  }
  process.stdout.write(`wrote ${Object.keys(contracts).length} JSON Schema files to ${out}\n`);
  return 0;
}

/**
 * `audit verify <url|file>`: reads every entry (all pages of GET /v1/audit, or an exported file),
 * recomputes the chain and the Merkle tree locally and checks them against the served checkpoint and
 * the saved one (services/api/audit-check.ts); prints the verdict as JSON. Exit 0 valid, 1 broken
 * (an evidence file is written) or not the expected `--head`, 2 unusable input.
 */
async function auditCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify')
    throw new GlasshouseError('usage', `unknown audit sub-command "${sub ?? ''}"\n${usage}`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      head: { type: 'string' },
      checkpoint: { type: 'string' },
      save: { type: 'boolean' },
      'log-key': { type: 'string' },
      witness: { type: 'string', multiple: true },
      quorum: { type: 'string' },
      evidence: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [source] = positionals;
  if (!source || positionals.length > 1)
    throw new GlasshouseError('usage', `audit verify takes one url or file\n${usage}`);
  if (values.save && values.checkpoint === undefined)
    throw new GlasshouseError('usage', '--save writes the new checkpoint to the --checkpoint file: name one');
  const { parseVerifierKey, keyTypes } = await import('./core/audit/note.js');
  const key = (text: string, what: string, type: number) => {
    try {
      const parsed = parseVerifierKey(text);
      if (parsed.type !== type) throw new Error(`it is a key of type ${parsed.type}, not ${type}`);
      return parsed;
    } catch (err) {
      throw new GlasshouseError('usage', `${what} "${text}": ${(err as Error).message}`);
    }
  };
  const witnesses = (values.witness ?? []).map((w) => key(w, '--witness', keyTypes.cosignatureV1));
  if (values.quorum !== undefined && !/^\d{1,3}$/.test(values.quorum))
    throw new GlasshouseError('usage', `--quorum must be a whole number (got "${values.quorum}")`);
  const quorum = values.quorum === undefined ? Math.min(1, witnesses.length) : Number(values.quorum);
  if (quorum > witnesses.length)
    throw new GlasshouseError('usage', `--quorum ${quorum} needs at least ${quorum} --witness keys`);
  let saved: string | undefined;
  if (values.checkpoint !== undefined) {
    try {
      saved = await readFile(values.checkpoint, 'utf8');
    } catch (err) {
      // The first run with --save has nothing saved yet.
      if (!(values.save && (err as NodeJS.ErrnoException).code === 'ENOENT'))
        throw new GlasshouseError('usage', `cannot read ${values.checkpoint}: ${(err as Error).message}`);
    }
  }
  const { checkAuditLog } = await import('./api/audit-check.js');
  let result: Awaited<ReturnType<typeof checkAuditLog>>;
  try {
    result = await checkAuditLog({
      source,
      logKey:
        values['log-key'] === undefined ? undefined : key(values['log-key'], '--log-key', keyTypes.ed25519),
      saved,
      witnesses,
      quorum,
    });
  } catch (err) {
    if (err instanceof GlasshouseError) throw err;
    throw new GlasshouseError('export_unavailable', `cannot read ${source}: ${(err as Error).message}`);
  }
  if (!result.ok) {
    const file =
      values.evidence ?? `glasshouse-audit-evidence-${result.evidence.createdAt.replace(/[:.]/g, '-')}.json`;
    await writeFile(file, `${JSON.stringify(result.evidence, null, 2)}\n`);
    const { check, reason } = result.evidence;
    const verdict = result.chain.valid
      ? { valid: false, length: result.chain.length, check, reason }
      : { ...result.chain, check };
    process.stdout.write(`${JSON.stringify({ ...verdict, evidence: file })}\n`);
    process.stderr.write(`glasshouse: ${result.evidence.reason}\n  evidence written to ${file}\n`);
    return 1;
  }
  if (result.keyTrustedOnFirstUse)
    process.stderr.write(
      `glasshouse: trusting the log key the server names (${result.logKey}); pin it with --log-key\n`,
    );
  if (values.save && result.checkpoint !== undefined && values.checkpoint !== undefined)
    await writeFile(values.checkpoint, result.checkpoint);
  const { chain, size, witnesses: cosigned, logKey } = result;
  process.stdout.write(
    `${JSON.stringify({ ...chain, ...(result.checkpoint === undefined ? {} : { checkpointSize: size, witnesses: cosigned, logKey }) })}\n`,
  );
  if (chain.valid && values.head !== undefined && chain.head !== values.head) {
    process.stderr.write(
      `glasshouse: the chain is intact but its head is ${chain.head}, not ${values.head} (entries missing or added)\n`,
    );
    return 1;
  }
  return 0;
}

/**
 * `witness`: an independent witness for one or more logs (their verifier keys), keeping its state and,
 * unless --key-file names one, its key under the data directory. Runs until SIGTERM or SIGINT.
 */
async function witnessCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'log-key': { type: 'string', multiple: true },
      'key-file': { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  });
  const port = values.port ?? '';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535)
    throw new GlasshouseError('usage', `--port must be a port number (got "${port}")`);
  const dataDir = values['data-dir'];
  if (!dataDir) throw new GlasshouseError('usage', 'witness needs --data-dir');
  const { parseVerifierKey, keyTypes } = await import('./core/audit/note.js');
  const logs = new Map<string, ReturnType<typeof parseVerifierKey>>();
  for (const text of values['log-key'] ?? []) {
    let key: ReturnType<typeof parseVerifierKey>;
    try {
      key = parseVerifierKey(text);
    } catch (err) {
      throw new GlasshouseError('usage', `--log-key "${text}": ${(err as Error).message}`);
    }
    if (key.type !== keyTypes.ed25519)
      throw new GlasshouseError('usage', `--log-key "${text}" is not an Ed25519 log key`);
    logs.set(key.name, key);
  }
  if (!logs.size)
    throw new GlasshouseError('usage', "witness needs at least one --log-key (the log's verifier key)");
  const name = values.name ?? 'glasshouse-witness';
  if (!/^[^\s+]{1,200}$/.test(name))
    throw new GlasshouseError('usage', `--name "${name}" has a space or "+"`);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { loadOrGenerateKey, readKey } = await import('./runtime/log-key.js');
  const key =
    values['key-file'] !== undefined
      ? await readKey(values['key-file'], '--key-file')
      : (await loadOrGenerateKey(join(dataDir, 'witness-key.pem'))).key;
  const { ed25519Cosigner } = await import('./core/audit/checkpoint.js');
  const { WitnessState } = await import('./witness/state.js');
  const { WitnessServer } = await import('./witness/server.js');
  const cosigner = ed25519Cosigner(name, key);
  const logger = createLogger(process.env.GLASSHOUSE_LOG_LEVEL === 'silent' ? 'silent' : 'info');
  const host = values.host ?? '127.0.0.1';
  const server = new WitnessServer({
    host,
    port: Number(port),
    logs,
    state: await WitnessState.open(dataDir),
    cosigner,
    logger,
  });
  const bound = await server.start();
  // Before the ready line: whoever waits for it can read the key at once.
  process.stdout.write(`witness key: ${cosigner.key.text}\n`);
  logger.info(
    { witnessKey: cosigner.key.text, logs: [...logs.keys()] },
    `glasshouse ready on http://${host}:${bound}/ (witness ${cosigner.key.text})`,
  );
  return new Promise<number>((resolve) => {
    const stop = () => {
      void server.stop().then(() => resolve(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
