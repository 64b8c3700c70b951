/**
 * `npm run bench`: Cohort's throughput and latency between real processes on loopback,
 * measured the way `npm run bench:peers` (bench/peers/) measures Corosync and JGroups.
 *
 * The driver forks one process per member (`member.ts`) and controls them over the
 * IPC channel only; its own standard output carries exactly one JSON line, the
 * contract of docs/benchmarks.md. Method:
 *
 * 1. Free loopback ports are pre-allocated here (bind port 0, release) because every
 *    member must be seeded with every other's address before any of them listens;
 *    the members then start at the same instant and report once they see a group view
 *    of all of them.
 * 2. The driver picks an instant a little ahead, and sends every member the same
 *    absolute times: senders start at `t`, the measured window is
 *    `[t + warmup, t + warmup + seconds)`, and senders stop at its end. Each member
 *    timestamps its own deliveries, so IPC delays do not enter the figures.
 * 3. Once every sender stopped, the driver tells every member the total that was sent;
 *    each reports when it delivered exactly that many (bounded wait), with a running
 *    digest of its stream. Equal counts and equal digests, or the run fails.
 * 4. Every member process is killed by PID at the end, on error, on a signal and at
 *    the overall deadline (warmup + seconds + 60 s).
 */
import { fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { freePorts } from '../src/tools/ports.js';
import type { FromMember, MemberConfig, MemberResult, Role, ToMember } from './ipc.js';
import { epochNow } from './ipc.js';
import type { Durability } from '../src/api/durable-waits.js';

export const usage = `usage: npm run bench -- [options]
       node dist/bench/bench.js [options]

Starts --members Cohort members as separate processes on 127.0.0.1, all in group
'bench', floods agreed-order multicasts from --senders of them for --warmup plus
--seconds, checks that every member delivered the same stream (same count, same
SHA-256 digest), and prints one JSON line on standard output:

  {"members":3,"senders":3,"size":1024,"msgs_per_s":...,"mb_per_s":...,"p50_ms":null,"p99_ms":null}

msgs_per_s: messages delivered per member per second inside the measured window,
own messages included, averaged over the members (the slowest member is shown on
standard error). mb_per_s: the same in payload bytes, MB = 10^6 bytes (headers not
counted). p50_ms/p99_ms: multicast-to-self-delivery latency with --latency, else null.
Progress and diagnostics go to standard error.

options:
  --members N        member processes (default 3)
  --senders N        members that flood (default: all of them; 1 with --latency)
  --size B           payload bytes per message (default 1024)
  --seconds S        measured window in seconds (default 10)
  --warmup S         sending before the window, not counted, in seconds (default 1)
  --latency          one sender, one message outstanding at a time: p50_ms/p99_ms of
                     multicast -> self-delivery; msgs_per_s/mb_per_s are the achieved rates
  --safe             safe delivery (a multicast resolves once every member holds it)
  --persist DIR      durable groups: each member writes its log under a fresh folder
                     in DIR (removed at the end), flushing each batch with fdatasync;
                     the JSON line then adds "persist":true and "durable"
  --durable L        with --persist: none | local | majority | all — a multicast
                     resolves once on disk at that many members (default majority)
  --no-fsync         with --persist: the logs are written but not flushed to stable
                     storage (the operating system's cache counts as on disk)
  --raw              not Cohort: the same processes and payloads over a plain TCP mesh,
                     each sender writing every message (4-byte length prefix, batched
                     per event-loop turn) to every other member, no ordering at all:
                     the raw Node TCP fan-out limit of this harness
  --window N         multicasts a flooding sender keeps outstanding (default 1000)
  --senders-from W   youngest | oldest: which end of the view's rank order sends
                     (default youngest: a single sender is not the coordinator, which
                     sequences; with --raw the order is the member index)
  --suspect-ms N     the endpoints' suspectTimeoutMs (default: the library's)
  --secret           run with a network secret (a fresh random one): every
                     connection authenticated, every frame encrypted (AES-256-GCM)
  --tls              run over TLS 1.3 with mutual certificates (a throwaway CA and
                     certificate made with the openssl command)
  --groups N         every member joins N groups (bench/0 ... bench/N-1; default 1:
                     the group 'bench'); each sender multicasts to them in turn, and
                     the digest covers the one stream of all of them (not with --raw)
  --fail-on-stall    fail the run if any member delivered nothing in some whole
                     second of the window (per-second minimum and peak RSS are always
                     shown on standard error)
  --profile DIR      run the members with node --cpu-prof, profiles written to DIR
  --node-arg ARG     run the members with this Node or V8 flag as well (repeatable;
                     a diagnostic, e.g. --node-arg=--trace-gc; the results are then
                     not the defaults' results)
  --verbose          the endpoints' diagnostics on standard error
  -h, --help         print this text

exit status: 0 done; 1 the run failed (a member died, the streams differ, a view
changed during the run, a stall with --fail-on-stall, the deadline of warmup +
seconds + 60 s passed); 2 bad usage.`;

/** A throwaway CA and one certificate it signed, for `--tls` (needs the openssl command). */
function throwawayPki(): { key: string; cert: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-tls-'));
  try {
    const run = (args: string[]): void => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`--tls needs the openssl command: openssl ${args[0]} failed: ${r.stderr ?? r.error?.message}`);
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cohort bench CA']);
    run(['req', ...ec, '-keyout', 'm.key', '-out', 'm.csr', '-subj', '/CN=cohort bench member']);
    run(['x509', '-req', '-in', 'm.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'm.pem', '-days', '2']);
    return { key: readFileSync(join(dir, 'm.key'), 'utf8'), cert: readFileSync(join(dir, 'm.pem'), 'utf8'), ca: readFileSync(join(dir, 'ca.pem'), 'utf8') };
  } finally {
    // Also when openssl fails: the keys are not left behind.
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A bad command line: one line on standard error, exit status 2. */
class UsageError extends Error {}

/** The parsed command line. */
export interface BenchOptions {
  readonly members: number;
  readonly senders: number;
  readonly size: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly latency: boolean;
  readonly safe: boolean;
  readonly raw: boolean;
  readonly window: number;
  readonly sendersFrom: 'youngest' | 'oldest';
  readonly suspectMs: number | null;
  readonly secret: boolean;
  readonly tls: boolean;
  readonly profile: string | null;
  /** Extra Node or V8 flags for the member processes (diagnostics). */
  readonly nodeArgs: readonly string[];
  readonly verbose: boolean;
  readonly groups: number;
  readonly failOnStall: boolean;
  /** Durable groups: the folder the members' logs go under, or null (in memory). */
  readonly persist: string | null;
  /** With `persist`: the multicasts' durability. */
  readonly durable: Durability;
  /** With `persist`: flush each batch to stable storage. */
  readonly fsync: boolean;
}

/** Cohort's default `messageBytesMax`: larger payloads would be refused. */
const SIZE_MAX = 8 * 1024 * 1024;
const MEMBERS_MAX = 64;

function int(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

function seconds(name: string, v: string | undefined, fallback: number, allowZero: boolean): number {
  if (v === undefined) return fallback;
  const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n > 3600 || (allowZero ? n < 0 : n <= 0)) {
    throw new UsageError(`--${name} must be a number of seconds ${allowZero ? 'from 0' : 'above 0'} up to 3600, got "${v}"`);
  }
  return n;
}

/** Parse and validate the command line; `null` means `--help`. */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        members: { type: 'string' },
        senders: { type: 'string' },
        size: { type: 'string' },
        seconds: { type: 'string' },
        warmup: { type: 'string' },
        latency: { type: 'boolean' },
        safe: { type: 'boolean' },
        raw: { type: 'boolean' },
        window: { type: 'string' },
        'senders-from': { type: 'string' },
        'suspect-ms': { type: 'string' },
        secret: { type: 'boolean' },
        tls: { type: 'boolean' },
        profile: { type: 'string' },
        'node-arg': { type: 'string', multiple: true },
        verbose: { type: 'boolean' },
        groups: { type: 'string' },
        'fail-on-stall': { type: 'boolean' },
        persist: { type: 'string' },
        durable: { type: 'string' },
        'no-fsync': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // parseArgs explains in its first sentence; the rest is a hint about positionals.
    throw new UsageError((err instanceof Error ? err.message : String(err)).split('\n')[0]!);
  }
  if (values.help === true) return null;
  const members = int('members', values.members, 3, 1, MEMBERS_MAX);
  const latency = values.latency === true;
  const senders = int('senders', values.senders, latency ? 1 : members, 1, members);
  if (latency && senders !== 1) throw new UsageError(`--latency measures one sender; --senders must be 1, got ${senders}`);
  const raw = values.raw === true;
  const safe = values.safe === true;
  if (raw && safe) throw new UsageError('--safe is a Cohort delivery mode; it means nothing with --raw');
  if (raw && (values.secret === true || values.tls === true)) throw new UsageError('--secret and --tls are Cohort security; they mean nothing with --raw');
  const sendersFrom = values['senders-from'] ?? 'youngest';
  if (sendersFrom !== 'youngest' && sendersFrom !== 'oldest') throw new UsageError(`--senders-from must be youngest or oldest, got "${sendersFrom}"`);
  const suspect = values['suspect-ms'];
  if (values.profile === '') throw new UsageError('--profile needs a directory');
  const nodeArgs = values['node-arg'] ?? [];
  for (const a of nodeArgs) if (!a.startsWith('--')) throw new UsageError(`--node-arg takes a flag starting with --, got "${a}"`);
  const groups = int('groups', values.groups, 1, 1, 1000);
  if (raw && groups > 1) throw new UsageError('--groups are Cohort groups; they mean nothing with --raw');
  const persist = values.persist === undefined ? null : resolve(values.persist);
  if (values.persist === '') throw new UsageError('--persist needs a directory');
  if (raw && persist !== null) throw new UsageError('--persist is Cohort durability; it means nothing with --raw');
  if (persist === null && (values.durable !== undefined || values['no-fsync'] === true)) throw new UsageError('--durable and --no-fsync need --persist DIR');
  const durable = (values.durable ?? 'majority') as Durability;
  if (!['none', 'local', 'majority', 'all'].includes(durable)) throw new UsageError(`--durable must be none, local, majority or all, got "${durable}"`);
  return {
    members,
    senders,
    size: int('size', values.size, 1024, 1, SIZE_MAX),
    seconds: seconds('seconds', values.seconds, 10, false),
    warmup: seconds('warmup', values.warmup, 1, true),
    latency,
    safe,
    raw,
    window: int('window', values.window, 1000, 1, 100_000),
    sendersFrom,
    suspectMs: suspect === undefined ? null : int('suspect-ms', suspect, 0, 2, 3_600_000),
    secret: values.secret === true,
    tls: values.tls === true,
    profile: values.profile === undefined ? null : resolve(values.profile),
    nodeArgs,
    verbose: values.verbose === true,
    groups,
    failOnStall: values['fail-on-stall'] === true,
    persist,
    durable,
    fsync: values['no-fsync'] !== true,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Round to `digits` decimals (the JSON line carries plain numbers, not strings). */
function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The member processes and everything they said. */
class Cluster {
  readonly children: ChildProcess[] = [];
  readonly anomalies: string[] = [];
  /** Rejected when a member fails, dies before the end, or the deadline passes. */
  readonly failed: Promise<never>;
  private fail!: (err: Error) => void;
  private readonly listeners = new Set<(m: FromMember) => void>();
  private ending = false;

  constructor() {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    // Nobody may be waiting at the moment it fails.
    this.failed.catch(() => undefined);
  }

  spawn(n: number, execArgv: readonly string[]): void {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'member.js');
    for (let i = 0; i < n; i++) {
      // Members' stdout and stderr both go to our stderr: our stdout is the contract.
      const child = fork(script, [], { stdio: ['ignore', 2, 2, 'ipc'], execArgv: [...execArgv] });
      this.children.push(child);
      child.on('message', (m: FromMember) => this.onMessage(m));
      child.on('error', (err) => this.fail(new Error(`member ${i}: ${err.message}`)));
      child.on('exit', (code, signal) => {
        if (!this.ending) this.fail(new Error(`member ${i} (pid ${child.pid}) exited before the end (${signal ?? `status ${code}`})`));
      });
    }
  }

  send(i: number, msg: ToMember): void {
    const c = this.children[i]!;
    if (c.connected) c.send(msg);
  }

  abort(err: Error): void {
    this.fail(err);
  }

  /**
   * One message from each of `from` (member indices) that `pick` accepts, within
   * `timeoutMs`; rejects on timeout (naming the members still missing) or failure.
   */
  collect<T>(what: string, from: readonly number[], pick: (m: FromMember) => T | undefined, timeoutMs: number): Promise<Map<number, T>> {
    const got = new Map<number, T>();
    const wanted = new Set(from);
    let listener: ((m: FromMember) => void) | null = null;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<Map<number, T>>((res, rej) => {
      listener = (m) => {
        const index = m.type === 'final' ? m.result.index : m.index;
        if (!wanted.has(index) || got.has(index)) return;
        const v = pick(m);
        if (v === undefined) return;
        got.set(index, v);
        if (got.size === wanted.size) res(got);
      };
      this.listeners.add(listener);
      if (wanted.size === 0) res(got);
      timer = setTimeout(() => {
        const missing = [...wanted].filter((i) => !got.has(i)).map((i) => `m${i}`);
        rej(new Error(`no ${what} from ${missing.join(', ')} within ${(timeoutMs / 1000).toFixed(1)} s`));
      }, timeoutMs);
    });
    return Promise.race([done, this.failed]).finally(() => {
      clearTimeout(timer);
      if (listener !== null) this.listeners.delete(listener);
    });
  }

  /** Ask every member to exit, then kill by PID whatever is still there after `graceMs`. */
  async shutdown(graceMs: number): Promise<void> {
    this.ending = true;
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    const exited = alive.map((c) => new Promise<void>((res) => c.once('exit', () => res())));
    for (const c of alive) if (c.connected) c.send({ type: 'exit' } satisfies ToMember);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exited), new Promise<void>((res) => (timer = setTimeout(res, graceMs)))]);
    clearTimeout(timer);
    this.killAll();
  }

  /** SIGKILL every member still running, by PID; synchronous, so it also works in an `exit` handler. */
  killAll(): void {
    this.ending = true;
    for (const c of this.children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }

  private onMessage(m: FromMember): void {
    if (m.type === 'error') {
      this.fail(new Error(`member ${m.index}: ${m.text}`));
      return;
    }
    if (m.type === 'anomaly') {
      if (!this.ending) {
        this.anomalies.push(`m${m.index}: ${m.text}`);
        log(`bench: anomaly at m${m.index}: ${m.text}`);
      }
      return;
    }
    for (const l of [...this.listeners]) l(m);
  }
}

/** How long members may take to agree on the final count after the senders stopped. */
const CONVERGE_MS = 30_000;

/** Run one benchmark; resolves with the JSON line (the run succeeded) or throws. */
async function run(o: BenchOptions, cluster: Cluster): Promise<string> {
  const n = o.members;
  const all = Array.from({ length: n }, (_, i) => i);
  const ids = all.map((i) => `m${i}`);
  const ports = await freePorts(n);
  const execArgv: string[] = [...o.nodeArgs];
  if (o.profile !== null) {
    mkdirSync(o.profile, { recursive: true });
    execArgv.push('--cpu-prof', '--cpu-prof-dir', o.profile);
  }
  const durability = o.persist === null ? '' : `, durable ${o.durable}${o.fsync ? '' : ' without fsync'}, logs in ${o.persist}`;
  const what = o.raw ? 'raw TCP mesh' : `Cohort${o.safe ? ' (safe delivery)' : ''}${durability}`;
  // A fresh folder per run under --persist, removed when the bench exits.
  const dataDir = o.persist === null ? null : (mkdirSync(o.persist, { recursive: true }), mkdtempSync(join(o.persist, 'cohort-bench-')));
  if (dataDir !== null) process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  log(`bench: ${n} members (${what}), ${o.latency ? 'latency' : `${o.senders} sender(s)`}, ${o.size} B, warmup ${o.warmup} s + ${o.seconds} s; ports ${ports.join(',')}`);

  const t0 = performance.now();
  cluster.spawn(n, execArgv);
  const networkSecret = o.secret ? randomBytes(32).toString('hex') : null;
  const tlsPems = o.tls ? throwawayPki() : null;
  for (const i of all) {
    const config: MemberConfig = {
      index: i,
      ids,
      ports,
      raw: o.raw,
      size: o.size,
      safe: o.safe,
      persist: dataDir === null ? null : { dir: join(dataDir, ids[i]!), durable: o.durable, fsync: o.fsync },
      window: o.window,
      suspectMs: o.suspectMs,
      secret: networkSecret,
      tls: tlsPems,
      verbose: o.verbose,
      groups: o.groups,
    };
    cluster.send(i, { type: 'init', config });
  }
  const budget = (o.warmup + o.seconds) * 1000 + 60_000;
  const orders = await cluster.collect('ready', all, (m) => (m.type === 'ready' ? m.order : undefined), budget);
  const order = orders.get(0)!;
  for (const [i, ord] of orders) {
    if (ord.join(',') !== order.join(',')) throw new Error(`members disagree on the view: m0 has ${order.join(',')}, m${i} has ${ord.join(',')}`);
  }
  log(`bench: all ${n} members in view [${order.join(', ')}] after ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  // Senders: from the chosen end of the rank order (the oldest is the coordinator).
  const ranked = o.sendersFrom === 'youngest' ? [...order].reverse() : [...order];
  const senders = ranked.slice(0, o.senders).map((id) => ids.indexOf(id));
  const role = (i: number): Role => (senders.includes(i) ? (o.latency ? 'latency' : 'flood') : 'receive');
  /** One member's figures and diagnostics, for standard error. */
  const describe = (r: MemberResult): string => {
    const id = ids[r.index]!;
    const rank = order.indexOf(id);
    const coord = rank === 0 && !o.raw ? ' (coordinator)' : '';
    const rate = `${(r.windowMsgs / o.seconds).toFixed(1)} msgs/s ${(r.windowBytes / o.seconds / 1e6).toFixed(3)} MB/s`;
    // Latency under load is a diagnostic, not the contract's latency (one message at a time).
    const loaded = r.loaded === null ? '' : `; multicast->resolve under load p50 ${r.loaded.p50.toFixed(2)} ms p99 ${r.loaded.p99.toFixed(2)} ms`;
    const loop = `; event-loop delay p99 ${r.loopDelayMs.p99.toFixed(1)} ms max ${r.loopDelayMs.max.toFixed(1)} ms`;
    const stats = r.stats === null ? '' : ` ${JSON.stringify(r.stats)}`;
    return `bench: ${id} rank ${rank}${coord} ${role(r.index)} sent ${r.sent} delivered ${r.delivered}: ${rate}${loaded}${loop}${stats}`;
  };
  // Far enough ahead that every member has the message before the instant, whatever the IPC delay.
  const sendAt = epochNow() + 300;
  const windowStart = sendAt + o.warmup * 1000;
  const windowEnd = windowStart + o.seconds * 1000;
  for (const i of all) {
    cluster.send(i, { type: 'start', role: role(i), echo: o.raw && o.latency, sendAt, windowStart, windowEnd });
  }
  log(`bench: senders ${senders.map((i) => ids[i]).join(', ')}; measuring for ${o.seconds} s after ${o.warmup} s of warm-up`);

  const sentBy = await cluster.collect('end of sending', senders, (m) => (m.type === 'sent' ? m.sent : undefined), windowEnd - epochNow() + 15_000);
  const total = [...sentBy.values()].reduce((a, b) => a + b, 0);
  log(`bench: senders stopped after ${[...sentBy].map(([i, s]) => `${ids[i]} ${s}`).join(', ')} messages; waiting until every member delivered ${total}`);
  for (const i of all) cluster.send(i, { type: 'expect', total });
  const pickFinal = (m: FromMember): MemberResult | undefined => (m.type === 'final' ? m.result : undefined);
  let results: Map<number, MemberResult>;
  try {
    results = await cluster.collect('final count', all, pickFinal, CONVERGE_MS);
  } catch (err) {
    // Bounded wait over: collect what every member has, to say who is behind.
    for (const i of all) cluster.send(i, { type: 'query' });
    const late = await cluster.collect('report', all, pickFinal, 3_000).catch(() => new Map<number, MemberResult>());
    for (const r of late.values()) log(describe(r));
    const counts = all.map((i) => `${ids[i]} ${late.get(i)?.delivered ?? '?'}`).join(', ');
    throw new Error(`${(err as Error).message}: delivered ${counts} of ${total}`);
  }

  // Correctness: the same count and the same stream everywhere.
  const rs = all.map((i) => results.get(i)!);
  const problems: string[] = [];
  for (const r of rs) {
    if (r.delivered !== total) problems.push(`${ids[r.index]} delivered ${r.delivered} messages, ${total} were sent`);
  }
  const digests = new Set(rs.map((r) => r.digest));
  if (digests.size !== 1) problems.push(`the delivered streams differ: ${rs.map((r) => `${ids[r.index]} ${r.digest.slice(0, 16)}`).join(', ')}`);
  problems.push(...cluster.anomalies);

  const perMember = rs.map((r) => ({ id: ids[r.index]!, msgs: r.windowMsgs / o.seconds, mb: r.windowBytes / o.seconds / 1e6 }));
  for (const r of rs) log(describe(r));
  const slowest = perMember.reduce((a, b) => (b.msgs < a.msgs ? b : a));
  log(`bench: slowest member ${slowest.id}: ${slowest.msgs.toFixed(1)} msgs/s ${slowest.mb.toFixed(3)} MB/s`);
  // Stalls and memory: the slowest whole second of each member, and its peak RSS.
  const seconds = rs.map((r) => {
    const min = r.perSecond.length === 0 ? null : Math.min(...r.perSecond);
    return { id: ids[r.index]!, min, at: min === null ? -1 : r.perSecond.indexOf(min), rss: r.rssPeakBytes };
  });
  log(
    `bench: slowest second per member (msgs delivered): ${seconds.map((s) => `${s.id} ${s.min ?? '-'}${s.min === null ? '' : ` (second ${s.at + 1})`}`).join(', ')}; ` +
      `peak RSS: ${seconds.map((s) => `${s.id} ${(s.rss / 2 ** 20).toFixed(0)} MiB`).join(', ')}`,
  );
  if (o.failOnStall) {
    for (const s of seconds) if (s.min === 0) problems.push(`${s.id} delivered nothing in second ${s.at + 1} of the window (a stall)`);
  }

  let p50: number | null = null;
  let p99: number | null = null;
  if (o.latency) {
    const lat = results.get(senders[0]!)!.latency;
    if (lat === null || lat.samples === 0) {
      problems.push('the latency sender has no samples in the window');
    } else {
      p50 = round(lat.p50, 4);
      p99 = round(lat.p99, 4);
      log(`bench: latency ${lat.samples} samples: p50 ${lat.p50.toFixed(4)} ms, p99 ${lat.p99.toFixed(4)} ms, max ${lat.max.toFixed(4)} ms`);
    }
  }
  if (problems.length > 0) throw new Error(`the run is not valid:\n  ${problems.join('\n  ')}`);
  log(`bench: ok: ${n} members delivered the same ${total} messages (digest ${rs[0]!.digest.slice(0, 16)}…)`);

  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Keys in the contract's order.
  const line = {
    members: n,
    senders: o.senders,
    size: o.size,
    msgs_per_s: round(mean(perMember.map((p) => p.msgs)), 1),
    mb_per_s: round(mean(perMember.map((p) => p.mb)), 3),
    p50_ms: p50,
    p99_ms: p99,
    ...(o.persist === null ? {} : { persist: true, durable: o.durable, fsync: o.fsync }),
  };
  return JSON.stringify(line);
}

/** The command: parse, run, print; resolves with the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  let o: BenchOptions | null;
  try {
    o = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      log(`bench: ${err.message} (--help for usage)`);
      return 2;
    }
    throw err;
  }
  if (o === null) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const cluster = new Cluster();
  // Whatever happens to this process, no member survives it.
  process.on('exit', () => cluster.killAll());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`bench: ${sig}: killing the members`);
      cluster.killAll();
      process.exit(1);
    });
  }
  const deadlineMs = (o.warmup + o.seconds) * 1000 + 60_000;
  const deadline = setTimeout(() => cluster.abort(new Error(`deadline of ${(deadlineMs / 1000).toFixed(1)} s passed`)), deadlineMs);
  try {
    const line = await Promise.race([run(o, cluster), cluster.failed]);
    // Profiles are written at exit; give the members time for it.
    await cluster.shutdown(o.profile === null ? 1_000 : 10_000);
    await new Promise<void>((res) => process.stdout.write(`${line}\n`, () => res()));
    return 0;
  } catch (err) {
    log(`bench: error: ${err instanceof Error ? err.message : String(err)}`);
    await cluster.shutdown(o.profile === null ? 500 : 10_000);
    return 1;
  } finally {
    clearTimeout(deadline);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
