/**
 * A network lab for multi-host tests: each "host" is a Linux network namespace with
 * its own address, all joined by one bridge, and real network faults (partitions,
 * packet loss) made with nftables on that bridge.
 *
 * Why this shape (the recipe verified in the project's research, rebuilt here so the
 * tests need nothing outside the project):
 *
 * - The bridge lives in a namespace of its own (`NAME-br`), never in the root one, so
 *   nothing in the root namespace changes and its firewall (e.g. Docker's FORWARD
 *   policy, `bridge-nf-call-iptables`) cannot touch the lab's frames. Host `i` is
 *   namespace `NAME-hi`, whose `eth0` has `NET.i/24`; the other end of its veth pair is
 *   port `hi` of `br0` in the bridge namespace. The /24 exists only inside the lab's
 *   namespaces, so concurrent labs may all use it; only the namespace names (`NAME`,
 *   unique per lab: prefix, pid, random suffix) must differ.
 * - A partition is one nftables table in the bridge namespace (bridge family, forward
 *   hook) that drops frames between ports of different sides. A drop is a cut cable:
 *   TCP stalls silently and retransmits with exponential backoff, so the library's
 *   own heartbeats must notice, and recovery after a heal takes up to the current
 *   retransmission timeout. Replacing the table is one atomic nft transaction.
 * - Loss is `numgen random mod 10000 < P*100 drop` on a host's bridge port, in both
 *   directions (this kernel has no netem).
 * - `ip netns exec` exec()s, so a spawned child's PID is the command's own PID. It is
 *   spawned detached (its own process group), and `destroy()` SIGKILLs each group by
 *   PID, then every PID still inside the lab's namespaces (`ip netns pids`), then
 *   deletes the namespaces: a namespace outlives `ip netns del` while a process is
 *   still inside it. A process-exit hook destroys every lab still up as a last resort;
 *   SIGINT, SIGTERM and SIGHUP are turned into an exit so the hook runs. A runner
 *   killed with SIGKILL runs no hook: the next `Lab.create` reaps labs whose owning
 *   PID is gone.
 * - Every external command runs with a time bound.
 *
 * Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and nftables:
 * `labUnavailable()` says why not, for the tests to skip (or, in CI, to fail).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { onLines, withTimeout } from './procs.js';
import { exitOnSignals } from './temp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The `cohort` command of this checkout. */
export const cohortBin = join(root, 'bin', 'cohort.js');

/** Time bound of one `ip`/`nft` command. @default 10000 ms */
const commandTimeoutMs = 10_000;

/** A command found on PATH or in the usual sbin folders (root's tools are there). */
function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (d === '') continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

let ipPath: string | undefined;
let nftPath: string | undefined;
function ip(): string {
  ipPath ??= findTool('ip');
  if (ipPath === undefined) throw new Error('ip (iproute2) not found');
  return ipPath;
}
function nft(): string {
  nftPath ??= findTool('nft');
  if (nftPath === undefined) throw new Error('nft (nftables) not found');
  return nftPath;
}

/** Run a command to completion within the bound; throw with its stderr if it fails. */
function run(file: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(file, [...args], {
      encoding: 'utf8',
      timeout: commandTimeoutMs,
      killSignal: 'SIGKILL',
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input === undefined ? {} : { input }),
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Run a command and ignore its failure (cleanup paths). */
function tryRun(file: string, args: readonly string[]): string {
  try {
    return run(file, args);
  } catch {
    return '';
  }
}

/** Is CI set (to anything but empty, "0" or "false")? Then missing prerequisites are failures. */
export function inCI(): boolean {
  const v = process.env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * Why a lab cannot run here, or `undefined` if it can. Checks root, `ip` and `nft`,
 * then builds and destroys a one-host lab with an nft table (about 100 ms), so a
 * kernel without network namespaces or nf_tables is caught too.
 */
export function labUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux network namespaces (platform is ${process.platform})`;
  const uid = process.getuid?.();
  if (uid !== 0) return `needs root for ip netns and nft (uid ${uid ?? 'unknown'})`;
  for (const [name, pkg] of [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
  ] as const) {
    const p = findTool(name);
    if (p === undefined) return `needs ${name} (Debian package ${pkg}: apt-get install -y --no-install-recommends ${pkg})`;
    const r = spawnSync(p, [name === 'ip' ? '-V' : '--version'], { encoding: 'utf8', timeout: commandTimeoutMs });
    if (r.error !== undefined || r.status !== 0) return `needs a working ${name}: ${r.error?.message ?? r.stderr.trim()}`;
  }
  let lab: Lab | undefined;
  try {
    lab = Lab.create(2, 'probe');
    lab.partition([[1], [2]]);
    lab.loss(1, 10);
    lab.loss(1, 0);
    lab.heal();
  } catch (err) {
    return `needs working network namespaces, veth, bridge and nftables: ${(err as Error).message}`;
  } finally {
    lab?.destroy();
  }
  return undefined;
}

/** Labs still up, for the process-exit hook. */
const liveLabs = new Set<Lab>();
let hooksInstalled = false;
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Runs on normal exit, process.exit() and an uncaught exception; everything in it is
  // synchronous and bounded.
  process.on('exit', () => {
    for (const lab of [...liveLabs]) lab.destroy();
  });
  exitOnSignals();
}

/** Namespace names of labs: `PREFIX-PID-HEX6-(br|hN)`. */
const labNamespace = /^([a-z0-9-]+)-(\d+)-([0-9a-f]{6})-(br|h\d+)$/i;

/**
 * Delete the namespaces of labs whose owning process is gone (a runner killed with
 * SIGKILL cannot run its exit hook): kill what is still inside them, by PID, and
 * delete them. Labs of live processes are never touched.
 */
function reapStaleLabs(): void {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const ns of names) {
    const m = labNamespace.exec(ns);
    if (m === null) continue;
    const owner = Number(m[2]);
    if (owner === process.pid) continue;
    try {
      process.kill(owner, 0);
      continue; // alive (or not ours to signal): leave it
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    for (const pid of namespacePids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    tryRun(ip(), ['netns', 'del', ns]);
  }
}

function namespacePids(ns: string): number[] {
  return tryRun(ip(), ['netns', 'pids', ns])
    .split(/\s+/)
    .filter((p) => /^\d+$/.test(p))
    .map(Number);
}

/** Options of `Lab.spawn`. */
export interface LabSpawnOptions {
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** The result of `Lab.exec`. */
export interface LabExecResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * N hosts (numbered 1..N) on one bridge, in network namespaces of their own.
 *
 * @example
 * const lab = Lab.create(3, 'demo');
 * try {
 *   const p = lab.spawn(1, [process.execPath, 'server.js', lab.address(1)]);
 *   lab.partition([[1], [2, 3]]);
 *   lab.heal();
 *   lab.loss(2, 15);
 * } finally {
 *   lab.destroy();
 * }
 */
export class Lab {
  /** Unique name of this lab: every namespace is called `NAME-...`. */
  readonly name: string;
  /** Number of hosts. */
  readonly size: number;
  /** First three octets of the lab's /24. */
  readonly net: string;
  private readonly children = new Set<ChildProcess>();
  private readonly namespaces: string[] = [];
  private destroyed = false;

  private constructor(name: string, size: number, net: string) {
    this.name = name;
    this.size = size;
    this.net = net;
  }

  /**
   * Build a lab of `n` hosts (1..250). `prefix` (letters, digits, dashes; at most 16)
   * starts the lab's name, followed by this process's PID and a random suffix, so labs
   * of concurrent runs never share a namespace. Host `i` gets `NET.i/24` on `eth0`.
   * On any failure the part already built is destroyed and the error thrown.
   * @default prefix "coh", net "10.77.0"
   */
  static create(n: number, prefix = 'coh', net = '10.77.0'): Lab {
    if (!Number.isSafeInteger(n) || n < 1 || n > 250) throw new Error(`Lab.create: n must be 1..250, got ${n}`);
    if (!/^[a-z0-9-]{1,16}$/i.test(prefix)) throw new Error(`Lab.create: bad prefix "${prefix}"`);
    if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(net)) throw new Error(`Lab.create: bad net "${net}"`);
    installExitHooks();
    reapStaleLabs();
    const lab = new Lab(`${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`, n, net);
    liveLabs.add(lab);
    try {
      lab.build();
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  private build(): void {
    const br = this.bridgeNs;
    this.addNamespace(br);
    run(ip(), ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    run(ip(), ['-n', br, 'link', 'set', 'lo', 'up']);
    run(ip(), ['-n', br, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= this.size; i++) {
      const ns = this.ns(i);
      this.addNamespace(ns);
      // Made inside the bridge namespace: no interface name ever exists in the root one.
      run(ip(), ['-n', br, 'link', 'add', `h${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      run(ip(), ['-n', br, 'link', 'set', `h${i}`, 'master', 'br0', 'up']);
      run(ip(), ['-n', ns, 'link', 'set', 'lo', 'up']);
      run(ip(), ['-n', ns, 'addr', 'add', `${this.address(i)}/24`, 'dev', 'eth0']);
      run(ip(), ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
  }

  private addNamespace(ns: string): void {
    run(ip(), ['netns', 'add', ns]);
    this.namespaces.push(ns);
  }

  /** The bridge's namespace. */
  get bridgeNs(): string {
    return `${this.name}-br`;
  }

  /** Host `i`'s namespace. */
  ns(host: number): string {
    this.checkHost(host);
    return `${this.name}-h${host}`;
  }

  /** Host `i`'s address (no port). */
  address(host: number): string {
    this.checkHost(host);
    return `${this.net}.${host}`;
  }

  /** Host numbers 1..N. */
  get hosts(): number[] {
    return Array.from({ length: this.size }, (_, i) => i + 1);
  }

  private checkHost(host: number): void {
    if (!Number.isSafeInteger(host) || host < 1 || host > this.size) throw new Error(`lab ${this.name}: no host ${host} (hosts are 1..${this.size})`);
  }

  private checkUp(): void {
    if (this.destroyed) throw new Error(`lab ${this.name} is destroyed`);
  }

  /** Run `argv` inside host `i` to completion, at most `timeoutMs` (then SIGKILL). */
  exec(host: number, argv: readonly string[], timeoutMs = commandTimeoutMs): LabExecResult {
    this.checkUp();
    const r = spawnSync(ip(), ['netns', 'exec', this.ns(host), ...argv], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
    if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
    return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /**
   * Start `argv` inside host `i`, with piped stdio, in a process group of its own.
   * The child's PID is the command's own PID (`ip netns exec` exec()s). The lab
   * SIGKILLs it in `destroy()` if it is still running.
   */
  spawn(host: number, argv: readonly string[], opts: LabSpawnOptions = {}): ChildProcess {
    this.checkUp();
    if (argv.length === 0) throw new Error('Lab.spawn: empty argv');
    const child = spawn(ip(), ['netns', 'exec', this.ns(host), ...argv], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Send `sig` to a child's process group; false if it is already gone. */
  signal(child: ChildProcess, sig: NodeJS.Signals): boolean {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
    try {
      process.kill(-child.pid, sig);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  }

  private nftInBridge(script: string): void {
    run(ip(), ['netns', 'exec', this.bridgeNs, nft(), '-f', '-'], script);
  }

  /**
   * Cut traffic between the sides (two or more disjoint, non-empty lists of hosts);
   * hosts not named stay connected to everyone. Replaces any previous partition in one
   * atomic transaction. Frames are dropped silently, like a cut cable.
   */
  partition(sides: readonly (readonly number[])[]): void {
    this.checkUp();
    if (sides.length < 2 || sides.some((s) => s.length === 0)) throw new Error('Lab.partition: needs two or more non-empty sides');
    const seen = new Set<number>();
    for (const s of sides) {
      for (const h of s) {
        this.checkHost(h);
        if (seen.has(h)) throw new Error(`Lab.partition: host ${h} is on two sides`);
        seen.add(h);
      }
    }
    const set = (s: readonly number[]) => `{ ${s.map((h) => `"h${h}"`).join(', ')} }`;
    const rules: string[] = [];
    for (let a = 0; a < sides.length; a++) {
      for (let b = 0; b < sides.length; b++) {
        if (a !== b) rules.push(`    iifname ${set(sides[a]!)} oifname ${set(sides[b]!)} counter drop`);
      }
    }
    // add + delete + define in one transaction: an atomic replace of any earlier cut.
    this.nftInBridge(
      [
        'add table bridge cohort_partition',
        'delete table bridge cohort_partition',
        'table bridge cohort_partition {',
        '  chain cut {',
        '    type filter hook forward priority 0; policy accept;',
        ...rules,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  }

  /** Remove every partition (a no-op if there is none). */
  heal(): void {
    this.checkUp();
    this.nftInBridge('add table bridge cohort_partition\ndelete table bridge cohort_partition\n');
  }

  /**
   * Drop `percent` (0..100, two decimals) of the frames to and from host `i`, at random;
   * 0 removes the host's loss. Replaces the host's previous loss atomically.
   */
  loss(host: number, percent: number): void {
    this.checkUp();
    this.checkHost(host);
    if (!(percent >= 0 && percent <= 100)) throw new Error(`Lab.loss: percent must be 0..100, got ${percent}`);
    const table = `cohort_loss_h${host}`;
    const per10k = Math.round(percent * 100);
    const reset = `add table bridge ${table}\ndelete table bridge ${table}\n`;
    if (per10k === 0) {
      this.nftInBridge(reset);
      return;
    }
    const cond = per10k >= 10_000 ? '' : `numgen random mod 10000 < ${per10k} `;
    this.nftInBridge(
      [
        reset.trimEnd(),
        `table bridge ${table} {`,
        '  chain loss {',
        '    type filter hook forward priority -10; policy accept;',
        `    iifname "h${host}" ${cond}counter drop`,
        `    oifname "h${host}" ${cond}counter drop`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  }

  /** The bridge namespace's nftables ruleset, with counters (for diagnostics). */
  rules(): string {
    this.checkUp();
    return run(ip(), ['netns', 'exec', this.bridgeNs, nft(), 'list', 'ruleset']);
  }

  /**
   * Kill every process the lab started (SIGKILL to each process group, by PID), then
   * every process still inside its namespaces, and delete the namespaces (and with the
   * bridge namespace, every nft rule). Synchronous, bounded, idempotent, never throws.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const child of this.children) {
      try {
        this.signal(child, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.children.clear();
    if (ipPath === undefined && findTool('ip') === undefined) return;
    for (const ns of [...this.namespaces].reverse()) {
      for (const pid of namespacePids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      tryRun(ip(), ['netns', 'del', ns]);
    }
    this.namespaces.length = 0;
  }
}

const stderrKeptChars = 256 * 1024;

/** A parsed output line of `cohort member`. */
export type Line = Record<string, unknown> & { event: string };

/** Options of a `NetMember`. */
export interface NetMemberOptions {
  /** Member id (`--id`); also the output files' base name. */
  readonly id: string;
  /** The lab host to run on. */
  readonly host: number;
  /** TCP port on the host's address. @default 7000 */
  readonly port?: number;
  /** Contact points, `HOST:PORT`. */
  readonly seeds: readonly string[];
  /** @default "atc/sector-xyz" */
  readonly group?: string;
  /** Folder for `ID.jsonl` (standard output) and `ID.stderr`. */
  readonly dir: string;
  /** More `cohort member` options, e.g. `['--suspect-ms', '1000']`. */
  readonly extra?: readonly string[];
}

/**
 * A `cohort member` process inside a lab host. Standard output goes, byte for byte, to
 * `DIR/ID.jsonl` (for `cohort check`) and is parsed into `lines`; waits are for a
 * matching line, bounded in time, and fail at once if the process exits first.
 */
export class NetMember {
  readonly id: string;
  readonly host: number;
  /** `HOST:PORT` it listens on. */
  readonly address: string;
  readonly file: string;
  readonly lines: Line[] = [];
  /** Every line multicast through `send`, in order. */
  readonly sent: string[] = [];
  /** The text of each line, as printed (for `snapshot`). */
  private readonly texts: string[] = [];
  readonly proc: ChildProcess;
  private readonly lab: Lab;
  private stderrTail = '';
  private stderrText = '';
  private closed = false;
  private exitCode: number | null = null;
  private readonly done: Promise<number | null>;
  private waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void; reject: (e: Error) => void }[] = [];

  constructor(lab: Lab, opts: NetMemberOptions) {
    this.lab = lab;
    this.id = opts.id;
    this.host = opts.host;
    this.address = `${lab.address(opts.host)}:${opts.port ?? 7000}`;
    this.file = join(opts.dir, `${opts.id}.jsonl`);
    // Members listen on namespace addresses, not loopback: they share a network secret
    // (one per test directory), so every test here also runs authenticated, encrypted links.
    const secretFile = join(opts.dir, 'network.secret');
    if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(32), { mode: 0o600 });
    const argv = [process.execPath, cohortBin, 'member', '--id', opts.id, '--listen', this.address, '--group', opts.group ?? 'atc/sector-xyz', '--secret-file', secretFile, ...(opts.extra ?? [])];
    if (opts.seeds.length > 0) argv.push('--seeds', opts.seeds.join(','));
    this.proc = lab.spawn(opts.host, argv);
    const out = createWriteStream(this.file);
    const err = createWriteStream(join(opts.dir, `${opts.id}.stderr`));
    onLines(this.proc.stdout!, out, (text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        line = { event: 'unparsable', text };
      }
      this.lines.push(line);
      this.texts.push(text);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => {
      err.write(chunk);
      // Keep the start (the founding view is logged there) and the end, bounded.
      if (this.stderrText.length < stderrKeptChars) this.stderrText += chunk.toString('utf8').slice(0, stderrKeptChars - this.stderrText.length);
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4000);
    });
    const outDone = new Promise<void>((r) => out.on('close', () => r()));
    const errDone = new Promise<void>((r) => err.on('close', () => r()));
    // 'close': the process exited and its stdio is drained; then the files are flushed.
    this.done = new Promise((resolve) =>
      this.proc.on('close', (code) => {
        this.exitCode = code;
        this.closed = true;
        out.end();
        err.end();
        const why = new Error(`${this.id}: exited (code ${code}, signal ${this.proc.signalCode}) while waiting; stderr:\n${this.stderr()}`);
        for (const w of this.waiters) w.reject(why);
        this.waiters = [];
        void Promise.all([outDone, errDone]).then(() => resolve(code));
      }),
    );
  }

  /** The last few KB of standard error. */
  stderr(): string {
    return this.stderrTail.slice(-2000);
  }

  /** Standard error from the start (at most 256 KB; all of it is in `DIR/ID.stderr`). */
  stderrHead(): string {
    return this.stderrText;
  }

  /** Number of lines so far: pass it as `from` to wait for a line after now. */
  mark(): number {
    return this.lines.length;
  }

  /** The first line at index `from` or later that matches, waiting at most `timeoutMs`. */
  waitFor(pred: (l: Line) => boolean, timeoutMs: number, what: string, from = 0): Promise<Line> {
    const seen = this.lines.slice(from).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.closed) return Promise.reject(new Error(`${this.id}: exited (code ${this.exitCode}) before ${what}; stderr:\n${this.stderr()}`));
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (l: Line) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.id} (host ${this.host}): no ${what} within ${timeoutMs} ms; last line: ${JSON.stringify(this.lines.at(-1))}; stderr:\n${this.stderr()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Multicast one line. */
  send(text: string): void {
    this.sent.push(text);
    this.proc.stdin!.write(`${text}\n`);
  }

  /** End standard input (a graceful leave) and wait for the exit, at most `timeoutMs`. */
  async end(timeoutMs = 15_000): Promise<number | null> {
    this.proc.stdin!.end();
    return this.wait(timeoutMs);
  }

  /** Wait for the exit (and the output files to be flushed), at most `timeoutMs`. */
  async wait(timeoutMs: number): Promise<number | null> {
    return withTimeout(this.done, timeoutMs, () => `${this.id} did not exit within ${timeoutMs} ms; stderr:\n${this.stderr()}`);
  }

  /**
   * Write the lines printed so far to `DIR/ID.jsonl` (for judging a run at a moment when
   * every member is still up, e.g. with `cohort check --quiescent`); returns the path.
   */
  snapshot(dir: string): string {
    const file = join(dir, `${this.id}.jsonl`);
    writeFileSync(file, this.texts.map((t) => `${t}\n`).join(''));
    return file;
  }

  /** SIGKILL it (by PID, its process group). */
  kill(): void {
    this.lab.signal(this.proc, 'SIGKILL');
  }

  /** Count and digest of the last `message` or `state` line. */
  lastState(): { count: number; digest: string } | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i]!;
      if (l.event === 'message' || l.event === 'state') return { count: l.count as number, digest: l.digest as string };
    }
    return undefined;
  }
}

/**
 * One member per host, ids `m1..mN` on hosts 1..N at `NET.i:7000`, each seeded with
 * all the others (started at the same instant, as an operator would).
 */
export function startMembers(lab: Lab, dir: string, extra: readonly string[] = []): NetMember[] {
  const addrs = lab.hosts.map((h) => `${lab.address(h)}:7000`);
  return lab.hosts.map((h) => new NetMember(lab, { id: `m${h}`, host: h, seeds: addrs.filter((_, j) => j !== h - 1), dir, extra }));
}

/** `cohort check` over member output files; exit status and output. Bounded in time. */
export function runCheck(files: readonly string[], opts: { quiescent?: boolean; crashed?: readonly string[] } = {}): { status: number | null; output: string } {
  const args = [cohortBin, 'check', ...(opts.quiescent === true ? ['--quiescent'] : []), ...(opts.crashed ?? []).flatMap((f) => ['--crashed', f]), ...files];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error === undefined ? '' : String(r.error)}` };
}

/** A fresh temp folder for a test's output files, removed when the test process exits (see `temp.ts`). */
export { removeTempDir, tempDir } from './temp.js';

/** `dir/name`, created if missing. */
export function subDir(dir: string, name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}
