import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * A throwaway ClickHouse server for tests and local runs: Debian's `clickhouse-server` package
 * (18.16 on bookworm) or any newer `clickhouse` binary, on free 127.0.0.1 ports, with its data in a
 * temp dir that `stop()` removes.
 */
export interface LocalClickHouse {
  /** HTTP endpoint, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The temp dir holding config, data and logs. */
  readonly dir: string;
  /** Milliseconds from spawn to the first `Ok.` on /ping, for the most recent (re)start. */
  readonly startupMs: number;
  /** SIGTERM, then SIGKILL after the grace period; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, like a crash; keeps the data dir so `restart()` can recover from it. */
  kill(): Promise<void>;
  /** Stops the server if it runs (SIGTERM) and starts it again on the same ports and data dir. */
  restart(): Promise<void>;
  /** SIGSTOP: the server stays up but answers nothing, like a stalled node. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
}

export interface LocalClickHouseOptions {
  /** Path to a `clickhouse` or `clickhouse-server` binary; found on PATH and in /usr/bin, /usr/sbin otherwise. */
  binary?: string;
  /** How long to wait for /ping. Default 60 s. */
  startTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 10 s. */
  stopTimeoutMs?: number;
  /** Extra environment for the server process. */
  env?: NodeJS.ProcessEnv;
}

const missingMessage =
  'ClickHouse is not installed: install the Debian package clickhouse-server (apt-get install clickhouse-server), ' +
  'or point GLASSHOUSE_CLICKHOUSE_URL at a running server.';

/** Starts a local ClickHouse server and resolves once it answers /ping. */
export async function startLocalClickHouse(opts: LocalClickHouseOptions = {}): Promise<LocalClickHouse> {
  const command = opts.binary ? commandFor(opts.binary) : await findOrInstallClickHouse();
  const dir = await mkdtemp(join(tmpdir(), 'glasshouse-clickhouse-'));
  try {
    const [httpPort, tcpPort, interserverPort] = await freePorts(3);
    await writeConfig(dir, httpPort!, tcpPort!, interserverPort!);
    const server = new Server(command, dir, httpPort!, opts);
    await server.start();
    return server;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

interface Command {
  file: string;
  args: string[];
}

function commandFor(binary: string): Command {
  // The modern single binary takes the tool name as its first argument; Debian's 18.16 ships a
  // dedicated clickhouse-server executable.
  return binary.endsWith('clickhouse') ? { file: binary, args: ['server'] } : { file: binary, args: [] };
}

function findBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const name of ['clickhouse-server', 'clickhouse']) {
    for (const dir of dirs) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

async function findOrInstallClickHouse(): Promise<Command> {
  const found = findBinary();
  if (found) return commandFor(found);
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync('/etc/debian_version')) throw new Error(missingMessage);
  process.stdout.write('[clickhouse] clickhouse-server not found; installing the Debian package\n');
  const install = () =>
    exec('apt-get', ['install', '-y', '--no-install-recommends', 'clickhouse-server'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 600_000,
    });
  try {
    await install();
  } catch {
    try {
      await exec('apt-get', ['update'], { timeout: 600_000 });
      await install();
    } catch (err) {
      throw new Error(`${missingMessage} (automatic apt-get install failed: ${(err as Error).message})`);
    }
  }
  const installed = findBinary();
  if (!installed) throw new Error(missingMessage);
  return commandFor(installed);
}

async function freePorts(count: number): Promise<number[]> {
  // Hold every socket open until all are bound, so the same port is not handed out twice.
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('could not allocate a port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function writeConfig(dir: string, httpPort: number, tcpPort: number, interserverPort: number) {
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) await mkdir(join(dir, sub));
  // Only settings that both 18.16 and current servers understand. Unknown server-level elements are
  // ignored by every version (max_server_memory_usage is new in 20.x), but unknown *profile* settings
  // fail user loading, so the profile keeps to long-standing ones.
  const config = `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>${dir}/log/server.log</log>
    <errorlog>${dir}/log/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>${interserverPort}</interserver_http_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_server_memory_usage>1073741824</max_server_memory_usage>
  <max_concurrent_queries>64</max_concurrent_queries>
  <!-- SIGTERM waits for idle keep-alive connections: keep them short so stop() is quick. -->
  <keep_alive_timeout>2</keep_alive_timeout>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
  const users = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>1000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;
  await writeFile(join(dir, 'config.xml'), config);
  await writeFile(join(dir, 'users.xml'), users);
}

class Server implements LocalClickHouse {
  readonly url: string;
  startupMs = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private removed = false;
  private exitHookInstalled = false;
  private readonly onExit = () => this.killSync();

  constructor(
    private readonly command: Command,
    readonly dir: string,
    httpPort: number,
    private readonly opts: LocalClickHouseOptions,
  ) {
    this.url = `http://127.0.0.1:${httpPort}`;
  }

  async start(): Promise<void> {
    const startedAt = Date.now();
    const out = openSync(join(this.dir, 'log', 'stdout.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        this.command.file,
        [...this.command.args, `--config-file=${join(this.dir, 'config.xml')}`],
        {
          cwd: this.dir,
          detached: true,
          stdio: ['ignore', out, out],
          env: { ...process.env, ...this.opts.env },
        },
      );
    } finally {
      closeSync(out);
    }
    this.child = child;
    let exitInfo: string | undefined;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? `code ${code}`}`;
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', (err) => {
        exitInfo = `could not start: ${err.message}`;
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    child.unref();
    if (!this.exitHookInstalled) {
      this.exitHookInstalled = true;
      process.on('exit', this.onExit);
    }

    const timeoutMs = this.opts.startTimeoutMs ?? 60_000;
    const deadline = startedAt + timeoutMs;
    while (Date.now() < deadline) {
      if (exitInfo) break;
      if (await this.pingOnce()) {
        this.startupMs = Date.now() - startedAt;
        return;
      }
      await Promise.race([this.exited, delay(100)]);
    }
    const reason = exitInfo ?? `did not answer /ping within ${timeoutMs} ms`;
    await this.terminate('SIGKILL');
    throw new Error(`local ClickHouse ${reason}; log tail:\n${await this.logTail()}`);
  }

  async stop(): Promise<void> {
    if (this.child) {
      this.signal('SIGCONT');
      await this.terminate('SIGTERM', this.opts.stopTimeoutMs ?? 10_000);
    }
    if (!this.removed) {
      this.removed = true;
      await rm(this.dir, { recursive: true, force: true });
    }
    process.off('exit', this.onExit);
    this.exitHookInstalled = false;
  }

  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    if (this.removed)
      throw new Error('local ClickHouse was stopped and its data dir removed; start a new one');
    if (this.child) {
      this.signal('SIGCONT');
      await this.terminate('SIGTERM', this.opts.stopTimeoutMs ?? 10_000);
    }
    await this.start();
  }

  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  private pingOnce(): Promise<boolean> {
    // A fresh connection, closed after the answer: the server waits for open keep-alive
    // connections on SIGTERM, so a pooled ping connection would slow every stop() down.
    return new Promise((resolve) => {
      const req = httpGet(
        `${this.url}/ping`,
        { agent: false, headers: { connection: 'close' }, timeout: 2_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve(res.statusCode === 200 && body.startsWith('Ok')));
          res.on('error', () => resolve(false));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }

  /** Sends `first` to the process group, escalates to SIGKILL after `graceMs`, and awaits the exit. */
  private async terminate(first: NodeJS.Signals, graceMs = 0): Promise<void> {
    if (!this.child) return;
    // The child is unref'd so an idle server never holds the test process open; while we wait for
    // it to exit, it must.
    this.child.ref();
    this.signal(first);
    if (first !== 'SIGKILL') {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) this.signal('SIGKILL');
    }
    await this.exited;
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      // Negative pid: the whole process group, since the server was spawned detached as its leader.
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** The last resort when the test process exits without calling stop(): synchronous by necessity. */
  private killSync(): void {
    this.signal('SIGKILL');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit.
    }
  }

  private async logTail(): Promise<string> {
    const parts: string[] = [];
    for (const name of ['stdout.log', 'server.err.log', 'server.log']) {
      const text = await readFile(join(this.dir, 'log', name), 'utf8').catch(() => '');
      if (text) parts.push(`--- ${name}\n${text.split('\n').slice(-30).join('\n')}`);
    }
    return parts.join('\n') || '(no log output)';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
