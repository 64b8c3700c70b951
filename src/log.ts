/**
 * A small structured logger: one JSON object per line (`{"ts","level","member","msg",
 * …fields}`) for machines, or one readable line for a terminal, filtered by level.
 *
 * The protocol core and the transport report diagnostics as plain text lines (the
 * `onLog` option still receives exactly those); `levelOf` sorts such a line into a
 * level by what it says — suspicions, exclusions and refusals are warnings, views and
 * proposals information, connection chatter and retransmission details debug — so
 * the sources need not change to be logged at sensible levels.
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

  /** `log('error', …)` */
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  /** `log('warn', …)` */
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }

  /** `log('info', …)` */
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }

  /** `log('debug', …)` */
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
}

/** Rules of `levelOf`, first match wins; a line no rule matches is `info`. */
const rules: readonly (readonly [RegExp, LogLevel])[] = [
  // The application's code failed: the operator must look.
  [/^(handler failed|onEvent of .* threw|checkpoint of )/, 'error'],
  [/^state of .* over stateBytesMax/, 'error'],
  [/^tcp [^ ]+: server error/, 'error'],
  // Something is wrong with a peer or with us.
  [/^(suspect |excluded|laggard |blocked|paused for |leave not acknowledged|join request ignored)/, 'warn'],
  [/^tcp [^ ]+: (refusing|closing the connection|dropping)/, 'warn'],
  [/^warning: /, 'warn'],
  [/^skipped /, 'warn'],
  [/ failed \(.*\); retrying$/, 'warn'],
  // A handshake refused either way (wrong secret, untrusted certificate, other network)
  // is a configuration error the operator must see, even on a dial.
  [/(authentication failed|refused by |refusing )/, 'warn'],
  // Connection chatter and details of the protocol at work.
  [/^tcp [^ ]+: (dial |connection with )/, 'debug'],
  [/^retransmissions /, 'debug'],
  [/ heard again$/, 'debug'],
  [/^proposal .* abandoned/, 'debug'],
  [/^tcp /, 'debug'],
];

/**
 * The level of a diagnostic line from the core, the endpoint or the TCP transport
 * (without the `[member]` prefix): failures of the application's code are errors;
 * suspicions, exclusions, refused connections and dropped frames warnings; views,
 * proposals and commits information; connection chatter debug.
 */
export function levelOf(line: string): LogLevel {
  for (const [re, level] of rules) if (re.test(line)) return level;
  return 'info';
}
