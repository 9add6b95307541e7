/** Structured JSON logs (pino), one root logger per process; children carry ids as fields. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level });
}

/** For tests and benchmarks: a logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
