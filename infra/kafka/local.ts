import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafkaJars } from './jars.js';

const exec = promisify(execFile);

export interface LocalKafkaOptions {
  /** JVM max heap in MiB (default 384). */
  heapMb?: number;
  /** Data and config folder; default a fresh temp dir, removed by `stop()`. */
  dataDir?: string;
  /** Client port (default: a free one). */
  port?: number;
}

/** A single-node KRaft Kafka (broker and controller in one JVM) running as a child process. */
export interface LocalKafka {
  /** `127.0.0.1:PORT`. */
  readonly brokers: string;
  /** SIGTERM (controlled shutdown), SIGKILL if that takes too long; removes the data dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; keeps the data dir so `restart()` recovers from it. */
  kill(): Promise<void>;
  /** Stops (gracefully) and starts again on the same ports and data dir; resolves once it answers. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

/** Starts a local Kafka broker from the Maven-fetched jars and resolves once it answers `listTopics`. */
export async function startLocalKafka(opts: LocalKafkaOptions = {}): Promise<LocalKafka> {
  const jars = await ensureKafkaJars();
  const ownsDir = opts.dataDir === undefined;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'glasshouse-kafka-')));
  const port = opts.port ?? (await freePort());
  const controllerPort = await freePort(port);
  const brokers = `127.0.0.1:${port}`;
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  const stdoutLog = join(dir, 'stdout.log');
  const classpath = `${join(jars, '*')}`;
  const jvmBase = [
    '-XX:TieredStopAtLevel=1',
    '-Xshare:auto',
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${log4j}`,
    '-cp',
    classpath,
  ];

  await writeFile(props, serverProperties(dir, port, controllerPort));
  await writeFile(log4j, log4jProperties(join(dir, 'kafka.log')));
  try {
    await exec('java', [...jvmBase, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', props], {
      timeout: 60_000,
    });
  } catch (err) {
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw new Error(`formatting the Kafka storage failed: ${(err as Error).message}`);
  }

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  // The broker runs in its own process group (so a terminal's Ctrl-C does not race our shutdown);
  // this net makes sure it never outlives the process that started it, even after a crash.
  const killGroupSync = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
  };
  const onExit = () => {
    killGroupSync();
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    // Re-raise only when nobody else handles the signal, so the default (terminate) still happens.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  process.on('exit', onExit);
  for (const s of signals) process.once(s, onSignal);
  const removeSafetyNet = () => {
    process.off('exit', onExit);
    for (const s of signals) process.off(s, onSignal);
  };

  const launch = async () => {
    const out = openSync(stdoutLog, 'a');
    const heap = opts.heapMb ?? 384;
    const proc = spawn('java', [`-Xmx${heap}m`, '-Xms128m', ...jvmBase, 'kafka.Kafka', props], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    child = proc;
    exited = new Promise((done) => proc.once('exit', () => done()));
    proc.once('error', () => {});
    const started = Date.now();
    try {
      await waitUntilAnswers(brokers, proc, READY_TIMEOUT_MS);
    } catch (err) {
      await signalAndWait('SIGKILL', 0);
      throw new Error(`${(err as Error).message} (after ${Date.now() - started} ms)\n${await logTail(dir)}`);
    }
  };

  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number) => {
    const proc = child;
    if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    try {
      process.kill(-proc.pid, signal);
    } catch {}
    if (graceMs > 0) {
      const timer = setTimeout(() => {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {}
      }, graceMs);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  };

  try {
    await launch();
  } catch (err) {
    removeSafetyNet();
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    brokers,
    async stop() {
      if (stopped) return;
      stopped = true;
      await signalAndWait('SIGTERM', STOP_TIMEOUT_MS);
      removeSafetyNet();
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      await signalAndWait('SIGKILL', 0);
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop(): the data dir is gone');
      await signalAndWait('SIGTERM', STOP_TIMEOUT_MS);
      await launch();
    },
  };
}

function serverProperties(dir: string, port: number, controllerPort: number): string {
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'group.min.session.timeout.ms': 1000,
    'auto.create.topics.enable': false,
    'num.partitions': 1,
    'log.segment.bytes': 8 * 1024 * 1024,
    // After a SIGKILL the restarted controller keeps the dead incarnation's session alive until it
    // times out (default 9 s) and refuses the new registration meanwhile: keep that short.
    'broker.heartbeat.interval.ms': 500,
    'broker.session.timeout.ms': 2500,
    // Small machine: fewer threads, and a compaction buffer that does not take a third of the heap.
    'num.network.threads': 2,
    'num.io.threads': 2,
    'background.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'log.cleaner.threads': 1,
    'log.cleaner.dedupe.buffer.size': 8 * 1024 * 1024,
  };
  return `${Object.entries(settings)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`;
}

function log4jProperties(file: string): string {
  return [
    'log4j.rootLogger=WARN, file',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${file}`,
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    // The "started" line is INFO; keep it so the log shows when the broker came up.
    'log4j.logger.kafka.server.KafkaRaftServer=INFO',
    '',
  ].join('\n');
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (as Kafka's Uuid.toString). */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka rejects ids that would parse as a CLI flag
  }
}

/** A port that was free on 127.0.0.1 a moment ago (a tiny race with other processes is accepted). */
async function freePort(avoid?: number): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const server = createServer();
      server.once('error', rej);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => res(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port !== avoid) return port;
  }
}

async function waitUntilAnswers(brokers: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'glasshouse-local-kafka-probe',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`Kafka exited during startup (${proc.exitCode ?? proc.signalCode})`);
    }
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return;
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    // A short pause between probes; the condition (an answer) is what ends the wait.
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Kafka at ${brokers} did not answer listTopics within ${timeoutMs} ms: ${lastError}`);
}

async function logTail(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ['stdout.log', 'kafka.log']) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    if (text) parts.push(`--- ${name} (tail) ---\n${text.split('\n').slice(-40).join('\n')}`);
  }
  return parts.join('\n') || '(no Kafka log output)';
}
