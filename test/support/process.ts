import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const bin = resolve(import.meta.dirname, '../../bin/glasshouse.js');

// Every process started here; a test that fails half-way must not leave a server running.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** SIGKILLs every process started by `runGlasshouse` that is still alive (for afterAll hooks). */
export async function killLeftovers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((done) => {
          child.once('exit', () => done());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export interface GlasshouseProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the bound port once the process logs that it is ready. */
  ready(timeoutMs?: number): Promise<number>;
  /** Resolves with the exit code (or the signal name). */
  exited(): Promise<number | string>;
}

/** Runs the real `glasshouse` bin as its own process (signals reach the server directly). */
export function runGlasshouse(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
): GlasshouseProcess {
  const child = spawn(process.execPath, [...nodeArgs, bin, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, GLASSHOUSE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  running.add(child);
  const exit = new Promise<number | string>((done) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      done(code ?? signal ?? -1);
    });
  });
  return {
    child,
    output: () => text,
    exited: () => exit,
    ready: (timeoutMs = 60_000) =>
      new Promise<number>((done, fail) => {
        const deadline = setTimeout(
          () => fail(new Error(`not ready within ${timeoutMs} ms:\n${text}`)),
          timeoutMs,
        );
        const check = () => {
          const match = /glasshouse ready on http:\/\/[^:]+:(\d+)\//.exec(text);
          if (match) {
            clearTimeout(deadline);
            done(Number(match[1]));
          }
        };
        child.stdout?.on('data', check);
        void exit.then(() => {
          clearTimeout(deadline);
          fail(new Error(`exited before ready:\n${text}`));
        });
        check();
      }),
  };
}

/**
 * The real bin standalone (every role, the DuckDB file and the in-process bus) on one data
 * directory of its own, which a test starts, stops, kills and starts again; `dispose` (for afterAll)
 * kills what still runs and removes the directory.
 */
export class StandaloneBin {
  /** The process running now, if any. */
  running: GlasshouseProcess | undefined;
  /** The data directory, created by the first `start`. */
  dataDir = '';
  private last: GlasshouseProcess | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly dirPrefix = 'gh-standalone-',
  ) {}

  /** A bin for fault tests: a client may post as fast as it can (no ingest rate limit in the way). */
  static unthrottled(adminToken: string, dirPrefix: string): StandaloneBin {
    return new StandaloneBin(
      {
        GLASSHOUSE_ADMIN_TOKEN: adminToken,
        GLASSHOUSE_INGEST_RATE: '1000000',
        GLASSHOUSE_INGEST_BURST: '1000000',
      },
      dirPrefix,
    );
  }

  /** Stops with SIGTERM (a clean drain, so the DuckDB file can be opened by the test) and checks it exited 0. */
  async stopCleanly(): Promise<void> {
    const code = await this.stop('SIGTERM');
    if (code !== 0)
      throw new Error(`the bin exited with ${code} on SIGTERM:\n${this.last?.output().slice(-3000)}`);
  }

  /** Starts the bin on the data directory; resolves with its base URL once it is ready. */
  async start(): Promise<string> {
    if (!this.dataDir) this.dataDir = await mkdtemp(join(tmpdir(), this.dirPrefix));
    this.running = runGlasshouse(['start', '--port', '0', '--data-dir', this.dataDir], this.env);
    return `http://127.0.0.1:${await this.running.ready(60_000)}/`;
  }

  /** Sends `signal` (SIGTERM drains) and resolves with the exit code or signal name. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<number | string> {
    const proc = this.running;
    if (!proc) return 'not running';
    this.last = proc;
    this.running = undefined;
    proc.child.kill(signal);
    return proc.exited();
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}
