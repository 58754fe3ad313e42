import { type Logger, pino } from 'pino';

export type { Logger };

/** The one root logger; components take `logger.child({ component, ... })`. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { service: 'glasshouse', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['req.headers.authorization', '*.token', '*.key'], censor: '[redacted]' },
    },
    destination,
  );
}
