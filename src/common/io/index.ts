/** The shell of common/: the system clock, timers and pino logger, and the long-poll wake-up. */
export * from './logger';
export * from './system-clock';
export * from './system-timers';
export * from './wake';
