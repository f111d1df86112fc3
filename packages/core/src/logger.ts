/**
 * The logger ZapJobs writes to. A pino logger fits as it is; so does `console`.
 *
 * Calls pass structured fields first and the message second, as pino does. For a logger
 * that is not pino-shaped, wrap it with {@link fromConsole}.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  child?(bindings: Record<string, unknown>): Logger;
}
