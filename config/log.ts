import pino, { type Logger } from 'pino';

/** One JSON-lines logger per process, named by role; level from TIDEWAY_LOG_LEVEL. */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level: process.env.TIDEWAY_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } });
}
export type { Logger };
