import pino from 'pino';
import type { Logger } from '..';

/**
 * One JSON line per event, fields first and a short fixed message (style §10). Level from
 * CAIRN_LOG_LEVEL (default info); `silent` for tests.
 */
export function createLogger(fields: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const level = process.env.CAIRN_LOG_LEVEL ?? 'info';
  const options: pino.LoggerOptions = { level, base: { pid: process.pid, ...fields }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

export const silentLogger: Logger = pino({ level: 'silent' });
