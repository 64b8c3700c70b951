/**
 * The table of `npm run bench:matrix`: Cohort's medians beside the peers' RESULT lines
 * (from `npm run bench:peers`), with ratios, and where and when each side was
 * measured. Pure functions (no process state), tested on fixtures.
 *
 * Ratios: throughput ours ÷ theirs (above 1: Cohort delivers more); latency theirs ÷
 * ours (above 1: Cohort is faster).
 *
 * Lines with `kind=durable` (etcd, ZooKeeper: acknowledged durable writes per second,
 * summed over the writers; see durable.ts) are left out, with their systems' `#
 * MACHINE` lines: they compare with Cohort's durable writes, not with this table's
 * messages delivered per member.
 */
import { keyValues, machineFacts } from './results.js';
import { defaultResultsFile } from './options.js';

export interface Figures {
  msgsPerS: number;
  mbPerS: number;
  p50Us: number;
  p99Us: number;
}

export interface Point {
  readonly mode: 'tput' | 'lat';
  readonly senders: number;
  readonly size: number;
}

export const pointKey = (p: Point): string => `${p.mode}/${p.senders}/${p.size}`;

/** The peers' side of the table. */
export interface Peers {
  /** Column name → point key → figures. */
  readonly columns: Map<string, Map<string, Figures>>;
  /** One line per column whose figures come from more than one configuration (which config for which mode). */
  readonly configs: string[];
  /** The `# MACHINE` lines' facts, one per system. */
  readonly machines: Map<string, string>[];
}

/**
 * `--peers` with the files that follow it (up to the next option), anywhere in argv;
 * `--peers` alone means the default results file; `--peers=FILE` works too. Returns
 * the remaining arguments for parseArgs and the files (empty: no --peers).
 */
export function splitPeersArgs(argv: readonly string[], fallback = defaultResultsFile): { rest: string[]; files: string[] } {
  const rest: string[] = [];
  const files: string[] = [];
  let seen = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--peers=')) {
      seen = true;
      files.push(a.slice('--peers='.length));
    } else if (a === '--peers') {
      seen = true;
      let n = 0;
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) {
        files.push(argv[++i]!);
        n++;
      }
      if (n === 0 && !files.includes(fallback)) files.push(fallback);
    } else rest.push(a);
  }
  return { rest, files: seen ? files.filter((f, i) => files.indexOf(f) === i) : [] };
}

function num(v: string | undefined): number {
  return v === undefined || v === '-' || v === '' ? NaN : Number(v);
}

/**
 * The RESULT lines of several files' texts. A system's points make one column when
 * every point has one configuration (e.g. JGroups: throughput with bundling,
 * latency without), named by the system, with a note saying which configuration
 * gave which mode; otherwise (e.g. an older file with two JGroups stacks for the same
 * points) one column per system and configuration. For the same system,
 * configuration and point, the last line wins. Durable-write lines are skipped.
 */
export function readPeers(texts: readonly string[]): Peers {
  const records: { system: string; config: string; mode: string; key: string; f: Figures }[] = [];
  const allMachines: Map<string, string>[] = [];
  const durable = new Set<string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line.startsWith('# MACHINE ')) allMachines.push(keyValues(line.slice(2)));
      if (!line.startsWith('RESULT ')) continue;
      const kv = keyValues(line);
      // durable writes (etcd, ZooKeeper) are counted otherwise: not beside Cohort's multicast
      if (kv.get('kind') === 'durable') {
        durable.add(kv.get('system') ?? '?');
        continue;
      }
      const system = kv.get('system') ?? '?';
      const config = kv.get('config') ?? '?';
      const mode = kv.get('mode') ?? '?';
      records.push({
        system,
        config,
        mode,
        key: `${mode}/${kv.get('senders')}/${kv.get('size')}`,
        f: { msgsPerS: num(kv.get('msgs_per_s')), mbPerS: num(kv.get('mb_per_s')), p50Us: num(kv.get('p50_us')), p99Us: num(kv.get('p99_us')) },
      });
    }
  }
  const systems = [...new Set(records.map((r) => r.system))];
  const machines = allMachines.filter((m) => !durable.has(m.get('system') ?? '?') || systems.includes(m.get('system') ?? '?'));
  const columns = new Map<string, Map<string, Figures>>();
  const configs: string[] = [];
  for (const system of systems) {
    const mine = records.filter((r) => r.system === system);
    const perKey = new Map<string, Set<string>>();
    for (const r of mine) perKey.set(r.key, (perKey.get(r.key) ?? new Set()).add(r.config));
    const split = [...perKey.values()].some((s) => s.size > 1);
    const allConfigs = [...new Set(mine.map((r) => r.config))];
    for (const r of mine) {
      const col = split ? `${system} ${r.config}` : system;
      if (!columns.has(col)) columns.set(col, new Map());
      columns.get(col)!.set(r.key, r.f);
    }
    if (!split) {
      const byMode = ['tput', 'lat'].map((m) => [m, [...new Set(mine.filter((r) => r.mode === m).map((r) => r.config))]] as const).filter(([, c]) => c.length > 0);
      const desc = allConfigs.length === 1 ? allConfigs[0]! : byMode.map(([m, c]) => `${c.join(', ')} (${m === 'tput' ? 'throughput' : 'latency'})`).join(', ');
      configs.push(`${system}: ${desc}`);
    }
  }
  return { columns, configs, machines };
}

export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—';
}

/** Cohort's side: 'agreed' always, 'safe' and 'raw' when they were run. */
export type Ours = Map<string, Map<string, Figures>>;

/** The markdown table: one row per point, Cohort's variants, then each peer and Cohort's ratio to it. */
export function formatTable(points: readonly Point[], ours: Ours, peers: Peers): string {
  const names = [...peers.columns.keys()];
  const safe = ours.get('safe');
  const raw = ours.get('raw');
  const head = ['point', 'Cohort', ...(safe === undefined ? [] : ['Cohort safe']), ...(raw === undefined ? [] : ['raw TCP', 'Cohort ÷ raw']), ...names.flatMap((n) => [n, `Cohort vs ${n}`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const none: Figures = { msgsPerS: NaN, mbPerS: NaN, p50Us: NaN, p99Us: NaN };
  for (const p of points) {
    const key = pointKey(p);
    const o = ours.get('agreed')?.get(key) ?? none;
    const s = safe?.get(key);
    const w = raw?.get(key);
    if (p.mode === 'tput') {
      const cells = [`${p.senders} sender${p.senders > 1 ? 's' : ''}, ${p.size} B (msgs/s, MB/s)`, `${fmt(o.msgsPerS)} (${fmt(o.mbPerS, 1)})`];
      if (safe !== undefined) cells.push(s === undefined ? '—' : `${fmt(s.msgsPerS)} (${fmt(s.mbPerS, 1)})`);
      if (raw !== undefined) cells.push(w === undefined ? '—' : `${fmt(w.msgsPerS)} (${fmt(w.mbPerS, 1)})`, ratio(o.msgsPerS, w?.msgsPerS ?? NaN));
      for (const n of names) {
        const t = peers.columns.get(n)!.get(key);
        cells.push(t === undefined ? '—' : `${fmt(t.msgsPerS)} (${fmt(t.mbPerS, 1)})`, t === undefined ? '—' : ratio(o.msgsPerS, t.msgsPerS));
      }
      lines.push(`| ${cells.join(' | ')} |`);
    } else {
      const cells = [`latency, ${p.size} B (p50 / p99 µs)`, `${fmt(o.p50Us)} / ${fmt(o.p99Us)}`];
      if (safe !== undefined) cells.push(s === undefined ? '—' : `${fmt(s.p50Us)} / ${fmt(s.p99Us)}`);
      // Latency: raw ÷ Cohort, so that a share of the raw limit reads like throughput's.
      if (raw !== undefined) cells.push(w === undefined ? '—' : `${fmt(w.p50Us)} / ${fmt(w.p99Us)}`, `${ratio(w?.p50Us ?? NaN, o.p50Us)} / ${ratio(w?.p99Us ?? NaN, o.p99Us)}`);
      for (const n of names) {
        const t = peers.columns.get(n)!.get(key);
        cells.push(t === undefined ? '—' : `${fmt(t.p50Us)} / ${fmt(t.p99Us)}`, t === undefined ? '—' : `${ratio(t.p50Us, o.p50Us)} / ${ratio(t.p99Us, o.p99Us)}`);
      }
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** "2 cores, 23.4 GiB, kernel 6.1.0, Node v20.1.0" from machine facts. */
export function describeMachine(f: ReadonlyMap<string, string> | Record<string, string>): string {
  const get = (k: string): string => (f instanceof Map ? f.get(k) : (f as Record<string, string>)[k]) ?? '?';
  return `${get('cores')} cores, ${get('memory').replace(/GiB$/, ' GiB')}, kernel ${get('kernel')}, Node ${get('node')}`;
}

/**
 * The lines under the table: when and where Cohort ran (now, this machine), when and
 * where each peer ran (its `# MACHINE` line), which configuration each peer column
 * shows, and how to read the ratios.
 */
export function formatFooter(date: Date, peers: Peers, facts: Record<string, string> = machineFacts()): string {
  const lines = [`Cohort measured ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${describeMachine(facts)}.`];
  for (const m of peers.machines) {
    const d = (m.get('date') ?? '?').replace('T', ' ').replace(/Z$/, ' UTC');
    lines.push(`${m.get('system') ?? '?'} (${(m.get('software') ?? '?').replace(/_/g, ' ')}) measured ${d} on ${describeMachine(m)}.`);
  }
  if (peers.configs.length > 0) lines.push(`Configurations: ${peers.configs.join('; ')}.`);
  if (peers.columns.size > 0) lines.push('Ratios: throughput Cohort ÷ peer, latency peer ÷ Cohort; above 1× Cohort is ahead.');
  return lines.join('\n');
}
