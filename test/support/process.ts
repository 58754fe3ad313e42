import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

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
export function runGlasshouse(args: string[], env: NodeJS.ProcessEnv = {}): GlasshouseProcess {
  const child = spawn(process.execPath, [bin, ...args], {
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
