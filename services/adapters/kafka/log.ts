import { type LogEntry, type logCreator, logLevel } from 'kafkajs';
import type { Logger } from 'pino';

/** The kafkajs log level that produces no more than the pino logger would print anyway. */
export function kafkaLogLevel(logger: Logger): logLevel {
  if (logger.isLevelEnabled('debug')) return logLevel.DEBUG;
  if (logger.isLevelEnabled('info')) return logLevel.INFO;
  if (logger.isLevelEnabled('warn')) return logLevel.WARN;
  if (logger.isLevelEnabled('error')) return logLevel.ERROR;
  return logLevel.NOTHING;
}

// We cap the idempotent producer's retries on purpose (a publish must fail in bounded time so ingest
// can answer 503) and recreate the producer after any failure, which keeps the guarantee this
// warning is about; repeating it on every producer would only be noise.
const SUPPRESSED = /Limiting retries for the idempotent producer/;

/** Routes kafkajs's own logs into pino, one child per kafkajs namespace. */
export function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _ts, logger: _name, ...extra } = log;
      if (SUPPRESSED.test(message)) return;
      const child = logger.child({ kafkajs: namespace });
      switch (level) {
        case logLevel.ERROR:
          child.error(extra, message);
          break;
        case logLevel.WARN:
          child.warn(extra, message);
          break;
        case logLevel.INFO:
          child.info(extra, message);
          break;
        default:
          child.debug(extra, message);
      }
    };
}
