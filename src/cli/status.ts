/**
 * `cohort status HOST:PORT`: the probe of one endpoint (like JGroups' `probe` and
 * `corosync-cpgtool`). Prints its view and coordinator, groups and members, traffic
 * rates, queues, flow control, event-loop delay and the last view changes — as a table
 * for people, or as one JSON document per line (`--json`) for scripts; `--watch`
 * refreshes. The probe authenticates like a member (`--secret-file`, TLS files,
 * `--network`), and never becomes one (see `src/probe.ts`).
 *
 * Exit codes ({@link ExitCode}): 0 answered, 1 unreachable / refused / no answer (the
 * reason on standard error), 2 a usage mistake. With `--json`, every error is also one
 * JSON line on standard output (`{"error":{"code","message"}}`, see `exit.ts`), so that
 * standard output holds nothing but JSON.
 */
import { parseArgs } from 'node:util';
import { CohortError, ErrorCode, OptionError, ProbeError } from '../errors.js';
import { StatusProber } from '../probe.js';
import type { StatusDocument, StatusFailure, StatusViewChange } from '../ops/status.js';
import { ExitCode, jsonError } from './exit.js';
import { securityFlags, securityOptions } from './member.js';
import { UsageError } from './usage.js';

/** The help text of `cohort status`. */
export const statusUsage = `usage: cohort status HOST:PORT [--json] [--watch [SECONDS]] [--timeout-ms N]
                     [--secret-file PATH | --insecure] [--tls-cert PATH --tls-key PATH --tls-ca PATH]
                     [--network NAME] [--listen HOST:PORT]

  Asks the endpoint at HOST:PORT for its status: view and coordinator, suspects,
  groups and their members, message and byte rates, queues, flow control, event-loop
  delay, and the last view changes with their reasons. The probe never joins.

  --json                one JSON document (one line) per answer, for scripts; an
                        error is a JSON line {"error":{"code":...,"message":...}} too
  --watch [SECONDS]     ask again every SECONDS (default 2) until interrupted
  --timeout-ms N        how long to wait for an answer (default 3000)
  --secret-file PATH    the network secret, as the members have it
  --tls-cert PATH       TLS, as the members have it: a certificate signed by the
  --tls-key PATH        network's CA, its key, and the CA (PEM files; all three)
  --tls-ca PATH
  --insecure            listen beyond loopback without a secret (with --listen)
  --network NAME        network name (default cohort)
  --listen HOST:PORT    where the answer comes back (default 127.0.0.1:0); needed
                        when HOST is not this machine's loopback

  Exit code 0 when answered, 1 when unreachable, refused or silent, 2 for bad flags.`;

/** `--watch` takes an optional value, which `parseArgs` cannot express: take it out first. */
function takeWatch(argv: readonly string[]): { rest: string[]; watchS: number | null } {
  const rest: string[] = [];
  let watchS: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let value: string | undefined;
    if (a === '--watch') {
      const next = argv[i + 1];
      if (next !== undefined && /^\d+(\.\d+)?$/.test(next)) {
        value = next;
        i++;
      } else {
        value = '2';
      }
    } else if (a.startsWith('--watch=')) {
      value = a.slice('--watch='.length);
    } else {
      rest.push(a);
      continue;
    }
    const s = Number(value);
    if (!Number.isFinite(s) || s < 0.1 || s > 86_400) throw new UsageError(`--watch must be a number of seconds from 0.1 to 86400, got "${value}"`);
    watchS = s;
  }
  return { rest, watchS };
}

/** The flags of `cohort status` besides `--watch`. */
const statusFlags = {
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  ...securityFlags,
  network: { type: 'string' },
  listen: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `parseArgs` over {@link statusFlags}. */
function parseStatusFlags(args: string[]) {
  return parseArgs({ args, options: statusFlags, strict: true, allowPositionals: true });
}

/** The arguments of `cohort status`, checked. */
interface StatusArgs {
  readonly values: ReturnType<typeof parseStatusFlags>['values'];
  readonly target: string;
  readonly timeoutMs: number;
  /** Seconds between two requests with `--watch`; null without. */
  readonly watchS: number | null;
}

/** Checks the arguments, in the order the errors have always come; `help` when asked for. */
function statusArgs(argv: readonly string[]): StatusArgs | 'help' {
  const { rest, watchS } = takeWatch(argv);
  const { values, positionals } = parseStatusFlags(rest);
  if (values.help === true) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'HOST:PORT of the endpoint to probe is required' : `one HOST:PORT only, got ${positionals.join(' ')}`);
  const target = positionals[0]!;
  let timeoutMs = 3000;
  if (values['timeout-ms'] !== undefined) {
    timeoutMs = Number(values['timeout-ms']);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout-ms must be a positive integer, got "${values['timeout-ms']}"`);
  }
  return { values, target, timeoutMs, watchS };
}

/** Run `cohort status`; resolves with the exit code. */
export async function status(argv: readonly string[]): Promise<number> {
  const args = statusArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${statusUsage}\n`);
    return ExitCode.ok;
  }
  const { values, timeoutMs, watchS } = args;
  const json = values.json === true;
  const prober = await openProber(args);
  const show = (doc: StatusDocument): void => {
    process.stdout.write(values.json === true ? `${JSON.stringify(doc)}\n` : `${formatStatus(doc)}\n`);
  };
  try {
    if (watchS === null) return await askOnce(prober, timeoutMs, show, json);
    return await watch(prober, timeoutMs, watchS, show, json);
  } finally {
    await prober.close();
  }
}

/** Opens the probe with the security flags; a bad target, listen address or secret is a usage error. */
async function openProber(args: StatusArgs): Promise<StatusProber> {
  const { values, target } = args;
  const warn = (line: string): void => void process.stderr.write(`${line}\n`);
  const { secret, tls, insecure } = securityOptions(values, warn);
  try {
    return await StatusProber.open(target, {
      ...(values.listen === undefined ? {} : { listen: values.listen }),
      ...(values.network === undefined ? {} : { network: values.network }),
      ...(secret === undefined ? {} : { secret }),
      ...(tls === undefined ? {} : { tls }),
      ...(insecure ? { insecure: true } : {}),
    });
  } catch (err) {
    // A bad target, listen address or secret is the caller's mistake.
    if (err instanceof OptionError || (err instanceof CohortError && err.code === ErrorCode.badName)) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * A probe failure, reported: its message and code on standard error (the code in
 * brackets after the message), and with `--json` as a JSON line on standard output.
 */
function reportProbeError(err: ProbeError, json: boolean, prefix = ''): void {
  process.stderr.write(`cohort status: ${prefix}${err.message} (${err.code})\n`);
  if (json) process.stdout.write(`${JSON.stringify(jsonError(err))}\n`);
}

/** One request: 0 when answered, 1 (the reason on standard error) when not. */
async function askOnce(prober: StatusProber, timeoutMs: number, show: (doc: StatusDocument) => void, json: boolean): Promise<number> {
  try {
    show(await prober.request(timeoutMs));
    return ExitCode.ok;
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    reportProbeError(err, json);
    return ExitCode.failure;
  }
}

/**
 * Watch: until interrupted; an unreachable or silent endpoint is reported and asked
 * again (it may be restarting), a refusal ends it (the flags are wrong).
 */
async function watch(prober: StatusProber, timeoutMs: number, watchS: number, show: (doc: StatusDocument) => void, json: boolean): Promise<number> {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!interrupted) {
      try {
        show(await prober.request(timeoutMs));
      } catch (err) {
        if (!(err instanceof ProbeError)) throw err;
        reportProbeError(err, json, `${new Date().toISOString()} `);
        if (err.code === ErrorCode.refused) return ExitCode.failure;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, watchS * 1000)))]);
      clearTimeout(timer);
    }
    return ExitCode.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ---------------------------------------------------------------------------------
// The table for people
// ---------------------------------------------------------------------------------

function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function count(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** A member as the core reports it in a failure: an id string, or `{ id, inc }`. */
function who(m: unknown): string {
  if (typeof m === 'string') return m;
  if (typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'string') return (m as { id: string }).id;
  return JSON.stringify(m);
}

function failureText(f: StatusFailure): string {
  const parts: string[] = [];
  if (f.suspectedBy !== undefined) parts.push(`suspected by ${who(f.suspectedBy)}`);
  if (f.cause !== undefined) parts.push(String(f.cause));
  if (typeof f.silentMs === 'number') parts.push(`silent ${f.silentMs} ms`);
  if (f.verified === true) parts.push('verified');
  return `${who(f.member)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

function changeText(c: StatusViewChange, what: string): string {
  const time = c.time.slice(11, 23);
  const out = [`${time}  ${what} ${c.id}: ${c.members.join(' ') || '(none)'}`];
  if (c.joined.length > 0) out.push(`joined ${c.joined.join(' ')}`);
  if (c.left.length > 0) out.push(`left ${c.left.join(' ')}`);
  if (c.failed.length > 0) {
    const reasons = c.failures ?? [];
    out.push(`failed ${reasons.length > 0 ? reasons.map(failureText).join('; ') : c.failed.join(' ')}`);
  }
  return out.join('  ');
}

/** How many view changes the table shows, per endpoint and per group (JSON has them all). */
const TABLE_HISTORY = 5;

/** The status document as a table for people. */
export function formatStatus(s: StatusDocument): string {
  const lines: string[] = [];
  const e = s.endpoint;
  lines.push(`${e.id}#${e.incarnation} at ${e.address}: ${e.phase}, up ${(e.uptimeMs / 1000).toFixed(1)} s${e.rejoins > 0 ? `, rejoined ${e.rejoins}×` : ''}  (${s.time})`);
  const v = s.view;
  lines.push(`view ${v.epoch}: ${v.members.length} members, coordinator ${v.coordinator === null ? 'none' : v.coordinator.id}`);
  const suspects = new Set(v.suspects);
  v.members.forEach((m, rank) => {
    const key = `${m.id}#${m.incarnation}`;
    const notes = [rank === 0 ? 'coordinator' : '', key === `${e.id}#${e.incarnation}` ? 'this endpoint' : '', suspects.has(key) ? 'SUSPECTED' : ''].filter((x) => x !== '');
    lines.push(`  ${String(rank).padStart(3)}  ${key.padEnd(28)} ${m.address.padEnd(22)} ${notes.join(', ')}`.trimEnd());
  });
  if (v.suspects.length > 0) lines.push(`suspects: ${v.suspects.join(' ')}`);
  lines.push(`groups: ${s.groups.length}${s.groupsOmitted > 0 ? ` (+${s.groupsOmitted} not shown)` : ''}`);
  for (const g of s.groups) lines.push(`  ${g.name}  view ${g.viewId ?? '(joining)'}: ${g.members.join(' ') || '(none)'}`);
  const c = s.counters;
  const r = s.rates;
  lines.push(
    `traffic: sent ${count(c.messagesSent)} msgs (${bytes(c.bytesSent)}), delivered ${count(c.messagesDelivered)} (${bytes(c.bytesDelivered)}); ` +
      `now ${count(r.messagesSentPerS)} msg/s (${bytes(r.bytesSentPerS)}/s) out, ${count(r.messagesDeliveredPerS)} msg/s (${bytes(r.bytesDeliveredPerS)}/s) in, over ${(r.windowMs / 1000).toFixed(1)} s`,
  );
  const o = s.order;
  const q = s.queues;
  lines.push(`order: delivered ${o.delivered}, held ${o.held}, stable ${o.stable}, unstable ${o.unstable}; waiting: ${q.pending} pending, ${q.queued} queued, ${q.inFlight} in flight, ${q.events} events`);
  const f = s.flow;
  const state = f.blocked ? 'BLOCKED (no majority)' : f.wedged ? 'wedged (view change)' : f.orderWindowFull ? 'order window FULL' : 'flowing';
  lines.push(
    `flow: ${state}; send window ${f.sendWindow}/${f.sendWindowMax} (${bytes(f.sendWindowBytes)}/${bytes(f.sendWindowBytesMax)})` +
      (f.sequencer ? `, order window ${f.orderWindow}/${f.orderWindowMax} (${bytes(f.orderWindowBytes)}/${bytes(f.orderWindowBytesMax)})` : ''),
  );
  if (s.eventLoop !== null) {
    const l = s.eventLoop;
    lines.push(`event loop delay: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms (over ${(l.windowMs / 1000).toFixed(1)} s)`);
  }
  if (s.transport !== null) {
    const t = s.transport;
    lines.push(
      `transport: ${t.connections} connections; ${count(t.framesSent)} frames out (${bytes(t.bytesSent)}), ${count(t.framesReceived)} in (${bytes(t.bytesReceived)}); ` +
        `${t.framesDropped} dropped, ${t.badFrames} bad, ${t.refused} refused`,
    );
  }
  lines.push('recent view changes:');
  for (const ch of v.history.slice(-TABLE_HISTORY)) lines.push(`  ${changeText(ch, 'view')}`);
  for (const g of s.groups) {
    if (g.history.length === 0) continue;
    lines.push(`  ${g.name}:`);
    for (const ch of g.history.slice(-TABLE_HISTORY)) lines.push(`    ${changeText(ch, 'view')}`);
  }
  if (s.truncated) lines.push('(truncated to fit the size limit: histories left out)');
  return lines.join('\n');
}
