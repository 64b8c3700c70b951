/**
 * Scripted golden tests of the sans-I/O protocol core (`EndpointCore`), in the manner of
 * etcd-io/raft's datadriven `testdata/*.txt`: a script is a sequence of commands run
 * against real cores over a scripted network, and after each command the file holds the
 * trace that command produced. The runner (`test/scripts.test.ts`) runs every
 * `test/scripts/*.txt` and compares the whole produced file with the stored one, byte
 * for byte. A deliberate protocol change rewrites the expected traces in place:
 *
 *     npx tsc -p tsconfig.json && COHORT_REWRITE=1 node --test dist/test/scripts.test.js
 *
 * then review `git diff test/scripts` (the diff *is* the protocol change).
 *
 * ## File format
 *
 *     # comment lines (kept as they are on rewrite)
 *     <command> <args...>        # a trailing comment is allowed too
 *     ----
 *     <trace line>
 *     <trace line>
 *     <blank line ends the block>
 *
 * A command with no `----` after it has no expected trace yet: the run fails (or a
 * rewrite fills it in). A command whose trace is empty is written as its `----` line
 * alone. Lines before the first command, and blank or `#` lines between blocks, are
 * kept verbatim.
 *
 * ## The network and the clock
 *
 * Timing is `scriptConfig` below (heartbeats every 100 ms, suspicion after 400 ms,
 * flush timeout 200 ms, retransmission every 100 ms), which `config` can change.
 * Virtual time starts at 0. Messages go into one FIFO queue and are delivered, in
 * order, with no latency: whatever a delivery causes goes to the back of the same
 * queue. Nothing is delivered except by `tick` and `stabilize`. Every core's output is
 * collected as soon as it is produced; a `state-request` event is answered at once with
 * the checkpoint `state-of-<group>` (its UTF-8 bytes).
 *
 * ## Commands (`<n>` is an endpoint name; its address is the name itself)
 *
 *     config key=value...        core config over the script defaults (before `start`)
 *     start <n>...               new cores, incarnation 1, each seeded with the others
 *                                of this command, rng seeded from name and incarnation
 *     tick <ms>                  advance time in 10 ms steps; each step ticks every live
 *                                core (in name order) then delivers until the queue is empty
 *     stabilize                  deliver queued messages until none is left (bounded)
 *     drop <a>-><b> [type...] [once]
 *                                lose messages from a to b (only those types, if given)
 *                                until `heal`; `once`: only the next one. `<a><-><b>`: both
 *                                ways; `*` matches any endpoint
 *     partition <n>... | <n>...  lose every message between the sides until `heal`
 *     heal                       end every drop and partition
 *     crash <n>                  n never ticks or receives again; messages to it are lost
 *     restart <n>                a new incarnation of n (inc + 1) at the same address,
 *                                seeded with every other endpoint, started at once
 *     refused <n> <addr>         n's transport reports that addr refused a connection
 *     join <n> <group>           n submits a join of group
 *     leave-group <n> <group>    n submits a graceful leave of group
 *     multicast <n> <group> <text...>       n submits an app message (agreed delivery)
 *     multicast-safe <n> <group> <text...>  the same, with safe delivery
 *     leave <n>                  graceful leave of the network
 *     show <type>... | show all  list these message types line by line (see below)
 *     hide <type>...             summarise these message types instead
 *     logs <level>               print core logs at this level and above (`none`: none)
 *     status [<n>...]            phase, view and groups of each (or every) core
 *
 * ## Trace lines
 *
 *     <t>ms <from>-><to> <type> <its telling fields>     a message delivered (suffix
 *                                                        `(dropped)` or `(down)` if lost)
 *     <t>ms <n>: <event>                                 an event of core n
 *     hidden: 12 heartbeat, 4 ack                        what was summarised (last line)
 *     <n>: <member> <phase> e<epoch> [...] groups [...]  `status` (no time: it is a query)
 *     error: <what>                                      a command the harness refused
 *
 * Heartbeats and acks are summarised by default (they are most of the traffic); a
 * summarised message that is lost still counts in the summary. Logs are off by default.
 * Members print as `id#inc`, ballots as `round/proposer`, positions as `e<epoch>.<gseq>`.
 */
import { defaultCoreConfig } from '../src/core/config.js';
import type { CoreConfig } from '../src/core/config.js';
import { EndpointCore, leavePayload } from '../src/core/endpoint-core.js';
import type { CoreEvent, CoreLogLevel } from '../src/core/endpoint-core.js';
import { unbundle } from '../src/core/bundle.js';
import { EntryKind, memberKey } from '../src/core/types.js';
import type { Ballot, EndpointView, Failure, LogEntry, MemberRef, Message, Position } from '../src/core/types.js';
import { SeededRng } from '../src/sim/rng.js';

/** The scripts' default timing: the default profile, faster, so traces stay short. */
export const scriptConfig: CoreConfig = {
  ...defaultCoreConfig,
  heartbeatMs: 100,
  suspectTimeoutMs: 400,
  flushTimeoutMs: 200,
  retransmitMs: 100,
  joinBatchMs: 30,
  lagTimeoutMs: 2000,
};

/** A command of a script and the trace stored after it (`null`: none stored yet). */
export interface ScriptBlock {
  readonly kind: 'command';
  /** The command line as written (with any trailing comment). */
  readonly line: string;
  /** 1-based line number of the command in the file. */
  readonly lineNo: number;
  readonly expected: readonly string[] | null;
}

/** A line kept verbatim: a comment or a blank line between blocks. */
export interface ScriptText {
  readonly kind: 'text';
  readonly line: string;
}

export type ScriptItem = ScriptBlock | ScriptText;

/** Split a script file into commands with their expected traces, and verbatim lines. */
export function parseScript(text: string): ScriptItem[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const items: ScriptItem[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.trimStart().startsWith('#')) {
      items.push({ kind: 'text', line });
      i++;
      continue;
    }
    const lineNo = i + 1;
    i++;
    if (lines[i] !== '----') {
      items.push({ kind: 'command', line, lineNo, expected: null });
      continue;
    }
    i++;
    const expected: string[] = [];
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++]!);
    if (i < lines.length) i++; // the blank line that ends the block
    items.push({ kind: 'command', line, lineNo, expected });
  }
  return items;
}

/** The file text of `items` with each command's trace replaced by `actual[k]` (k-th command). */
export function renderScript(items: readonly ScriptItem[], actual: readonly (readonly string[])[]): string {
  const out: string[] = [];
  let k = 0;
  for (const it of items) {
    if (it.kind === 'text') {
      out.push(it.line);
      continue;
    }
    out.push(it.line, '----', ...(actual[k++] ?? []), '');
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}

/** Run every command of a script; returns the trace of each, in order. */
export function runScript(items: readonly ScriptItem[]): string[][] {
  const h = new Harness();
  const traces: string[][] = [];
  for (const it of items) {
    if (it.kind !== 'command') continue;
    traces.push(h.run(it.line, it.lineNo));
  }
  return traces;
}

// ============================================================================ rendering

const utf8 = new TextEncoder();
const utf8Decode = new TextDecoder();

function m(r: MemberRef): string {
  return memberKey(r);
}

function ms(rs: readonly MemberRef[]): string {
  return `[${rs.map(m).join(' ')}]`;
}

function ballot(b: Ballot): string {
  return `${b.round}/${b.proposer}`;
}

function pos(p: Position): string {
  return `e${p.epoch}.${p.gseq}`;
}

function quote(data: Uint8Array): string {
  return JSON.stringify(utf8Decode.decode(data));
}

const kindName: Record<number, string> = {
  [EntryKind.app]: 'app',
  [EntryKind.join]: 'join',
  [EntryKind.leave]: 'leave',
  [EntryKind.stateDone]: 'stateDone',
};

function range(first: number, last: number): string {
  return first === last ? `${first}` : `${first}..${last}`;
}

function logRange(log: readonly LogEntry[]): string {
  if (log.length === 0) return 'log []';
  return `log ${range(log[0]!.gseq, log[log.length - 1]!.gseq)}`;
}

function view(v: EndpointView): string {
  return `e${v.epoch} ${ms(v.members)}`;
}

function failures(fs: readonly Failure[]): string {
  return fs.map((f) => `${m(f.member)} ${f.cause} by ${m(f.by)}`).join(', ');
}

/**
 * Changes of a view: `joined [...] left [...] failed [...]`, each only when non-empty;
 * with `causes`, failed members as `failed (c#1 silence by a#1)`.
 */
function changes(
  c: { joined: readonly MemberRef[]; left: readonly MemberRef[]; failed: readonly MemberRef[]; failures: readonly Failure[] },
  causes = true,
): string {
  let s = '';
  if (c.joined.length > 0) s += ` joined ${ms(c.joined)}`;
  if (c.left.length > 0) s += ` left ${ms(c.left)}`;
  if (c.failed.length > 0) s += causes ? ` failed (${failures(c.failures)})` : ` failed ${ms(c.failed)}`;
  return s;
}

/** The type of a message and its two or three most telling fields. */
export function describeMessage(msg: Message): string {
  switch (msg.t) {
    case 'probe':
      return `probe config [${msg.config.join(' ')}]`;
    case 'probe-reply':
      return `probe-reply ${msg.view.epoch === 0 ? 'e0' : view(msg.view)}${msg.joining ? ' joining' : ''}`;
    case 'join-req':
      return `join-req ${m(msg.from)}`;
    case 'leave-req':
      return `leave-req e${msg.epoch}`;
    case 'heartbeat':
      return `heartbeat e${msg.epoch} held ${msg.held} committed ${msg.committed} stable ${msg.stable}${msg.hears ? '' : ' !hears'}${msg.behind ? ' behind' : ''}`;
    case 'ack':
      return `ack e${msg.epoch} held ${msg.held}`;
    case 'data':
      return (
        `data e${msg.epoch} seq ${msg.seq} ${kindName[msg.kind] ?? msg.kind} ${msg.group}` +
        (msg.sender.id !== msg.from.id || msg.sender.inc !== msg.from.inc ? ` of ${m(msg.sender)}` : '') +
        (msg.safe ? ' safe' : '') +
        (msg.relay ? ' relay' : '')
      );
    case 'order':
      return (
        `order e${msg.epoch} ` +
        (msg.entries.length === 0 ? 'none' : `${range(msg.first, msg.first + msg.entries.length - 1)}`) +
        ` committed ${msg.committed} stable ${msg.stable}`
      );
    case 'nak':
      return `nak e${msg.epoch} ${range(msg.first, msg.last)}`;
    case 'prepare':
      return `prepare e${msg.epoch} ballot ${ballot(msg.ballot)}${msg.config.length > 0 ? ` config [${msg.config.join(' ')}]` : ''}`;
    case 'promise':
      return (
        `promise e${msg.epoch} ballot ${ballot(msg.ballot)} held ${msg.held} stable ${msg.stable} ${logRange(msg.log)}` +
        (msg.acceptedBallot !== null ? ` accepted ${ballot(msg.acceptedBallot)}` : '')
      );
    case 'reject':
      return `reject e${msg.epoch} ballot ${ballot(msg.ballot)} promised ${ballot(msg.promised)}`;
    case 'accept':
      return (
        `accept e${msg.epoch} ballot ${ballot(msg.ballot)} -> ${view(msg.proposal.view)} cut ${msg.proposal.cut}` +
        changes(msg.proposal, false) + // failure causes show in `installed`
        (msg.log.length > 0 ? ` ${logRange(msg.log)}` : '') +
        (msg.commit ? ' commit' : '')
      );
    case 'accepted':
      return `accepted e${msg.epoch} ballot ${ballot(msg.ballot)}`;
    case 'commit':
      return `commit e${msg.epoch} ballot ${ballot(msg.ballot)}`;
    case 'installed':
      return `installed e${msg.epoch}`;
    case 'welcome':
      return `welcome ${view(msg.view)} groups [${msg.groups.map((g) => `${g.name}:${g.viewId}`).join(' ')}]`;
    case 'not-member':
      return `not-member e${msg.epoch} to ${m(msg.to)}`;
    case 'join-refused':
      return `join-refused ${m(msg.to)} live ${m(msg.live)}`;
    case 'state-chunk':
      return `state-chunk ${msg.group} for ${m(msg.joiner)} at ${pos(msg.pos)} bytes ${msg.offset}+${msg.data.length}/${msg.total}`;
    case 'state-ack':
      return `state-ack ${msg.group} at ${pos(msg.pos)} offset ${msg.offset}`;
    case 'status-req':
      return `status-req ${msg.id}`;
    case 'status-reply':
      return `status-reply ${msg.id}`;
    case 'persisted':
      return `persisted e${msg.epoch} at ${pos(msg.pos)}`;
    case 'restart':
      return `restart was ${m(msg.was)} last ${view(msg.last)}${msg.vote === null ? '' : ` vote ${view(msg.vote.view)}`} end ${pos(msg.end)}`;
  }
}

/** One event of a core, on one line. */
export function describeEvent(e: CoreEvent): string {
  switch (e.type) {
    case 'installed':
      return `installed ${view(e.view)}${changes(e)}`;
    case 'view':
      return `view ${e.group} ${e.view.id} ${ms(e.view.members)}${changes(e.view)}${
        e.view.left.length > 0 && e.view.leaveCauses.some((c) => c !== 'leave') ? ` causes [${e.view.leaveCauses.join(' ')}]` : ''
      }`;
    case 'state':
      return `state ${e.group} ${quote(e.data)}`;
    case 'message': {
      const texts = unbundle(e.data);
      const text = texts !== null && texts.length === 1 ? quote(texts[0]!.data) : quote(e.data);
      return `message ${e.group} from ${m(e.sender)} ${text}${e.safe ? ' safe' : ''}${e.localId !== null ? ` own ${e.localId}` : ''}`;
    }
    case 'state-progress':
      return `state-progress ${e.group} ${e.received}/${e.total}`;
    case 'state-request':
      return `state-request ${e.group} for ${m(e.joiner)} at ${pos(e.pos)}`;
    case 'state-lost':
      return `state-lost ${e.group}`;
    case 'duplicate':
      return `duplicate live ${m(e.live)}`;
    case 'group-left':
      return `group-left ${e.group} own ${e.localId}`;
    case 'blocked':
    case 'excluded':
    case 'stopped':
      return e.type;
    case 'log':
      return `log ${e.level} ${e.text}`;
    case 'persist':
      return `persist ${pos(e.pos)} ${e.entry.group}${e.localIds !== null ? ` own ${e.localIds.join(',')}` : ''}`;
    case 'persisted':
      return `persisted ${m(e.member)} at ${pos(e.pos)}`;
    case 'restore':
      return `restore ${e.group}`;
    case 'vote':
      return `vote e${e.epoch} ${view(e.view)}`;
  }
}

// ============================================================================ the harness

interface Packet {
  readonly from: string;
  readonly to: string;
  readonly msg: Message;
}

interface DropRule {
  readonly from: string;
  readonly to: string;
  /** Message types it applies to; empty: all. */
  readonly types: ReadonlySet<string>;
  /** Drops left (`once`), or Infinity. */
  left: number;
}

const logLevels: readonly CoreLogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Every message type, so that a misspelt one in `drop`, `show` or `hide` is an error, not a rule that never matches. */
const messageTypes: ReadonlySet<string> = new Set<Message['t']>([
  'probe', 'probe-reply', 'join-req', 'leave-req', 'heartbeat', 'ack', 'data', 'order', 'nak', 'prepare', 'promise', 'reject',
  'accept', 'accepted', 'commit', 'installed', 'welcome', 'not-member', 'join-refused', 'state-chunk', 'state-ack',
  'status-req', 'status-reply', 'persisted', 'restart',
]);

function checkTypes(types: readonly string[]): void {
  for (const t of types) if (!messageTypes.has(t)) throw new ScriptError(`no message type ${t}`);
}

/** Deterministic 32-bit seed of a string (FNV-1a). */
function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

class ScriptError extends Error {}

/** Cores, a scripted network and a clock, driven one command at a time. */
export class Harness {
  now = 0;
  private config: CoreConfig = scriptConfig;
  private readonly cores = new Map<string, EndpointCore>();
  private readonly down = new Set<string>();
  private queue: Packet[] = [];
  private drops: DropRule[] = [];
  private sides: string[][] | null = null;
  private readonly hidden = new Set<string>(['heartbeat', 'ack']);
  private logLevel: CoreLogLevel | 'none' = 'none';
  /** The trace of the command being run, and its summarised counts. */
  private trace: string[] = [];
  private counts = new Map<string, number>();

  /** Run one command line; returns its trace. Errors are part of the trace, so a script can show them. */
  run(line: string, lineNo: number): string[] {
    this.trace = [];
    this.counts = new Map();
    const words = line.replace(/\s+#.*$/, '').trim().split(/\s+/);
    try {
      this.exec(words);
    } catch (err) {
      if (!(err instanceof ScriptError)) throw new Error(`line ${lineNo}: ${line}: ${(err as Error).stack ?? String(err)}`);
      this.trace.push(`error: ${err.message}`);
    }
    if (this.counts.size > 0) {
      const parts = [...this.counts].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map(([t, n]) => `${n} ${t}`);
      this.trace.push(`hidden: ${parts.join(', ')}`);
    }
    return this.trace;
  }

  private core(name: string | undefined): EndpointCore {
    const c = name === undefined ? undefined : this.cores.get(name);
    if (c === undefined || name === undefined) throw new ScriptError(`no endpoint ${name ?? '(missing)'}`);
    if (this.down.has(name)) throw new ScriptError(`${name} is crashed`);
    return c;
  }

  private exec(w: string[]): void {
    const [cmd, ...args] = w;
    switch (cmd) {
      case 'config':
        return this.setConfig(args);
      case 'start':
        for (const n of args) this.create(n, 1, args.filter((x) => x !== n));
        for (const n of args) {
          this.cores.get(n)!.start(this.now);
          this.collect(n);
        }
        return;
      case 'tick':
        return this.tick(Number(args[0]));
      case 'stabilize':
        return this.stabilize();
      case 'drop':
        return this.drop(args);
      case 'partition': {
        const bar = args.indexOf('|');
        if (bar <= 0 || bar === args.length - 1) throw new ScriptError('partition <n>... | <n>...');
        this.sides = [args.slice(0, bar), args.slice(bar + 1)];
        return;
      }
      case 'heal':
        this.drops = [];
        this.sides = null;
        return;
      case 'crash':
        this.core(args[0]);
        this.down.add(args[0]!);
        return;
      case 'restart': {
        const n = args[0];
        const old = n === undefined ? undefined : this.cores.get(n);
        if (old === undefined || n === undefined) throw new ScriptError(`no endpoint ${n ?? '(missing)'}`);
        this.down.delete(n);
        this.create(n, old.self.inc + 1, [...this.cores.keys()].filter((x) => x !== n));
        this.cores.get(n)!.start(this.now);
        this.collect(n);
        return;
      }
      case 'refused':
        this.core(args[0]).refused(this.now, args[1] ?? '');
        this.collect(args[0]!);
        return;
      case 'join':
        return this.submit(args[0], EntryKind.join, args[1], new Uint8Array(0), false);
      case 'leave-group':
        return this.submit(args[0], EntryKind.leave, args[1], leavePayload('leave'), false);
      case 'multicast':
      case 'multicast-safe':
        return this.submit(args[0], EntryKind.app, args[1], utf8.encode(args.slice(2).join(' ')), cmd === 'multicast-safe');
      case 'leave':
        this.core(args[0]).leave(this.now);
        this.collect(args[0]!);
        return;
      case 'show':
        if (args[0] === 'all') {
          this.hidden.clear();
          return;
        }
        checkTypes(args);
        for (const t of args) this.hidden.delete(t);
        return;
      case 'hide':
        checkTypes(args);
        for (const t of args) this.hidden.add(t);
        return;
      case 'logs': {
        const l = args[0];
        if (l !== 'none' && !logLevels.includes(l as CoreLogLevel)) throw new ScriptError(`logs ${logLevels.join('|')}|none`);
        this.logLevel = l as CoreLogLevel | 'none';
        return;
      }
      case 'status':
        for (const n of args.length > 0 ? args : [...this.cores.keys()].sort()) this.status(n);
        return;
      default:
        throw new ScriptError(`unknown command ${cmd ?? ''}`);
    }
  }

  private setConfig(args: readonly string[]): void {
    const next: Record<string, unknown> = { ...this.config };
    for (const a of args) {
      const [k, v] = a.split('=');
      if (k === undefined || v === undefined || !(k in next)) throw new ScriptError(`config: no key ${k ?? a}`);
      next[k] = typeof next[k] === 'boolean' ? v === 'true' : Number(v);
    }
    this.config = next as unknown as CoreConfig;
  }

  private create(name: string, inc: number, seeds: readonly string[]): void {
    this.cores.set(
      name,
      new EndpointCore({ self: { id: name, inc }, addr: name, seeds: [...seeds].sort(), config: this.config, rng: new SeededRng(seedOf(`${name}#${inc}`)) }),
    );
  }

  private submit(name: string | undefined, kind: EntryKind, group: string | undefined, payload: Uint8Array, safe: boolean): void {
    if (group === undefined) throw new ScriptError('which group?');
    this.core(name).submit(this.now, kind, group, payload, safe);
    this.collect(name!);
  }

  private line(text: string): void {
    this.trace.push(`${this.now}ms ${text}`);
  }

  /** Take what `name` output: queue its messages, print its events, answer state requests. */
  private collect(name: string): void {
    const core = this.cores.get(name)!;
    const out = core.takeOutput();
    for (const s of out.send) this.queue.push({ from: name, to: s.to, msg: s.msg });
    for (const e of out.events) {
      if (e.type === 'log') {
        if (this.logLevel === 'none' || logLevels.indexOf(e.level) < logLevels.indexOf(this.logLevel)) continue;
      }
      this.line(`${name}: ${describeEvent(e)}`);
    }
    for (const e of out.events) {
      if (e.type === 'state-request') {
        core.provideState(this.now, e.group, e.joiner, e.pos, utf8.encode(`state-of-${e.group}`));
        this.collect(name);
      }
    }
  }

  /** Why a packet is lost, or null if it gets through. */
  private lost(p: Packet): string | null {
    if (this.down.has(p.to) || !this.cores.has(p.to)) return 'down';
    if (this.sides !== null) {
      const side = (n: string): number => this.sides!.findIndex((s) => s.includes(n));
      const a = side(p.from);
      const b = side(p.to);
      if (a >= 0 && b >= 0 && a !== b) return 'dropped';
    }
    for (const r of this.drops) {
      if (r.left <= 0) continue;
      if ((r.from === '*' || r.from === p.from) && (r.to === '*' || r.to === p.to) && (r.types.size === 0 || r.types.has(p.msg.t))) {
        r.left--;
        return 'dropped';
      }
    }
    return null;
  }

  private deliver(p: Packet): void {
    const why = this.lost(p);
    if (this.hidden.has(p.msg.t)) this.counts.set(p.msg.t, (this.counts.get(p.msg.t) ?? 0) + 1);
    else this.line(`${p.from}->${p.to} ${describeMessage(p.msg)}${why === null ? '' : ` (${why})`}`);
    if (why !== null) return;
    this.cores.get(p.to)!.receive(this.now, p.from, p.msg);
    this.collect(p.to);
  }

  private stabilize(max = 10_000): void {
    let n = 0;
    while (this.queue.length > 0) {
      if (n++ >= max) throw new ScriptError(`still delivering after ${max} messages`);
      this.deliver(this.queue.shift()!);
    }
  }

  private tick(total: number): void {
    if (!Number.isInteger(total) || total <= 0 || total % 10 !== 0) throw new ScriptError('tick <ms>, a positive multiple of 10');
    this.stabilize();
    for (let t = 0; t < total; t += 10) {
      this.now += 10;
      for (const [name, c] of [...this.cores].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
        if (this.down.has(name)) continue;
        c.tick(this.now);
        this.collect(name);
      }
      this.stabilize();
    }
  }

  private drop(args: readonly string[]): void {
    const link = args[0] ?? '';
    const both = link.includes('<->');
    const [from, to] = link.split(both ? '<->' : '->');
    if (from === undefined || to === undefined || from === '' || to === '') throw new ScriptError('drop <a>-><b> [type...] [once]');
    const once = args[args.length - 1] === 'once';
    const types = new Set(args.slice(1, once ? -1 : undefined));
    checkTypes([...types]);
    this.drops.push({ from, to, types, left: once ? 1 : Infinity });
    if (both) this.drops.push({ from: to, to: from, types, left: once ? 1 : Infinity });
  }

  private status(name: string): void {
    const c = this.cores.get(name);
    if (c === undefined) throw new ScriptError(`no endpoint ${name}`);
    if (this.down.has(name)) {
      this.trace.push(`${name}: crashed`);
      return;
    }
    const groups = c.groupTable
      .snapshot()
      .map((g) => `${g.name}:${g.viewId}${ms(g.members)}${g.awaiting.length > 0 ? ` awaiting ${ms(g.awaiting.map((a) => a.member))}` : ''}`);
    this.trace.push(`${name}: ${m(c.self)} ${c.phase} ${view(c.currentView)} groups [${groups.join(' ')}]${c.wedged ? ' wedged' : ''}`);
  }
}
