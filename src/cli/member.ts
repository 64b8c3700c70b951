/**
 * `cohort member`: one group member as a process, for operators, scripts and other
 * languages (the protocol: docs/cli.md). Each line on standard input is one multicast of that line's
 * text; end of input leaves the group gracefully, stops and exits 0. Each event is one
 * JSON line on standard output; diagnostics go to standard error, never to standard
 * output.
 *
 * The replicated state is a running digest of the delivered stream (`check/digest.ts`): `count` starts at
 * 0 and `digest` at 64 zeros; each delivered message sets
 * `digest = sha256hex(digest + "\n" + sender + "\n" + data)` and adds one to `count`.
 * The checkpoint carries that state, so a joiner's `state` line equals the other
 * members' `count`/`digest` at the same position. After `excluded`, the member rejoins
 * by itself as a new incarnation and prints a new `state` line.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Endpoint, StateProgress } from '../endpoint.js';
import { Endpoint as EndpointClass } from '../endpoint.js';
import { defaultCoreConfig } from '../core/config.js';
import { CohortError, ErrorCode, OptionError } from '../errors.js';
import { Logger, isLogLevel, logLevels } from '../log.js';
import type { LogLevel } from '../log.js';
import { ExitCode } from './exit.js';
import { MemberSession } from './member-session.js';
import { UsageError } from './usage.js';
import { durabilities } from '../api/durable-waits.js';
import type { Durability } from '../api/durable-waits.js';

/** The help text of `cohort member`. */
export const memberUsage = `usage: cohort member --id ID --listen HOST:PORT [--seeds HOST:PORT,...] --group NAME
                     [--advertise HOST:PORT] [--suspect-ms N] [--heartbeat-ms N]
                     [--secret-file PATH] [--tls-cert PATH --tls-key PATH --tls-ca PATH [--tls-id-from cn|none]]
                     [--insecure] [--network NAME] [--metrics HOST:PORT]
                     [--data-dir DIR [--durable LEVEL]]
                     [--log-level LEVEL] [--log-format json|text] [--quiet]

  Joins group NAME; multicasts each line of standard input; prints each event as a
  JSON line on standard output; leaves and exits 0 at end of input.

  --id ID               member name, unique in the network
  --listen HOST:PORT    address to listen on (port 0 picks one)
  --seeds LIST          comma-separated contact points; none: start a new network
  --group NAME          the group to join
  --advertise HOST:PORT address other members dial (NAT, containers, proxies)
  --suspect-ms N        silence after which a member is suspected (default 1000)
  --heartbeat-ms N      heartbeat interval (default 100, at most half of --suspect-ms)
  --secret-file PATH    the network secret (the file's bytes, one trailing newline
                        dropped; at least 16): members authenticate each other and
                        encrypt every frame; every member needs the same one
  --tls-cert PATH       TLS 1.3 with mutual authentication: this member's certificate,
  --tls-key PATH        its private key, and the CA that signs every member's
  --tls-ca PATH         certificate (PEM files; all three together)
  --tls-id-from cn|none with TLS, whose id a member may speak as: cn (default) its
                        certificate's subject CN, so --id must be that CN; none: any
  --insecure            listen beyond loopback without a secret (anyone who can
                        reach the port can join, read and send)
  --network NAME        network name; endpoints of another are refused (default cohort)
  --metrics HOST:PORT   serve Prometheus metrics over HTTP at /metrics (port 0 picks
                        one; the address is logged at level info). Off by default
  --data-dir DIR        durable: write the views and every delivered message to a
                        log in DIR (flushed with fdatasync, one flush per batch)
  --durable LEVEL       with --data-dir: a line's multicast is done once it is on
                        disk at this member (local), a majority of the group
                        (majority, the default) or all of it (all); or at delivery
                        (none)
  --log-level LEVEL     diagnostics at LEVEL and above: error, warn, info, debug
                        (default info)
  --log-format FORMAT   json (one object per line) or text (readable); default text
                        when standard error is a terminal, json otherwise
  --quiet               no diagnostics on standard error

  Exit code 0 at the end of input (or on SIGTERM/SIGINT), 1 when it could not start or
  go on, 2 for bad flags, 70 when an invariant of Cohort broke (a bug). The JSON-lines
  protocol is described in docs/cli.md.`;

/**
 * The largest line, in UTF-8 bytes, that one multicast carries. The member sets it on
 * its endpoint itself, so that the error for a longer line can name the limit.
 */
const messageBytesMax = defaultCoreConfig.messageBytesMax;

/** The bytes of the file a flag names; a file that cannot be read is a usage error. */
function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`--${flag} ${path}: ${(e as Error).message}`);
  }
}

/** The secret in `path`: its bytes without one trailing newline; warns when others may read it. */
function readSecret(path: string, log: (line: string, level: LogLevel) => void): Uint8Array {
  let bytes = readFlagFile('secret-file', path);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) bytes = bytes.subarray(0, bytes[bytes.length - 2] === 0x0d ? -2 : -1);
  try {
    if ((statSync(path).mode & 0o077) !== 0) log(`warning: --secret-file ${path} can be read by other users (chmod 600 it)`, 'warn');
  } catch {
    // stat failing after a successful read: nothing to warn about
  }
  return bytes;
}

/** The flags that say how a command authenticates to members: `cohort member` and `cohort status` share them. */
export const securityFlags = {
  'secret-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-id-from': { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

/** What {@link securityFlags} parse to. */
export interface SecurityFlagValues {
  readonly 'secret-file'?: string | undefined;
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'tls-ca'?: string | undefined;
  readonly 'tls-id-from'?: string | undefined;
  readonly insecure?: boolean | undefined;
}

/**
 * The secret and TLS files the security flags name, read and checked: `--insecure`
 * excludes both, the three TLS files go together. `log` gets the warning about a
 * secret file others can read.
 */
export function securityOptions(
  values: SecurityFlagValues,
  log: (line: string, level: LogLevel) => void,
): { secret?: Uint8Array; tls?: { cert: Buffer; key: Buffer; ca: Buffer; idFrom: 'cn' | 'none' }; insecure: boolean } {
  const insecure = values.insecure === true;
  const secretFile = values['secret-file'];
  if (secretFile !== undefined && insecure) throw new UsageError('--secret-file and --insecure exclude each other');
  const files = [values['tls-cert'], values['tls-key'], values['tls-ca']] as const;
  if (files.some((f) => f !== undefined) && files.some((f) => f === undefined)) throw new UsageError('--tls-cert, --tls-key and --tls-ca go together');
  if (files[0] !== undefined && insecure) throw new UsageError('--tls-cert and --insecure exclude each other');
  const idFrom = values['tls-id-from'] ?? 'cn';
  if (idFrom !== 'cn' && idFrom !== 'none') throw new UsageError(`--tls-id-from must be cn or none, got "${idFrom}"`);
  if (values['tls-id-from'] !== undefined && files[0] === undefined) throw new UsageError('--tls-id-from goes with --tls-cert, --tls-key and --tls-ca');
  return {
    ...(secretFile === undefined ? {} : { secret: readSecret(secretFile, log) }),
    ...(files[0] === undefined ? {} : { tls: { cert: readFlagFile('tls-cert', files[0]), key: readFlagFile('tls-key', files[1]!), ca: readFlagFile('tls-ca', files[2]!), idFrom } }),
    insecure,
  };
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

/** The options of `cohort member`, as `parseArgs` returns them. */
const memberFlags = {
  id: { type: 'string' },
  listen: { type: 'string' },
  seeds: { type: 'string' },
  group: { type: 'string' },
  advertise: { type: 'string' },
  'suspect-ms': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  ...securityFlags,
  network: { type: 'string' },
  metrics: { type: 'string' },
  'data-dir': { type: 'string' },
  durable: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The arguments of `cohort member`, checked. */
interface MemberArgs {
  readonly values: ReturnType<typeof parseMemberFlags>['values'];
  readonly id: string;
  readonly listen: string;
  readonly group: string;
  readonly seeds: string[];
  readonly suspectTimeoutMs: number | undefined;
  readonly heartbeatMs: number | undefined;
  readonly quiet: boolean;
  readonly level: LogLevel;
  readonly format: 'json' | 'text' | undefined;
  /** `--durable`, checked (only with `--data-dir`). */
  readonly durable: Durability | undefined;
}

/** `parseArgs` over {@link memberFlags}. */
function parseMemberFlags(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: memberFlags, strict: true, allowPositionals: false });
}

/** Checks the arguments, in the order the errors have always come; `help` when asked for. */
function memberArgs(argv: readonly string[]): MemberArgs | 'help' {
  const { values } = parseMemberFlags(argv);
  if (values.help === true) return 'help';
  if (values.id === undefined) throw new UsageError('--id is required');
  if (values.listen === undefined) throw new UsageError('--listen is required');
  if (values.group === undefined) throw new UsageError('--group is required');
  const seeds = values.seeds === undefined || values.seeds === '' ? [] : values.seeds.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const suspectTimeoutMs = positive('suspect-ms', values['suspect-ms']);
  const heartbeatMs = positive('heartbeat-ms', values['heartbeat-ms']);
  const quiet = values.quiet === true;
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}, got "${level}"`);
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'text') throw new UsageError(`--log-format must be json or text, got "${format}"`);
  const durable = values.durable;
  if (durable !== undefined && values['data-dir'] === undefined) throw new UsageError('--durable needs --data-dir');
  if (durable !== undefined && !durabilities.includes(durable as Durability)) throw new UsageError(`--durable must be one of ${durabilities.join(', ')}, got "${durable}"`);
  if (values['data-dir'] === '') throw new UsageError('--data-dir needs a directory');
  return { values, id: values.id, listen: values.listen, group: values.group, seeds, suspectTimeoutMs, heartbeatMs, quiet, level, format, durable: durable as Durability | undefined };
}

/** Run `cohort member`; resolves with the exit code. */
export async function member(argv: readonly string[]): Promise<number> {
  const args = memberArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${memberUsage}\n`);
    return ExitCode.ok;
  }
  const { format } = args;
  // Diagnostics go to standard error only: standard output carries the events alone.
  const logger = args.quiet ? undefined : new Logger({ level: args.level, member: args.id, ...(format === undefined ? {} : { format }) });
  const log = (line: string, level: LogLevel, fields?: Record<string, unknown>): void => {
    logger?.log(level, line, fields);
  };
  const ep = await startMemberEndpoint(args, logger, log);
  log(`listening at ${ep.address}`, 'info', { address: ep.address });
  const session = new MemberSession(ep, { group: args.group, messageBytesMax, ...(args.durable === undefined ? {} : { durable: args.durable }), logger, log, onProgress: stateProgressLine(process.stderr) });
  await session.run();
  return ExitCode.ok;
}

/** Starts the member's endpoint; a bad setting (an address, a secret) is a usage error. */
async function startMemberEndpoint(
  args: MemberArgs,
  logger: Logger | undefined,
  log: (line: string, level: LogLevel) => void,
): Promise<Endpoint> {
  const { values, suspectTimeoutMs, heartbeatMs } = args;
  const { secret, tls: tlsOpts, insecure } = securityOptions(values, log);
  try {
    return await EndpointClass.start({
      id: args.id,
      listen: args.listen,
      seeds: args.seeds,
      ...(values.advertise === undefined ? {} : { advertise: values.advertise }),
      ...(values.network === undefined ? {} : { network: values.network }),
      ...(suspectTimeoutMs === undefined ? {} : { suspectTimeoutMs }),
      ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
      messageBytesMax,
      // A member process waits for its network as long as it runs (saying every few
      // seconds what it waits for); its operator or supervisor decides when to give up.
      startTimeoutMs: 0,
      // The member joins its group again itself after an exclusion (resetting its
      // digest before the new state), as the JSON-lines protocol has always said.
      rejoin: false,
      ...(secret === undefined ? {} : { secret }),
      ...(tlsOpts === undefined ? {} : { tls: tlsOpts }),
      ...(insecure ? { insecure: true } : {}),
      ...(values.metrics === undefined ? {} : { metrics: values.metrics }),
      ...(values['data-dir'] === undefined ? {} : { persist: { dir: values['data-dir'] } }),
      ...(logger === undefined ? {} : { logger }),
      // A broken invariant (a bug) stopped the endpoint: say so whatever --quiet says,
      // and exit at once with EX_SOFTWARE, never leaving a process that looks alive.
      onFatal: (err) => {
        process.stderr.write(`cohort member: fatal: ${err.message}\n`);
        process.exit(ExitCode.software);
      },
    });
  } catch (err) {
    // A bad setting (an address, a secret too short, no secret beyond loopback) is a usage error.
    if (err instanceof OptionError || (err instanceof CohortError && err.code === ErrorCode.badName)) throw new UsageError(err.message);
    throw err;
  }
}

/** States from this size on get a progress line on standard error while they arrive. */
const PROGRESS_FROM_BYTES = 1 << 20;

/**
 * A joiner's progress line for a large state: rewritten in place on a terminal (at
 * most ten times a second), else one line per tenth; never on standard output.
 */
export function stateProgressLine(err: { write(s: string): unknown; isTTY?: boolean }): (p: StateProgress) => void {
  let lastAt = 0;
  let lastTenth = -1;
  return (p) => {
    if (p.total < PROGRESS_FROM_BYTES) return;
    const done = p.received === p.total;
    const mib = (n: number): string => (n / (1 << 20)).toFixed(1);
    const text = `state of ${p.group}: ${mib(p.received)} of ${mib(p.total)} MiB (${Math.floor((100 * p.received) / p.total)}%)`;
    if (err.isTTY === true) {
      const now = performance.now();
      if (!done && now - lastAt < 100) return;
      lastAt = now;
      err.write(`\r${text}${done ? '\n' : ''}`);
    } else {
      const tenth = Math.floor((10 * p.received) / p.total);
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      err.write(`${text}\n`);
    }
  };
}
