/**
 * From the clients' `MEMBER key=value ...` lines to one `RESULT key=value ...` line per
 * point, and the `# MACHINE ...` line that says where and when the figures were made.
 * Pure functions, tested on fixtures.
 *
 * The accounting is `npm run bench`'s: a throughput repetition's figure is the mean
 * over the members of the messages each delivered per second inside its window, own
 * messages included; a repetition counts only if every member reported (a member that
 * died or hung makes it NaN, never a smaller number), and only if no member saw the
 * membership change between the start and the end of the window (as `npm run bench`
 * fails such a run); the point's figure is the median
 * of the repetitions that counted. A repetition in which a sender stayed blocked for
 * good (JGroups' `blocked=1`) counts with what was delivered, and `blocked_reps` says
 * how many there were. Latency: the median over repetitions of the
 * sender's p50 and of its p99. MB = 10^6 payload bytes.
 */
import { cpus, release, totalmem } from 'node:os';
import { median } from '../runs.js';
import type { PeersOptions } from './options.js';
import { log } from './procs.js';

/** `KEY=value` pairs of a line after its first word. */
export function keyValues(line: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of line.trim().split(/\s+/).slice(1)) {
    const eq = part.indexOf('=');
    if (eq > 0) m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

/** The `MEMBER` lines of a client's output, as key/value maps. */
export function memberLines(text: string): Map<string, string>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('MEMBER '))
    .map(keyValues);
}

/** A non-negative number of a key/value line, or NaN (absent, `-`, or not one). */
export function num(v: string | undefined): number {
  if (v === undefined || v === '' || v === '-') return NaN;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : NaN;
}

/** A number for a RESULT line: one decimal, or NaN. */
export function out(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'NaN';
}

/** Whether a member saw the membership change during the run (`npm run bench` fails such a run). */
export function viewChanged(members: readonly Map<string, string>[]): boolean {
  return members.some((m) => (m.get('view_changes') ?? '0') !== '0');
}

/** One throughput repetition: the mean of the members' msgs/s and the slowest, or NaN unless all `members` reported. */
export function tputRep(members: readonly Map<string, string>[], expected: number): { mean: number; slowest: number } {
  const rates = members.map((m) => num(m.get('msgs_per_s')));
  const ids = new Set(members.map((m) => m.get('id')));
  if (members.length !== expected || ids.size !== expected || rates.some((r) => !Number.isFinite(r)) || viewChanged(members)) return { mean: NaN, slowest: NaN };
  return { mean: rates.reduce((a, b) => a + b, 0) / rates.length, slowest: Math.min(...rates) };
}

export interface PointId {
  readonly system: string;
  readonly config: string;
  readonly senders: number;
  readonly size: number;
}

/** The RESULT line of a throughput point from its repetitions (each: all members' MEMBER lines). */
export function tputResult(p: PointId, reps: readonly (readonly Map<string, string>[])[], expected: number): string {
  const r = reps.map((m) => tputRep(m, expected));
  const med = median(r.map((x) => x.mean));
  const slow = median(r.map((x) => x.slowest));
  return [
    'RESULT',
    `system=${p.system}`,
    `config=${p.config}`,
    'mode=tput',
    `senders=${p.senders}`,
    `size=${p.size}`,
    `msgs_per_s=${out(med)}`,
    `mb_per_s=${out((med * p.size) / 1e6, 2)}`,
    'p50_us=-',
    'p99_us=-',
    `slowest_member_msgs_per_s=${out(slow)}`,
    `reps=${r.map((x) => out(x.mean)).join(',')}`,
    // repetitions in which a sender was still stuck in its send call after the window
    `blocked_reps=${reps.filter((m) => m.some((l) => l.get('blocked') === '1')).length}`,
  ].join(' ');
}

/** The RESULT line of a latency point from its repetitions (each: the members' MEMBER lines; the sender's has p50_us). */
export function latResult(p: PointId, reps: readonly (readonly Map<string, string>[])[]): string {
  const sender = reps.map((m) => (viewChanged(m) ? undefined : m.find((l) => l.has('p50_us') && num(l.get('samples')) > 0)));
  const p50 = sender.map((s) => num(s?.get('p50_us')));
  const p99 = sender.map((s) => num(s?.get('p99_us')));
  return [
    'RESULT',
    `system=${p.system}`,
    `config=${p.config}`,
    'mode=lat',
    'senders=1',
    `size=${p.size}`,
    'msgs_per_s=-',
    'mb_per_s=-',
    `p50_us=${out(median(p50))}`,
    `p99_us=${out(median(p99))}`,
    `samples=${sender.map((s) => s?.get('samples') ?? '0').join(',')}`,
    `reps=${p50.map((x) => out(x)).join(',')}`,
  ].join(' ');
}

/** This machine in key=value form: cores, memory, kernel, Node version. */
export function machineFacts(): Record<string, string> {
  return {
    cores: String(cpus().length),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)}GiB`,
    kernel: release(),
    node: process.version,
  };
}

/** `# MACHINE system=... date=... cores=... memory=... kernel=... node=... software=...`: where and when a system's lines were made. */
export function machineLine(system: string, date: Date, software: string): string {
  const facts = Object.entries(machineFacts()).map(([k, v]) => `${k}=${v}`);
  return ['# MACHINE', `system=${system}`, `date=${date.toISOString().slice(0, 16)}Z`, ...facts, `software=${software.replace(/\s+/g, '_')}`].join(' ');
}

/**
 * The new results file: the lines of this run, plus the lines of systems this run did
 * not measure kept from the previous file (so that `--only jgroups` does not drop
 * Corosync's figures).
 */
export function mergeResults(previous: string, ranSystems: readonly string[], fresh: readonly string[]): string {
  const kept = previous.split('\n').filter((l) => {
    if (!l.startsWith('RESULT ') && !l.startsWith('# MACHINE ')) return false;
    const sys = keyValues(l.startsWith('# ') ? l.slice(2) : l).get('system');
    return sys !== undefined && !ranSystems.includes(sys);
  });
  return `${[...kept, ...fresh].join('\n')}\n`;
}

/** One run of a peer: every member's MEMBER lines (fewer when some did not report). */
export type RunOnce = (mode: 'tput' | 'lat', senders: number, size: number, windowS: number) => Promise<Map<string, string>[]>;

/**
 * The workload of `npm run bench` on one peer: every throughput point (senders × sizes),
 * then every latency point, each repeated `o.reps` times through `once`; one RESULT
 * line per point, printed as it is known and returned.
 */
export async function runWorkload(o: PeersOptions, system: string, config: { readonly tput: string; readonly lat: string }, members: number, once: RunOnce): Promise<string[]> {
  const results: string[] = [];
  const emit = (line: string): void => {
    process.stdout.write(`${line}\n`);
    results.push(line);
  };
  if (o.tput) {
    for (const senders of o.senders) {
      for (const size of o.sizes) {
        const reps: Map<string, string>[][] = [];
        for (let r = 0; r < o.reps; r++) {
          const lines = await once('tput', senders, size, o.seconds);
          log(`${system} tput senders=${senders} size=${size} rep ${r + 1}: ${lines.map((l) => l.get('msgs_per_s')).join(', ')} msgs/s per member`);
          reps.push(lines);
        }
        emit(tputResult({ system, config: config.tput, senders, size }, reps, members));
      }
    }
  }
  if (o.lat) {
    for (const size of o.sizes) {
      const reps: Map<string, string>[][] = [];
      for (let r = 0; r < o.reps; r++) {
        const lines = await once('lat', 1, size, o.latSeconds);
        const s = lines.find((l) => l.has('p50_us'));
        log(`${system} lat size=${size} rep ${r + 1}: p50 ${s?.get('p50_us') ?? '?'} µs, p99 ${s?.get('p99_us') ?? '?'} µs`);
        reps.push(lines);
      }
      emit(latResult({ system, config: config.lat, senders: 1, size }, reps));
    }
  }
  return results;
}
