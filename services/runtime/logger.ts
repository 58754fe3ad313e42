import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';

export type { Logger };

const require = createRequire(import.meta.url);

/**
 * The one root logger; components take `logger.child({ component, ... })`. JSON lines, except on a
 * terminal (a person reading the standard output), where pino-pretty prints them one readable line each.
 */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  const options = {
    level,
    base: { service: 'glasshouse', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', '*.token', '*.key'], censor: '[redacted]' },
  };
  if (!(destination as NodeJS.WriteStream).isTTY) return pino(options, destination);
  return pino(options, readable(destination));
}

/**
 * pino-pretty as a stream in this thread (no transport worker), loaded only for a terminal: services
 * writing JSON to a pipe or a file never load it.
 */
function readable(destination: NodeJS.WritableStream): NodeJS.WritableStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({
    destination,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service,pid,hostname',
  });
}
