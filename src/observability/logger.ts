import { pino, destination, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The one root logger factory; components take `logger.child({ component })`. */
export function createLogger(opts: { level?: string; name?: string; destination?: number | string } = {}): Logger {
  const options: LoggerOptions = {
    name: opts.name ?? 'bgpvs',
    level: opts.level ?? process.env.BGPVS_LOG_LEVEL ?? 'info',
    redact: {
      paths: ['password', '*.password', '*.*.password', '*.*.*.password', 'peers[*].password', '*.peers[*].password', 'auth_password', '*.auth_password', '*.*.auth_password', 'token', '*.token', '*.*.token'],
      censor: '[redacted]',
    },
    base: { pid: process.pid },
  };
  return pino(options, destination(opts.destination ?? 1));
}

/** A logger that drops everything: for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
