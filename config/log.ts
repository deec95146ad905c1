import pino, { type Logger } from 'pino';
import type { LogLevel } from './settings';

/** One JSON-lines logger per process, named by role, at the settings' level (TIDEWAY_LOG_LEVEL). */
export function createLogger(name: string, level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level, base: { pid: process.pid, ...bindings } });
}
export type { Logger };
