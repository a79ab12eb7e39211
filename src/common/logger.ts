import type pino from 'pino';

/** The logger every layer takes as an input; common/io/logger.ts makes the real one. */
export type Logger = pino.Logger;
