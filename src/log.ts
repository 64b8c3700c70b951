/**
 * A small structured logger: one JSON object per line (`{"ts","level","member","msg",
 * …fields}`) for machines, or one readable line for a terminal, filtered by level.
 *
 * Every diagnostic of the core, the transport and the endpoint carries its level from
 * where it is made: the application's code failing is an error; suspicions,
 * exclusions, refusals and dropped frames are warnings; views and proposals
 * information; connection chatter and retransmission details debug. The `logger`
 * option takes this `Logger` or any object of the same shape as pino's
 * (`debug/info/warn/error(fields, msg)`).
 */

/** The levels, most severe first. */
export const logLevels = ['error', 'warn', 'info', 'debug'] as const;

/** A log level: `error`, `warn`, `info` or `debug`. */
export type LogLevel = (typeof logLevels)[number];

/** How lines are written: JSON objects, or readable text. */
export type LogFormat = 'json' | 'text';

const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** True when `v` names a level. */
export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (logLevels as readonly string[]).includes(v);
}

/** Extra fields of one log record (JSON values). */
export type LogFields = Readonly<Record<string, unknown>>;

/** Options of `Logger`. */
export interface LoggerOptions {
  /** Records less severe than this are dropped. @default 'info' */
  readonly level?: LogLevel;
  /** `json`, or `text` (readable). @default `text` when stderr is a terminal, else `json` */
  readonly format?: LogFormat;
  /** The member id every record carries. @default none */
  readonly member?: string;
  /** Where each line goes (without its newline). @default standard error */
  readonly write?: (line: string) => void;
  /** The clock of the `ts` field. @default `() => new Date()` */
  readonly now?: () => Date;
}

/**
 * Writes log records at or above its level, as JSON lines or readable text.
 *
 * @example
 * ```ts
 * const log = new Logger({ level: 'debug', member: 'm1' });
 * log.warn('suspect m2#7 after 1003 ms of silence', { peer: 'm2#7' });
 * // {"ts":"2026-11-27T08:00:00.000Z","level":"warn","member":"m1","msg":"suspect m2#7 after 1003 ms of silence","peer":"m2#7"}
 * ```
 */
export class Logger {
  /** Records less severe than this are dropped. */
  readonly level: LogLevel;
  /** `json` or `text`. */
  readonly format: LogFormat;
  /** The member id every record carries, if any. */
  readonly member: string | undefined;
  private readonly write: (line: string) => void;
  private readonly now: () => Date;

  /**
   * A logger.
   *
   * @param o - level, format, member id, sink and clock; all optional
   * @throws TypeError when `level` or `format` is not one of the known values
   */
  constructor(o: LoggerOptions = {}) {
    this.level = o.level ?? 'info';
    if (!isLogLevel(this.level)) throw new TypeError(`log level must be one of ${logLevels.join(', ')}, got ${String(this.level)}`);
    this.format = o.format ?? (process.stderr.isTTY === true ? 'text' : 'json');
    if (this.format !== 'json' && this.format !== 'text') throw new TypeError(`log format must be json or text, got ${String(this.format)}`);
    this.member = o.member;
    this.write = o.write ?? ((line) => void process.stderr.write(`${line}\n`));
    this.now = o.now ?? (() => new Date());
  }

  /** True when a record of `level` would be written. */
  enabled(level: LogLevel): boolean {
    return rank[level] <= rank[this.level];
  }

  /** Write one record at `level`, if enabled. Fields never override `ts`, `level`, `member` or `msg`. */
  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const ts = this.now().toISOString();
    if (this.format === 'json') {
      const record: Record<string, unknown> = { ts, level };
      if (this.member !== undefined) record['member'] = this.member;
      record['msg'] = msg;
      if (fields !== undefined) for (const [k, v] of Object.entries(fields)) if (!(k in record)) record[k] = v;
      this.write(JSON.stringify(record));
    } else {
      let line = `${ts} ${level.toUpperCase().padEnd(5)} ${this.member === undefined ? '' : `[${this.member}] `}${msg}`;
      if (fields !== undefined) for (const [k, v] of Object.entries(fields)) line += ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
      this.write(line.replace(/\n/g, '\\n'));
    }
  }

  /** `log('error', …)`: `(msg, fields?)`, or pino's order `(fields, msg)`. */
  error(a: string | LogFields, b?: string | LogFields): void {
    this.logEither('error', a, b);
  }

  /** `log('warn', …)`: `(msg, fields?)`, or pino's order `(fields, msg)`. */
  warn(a: string | LogFields, b?: string | LogFields): void {
    this.logEither('warn', a, b);
  }

  /** `log('info', …)`: `(msg, fields?)`, or pino's order `(fields, msg)`. */
  info(a: string | LogFields, b?: string | LogFields): void {
    this.logEither('info', a, b);
  }

  /** `log('debug', …)`: `(msg, fields?)`, or pino's order `(fields, msg)`. */
  debug(a: string | LogFields, b?: string | LogFields): void {
    this.logEither('debug', a, b);
  }

  private logEither(level: LogLevel, a: string | LogFields, b: string | LogFields | undefined): void {
    if (typeof a === 'string') this.log(level, a, typeof b === 'object' ? b : undefined);
    else this.log(level, typeof b === 'string' ? b : '', a);
  }
}

/**
 * What the `logger` option takes: this module's `Logger`, pino, or any object with
 * these four methods, called as `logger.warn({ member: 'm1', …fields }, 'suspect m2#7 …')`.
 */
export interface LoggerLike {
  /** The application's code failed (a handler, a checkpoint): the operator must look. */
  error(fields: LogFields, msg: string): void;
  /** Something is wrong with a peer or with us: suspicions, exclusions, refusals, drops. */
  warn(fields: LogFields, msg: string): void;
  /** The protocol's milestones: views, proposals, joins. */
  info(fields: LogFields, msg: string): void;
  /** The protocol's chatter: connections, retransmissions, abandoned proposals. */
  debug(fields: LogFields, msg: string): void;
}

/** True when `v` has the four methods of `LoggerLike`. */
export function isLoggerLike(v: unknown): v is LoggerLike {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return logLevels.every((l) => typeof o[l] === 'function');
}
