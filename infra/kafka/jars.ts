import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const KAFKA_VERSION = '3.9.1';
const POM = fileURLToPath(new URL('./pom.xml', import.meta.url));
/** A jar that only a complete copy contains; its presence marks the cache as usable. */
const MARKER_JAR = `kafka_2.13-${KAFKA_VERSION}.jar`;

/** A tool the local Kafka needs is not installed. Not retriable: a person has to install it. */
export class MissingPrerequisiteError extends Error {
  readonly code = 'MISSING_PREREQUISITE';
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = 'MissingPrerequisiteError';
  }
}

/** The folder holding the Kafka runtime jars: `GLASSHOUSE_KAFKA_JARS`, else a per-user cache outside git. */
export function kafkaJarsDir(): string {
  const fromEnv = process.env.GLASSHOUSE_KAFKA_JARS;
  if (fromEnv) return resolve(fromEnv);
  return join(homedir(), '.cache', 'glasshouse', `kafka-${KAFKA_VERSION}`, 'lib');
}

/**
 * Returns the folder of Kafka runtime jars, fetching them with Maven on first use.
 * The jars are copied into a temporary sibling folder and renamed into place, so a fetch that dies
 * half-way never leaves a cache that looks complete.
 */
export async function ensureKafkaJars(): Promise<string> {
  const dir = kafkaJarsDir();
  const java = await hasCommand('java', ['-version']);
  if (existsSync(join(dir, MARKER_JAR))) {
    if (!java) throw missing(['java']);
    return dir;
  }
  const mvn = await hasCommand('mvn', ['-v']);
  const absent = [java ? null : 'java', mvn ? null : 'mvn'].filter((c): c is string => c !== null);
  if (absent.length > 0) throw missing(absent);

  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await exec(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        POM,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${tmp}`,
        '-DincludeScope=runtime',
      ],
      { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`fetching the Kafka ${KAFKA_VERSION} jars with mvn failed: ${detail}`);
  }
  const jars = await readdir(tmp);
  if (!jars.includes(MARKER_JAR)) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`mvn finished but ${MARKER_JAR} is not among the ${jars.length} fetched jars`);
  }
  try {
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    // Another process may have finished the same fetch first; its copy is as good as ours.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, MARKER_JAR))) throw err;
  }
  return dir;
}

async function hasCommand(command: string, args: string[]): Promise<boolean> {
  try {
    await exec(command, args, { timeout: 30_000 });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

const INSTALL_HINTS: Record<string, string> = {
  java: 'a Java 17+ runtime (`java`; Debian: openjdk-17-jre-headless)',
  mvn: 'Apache Maven (`mvn`; Debian: maven)',
};

function missing(commands: string[]): MissingPrerequisiteError {
  const what = commands.map((c) => INSTALL_HINTS[c] ?? c).join(' and ');
  return new MissingPrerequisiteError(
    `The local Kafka broker needs ${what} on PATH. Install ${commands.length > 1 ? 'them' : 'it'}, or point GLASSHOUSE_KAFKA_BROKERS ` +
      'at a running Kafka, or start a Docker engine so the tests can use testcontainers.',
  );
}

// `node --import tsx infra/kafka/jars.ts` prefetches the jars (CI cache warm-up) and prints the folder.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  ensureKafkaJars().then(
    (dir) => process.stdout.write(`${dir}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
