/**
 * `npm run bench:matrix`: the peers' workload, point by point, as one table.
 *
 * Runs `bench.js` once per repetition of every point — throughput with all members
 * sending and with one, at each size, then latency at each size — each in fresh
 * processes, and prints the median of the repetitions as a markdown table. With
 * `--peers FILE...` it reads the `RESULT` lines the peer scripts print (Corosync,
 * JGroups, raw TCP; see the README) and adds each system's figure and Cohort's ratio
 * to it, so that a comparison made in one session is one command plus the peers' own.
 *
 * With `--safe` it adds Cohort's safe delivery beside agreed, and with `--raw` the raw
 * TCP fan-out of the same harness (`bench --raw`) and Cohort's share of it.
 *
 * Throughput ratios are ours / theirs (above 1: Cohort delivers more); latency ratios
 * are theirs / ours (above 1: Cohort is faster). Each repetition's JSON line goes to
 * standard error as it arrives; a failed run counts as missing (NaN), never as zero.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median, runOnce } from './runs.js';

const usage = `usage: npm run bench:matrix -- [options]

Runs the peers' workload with Cohort and prints a markdown table of medians.

options:
  --members N       members (default 3)
  --sizes LIST      payload sizes, comma-separated (default 100,1024,10240)
  --senders LIST    sender counts for throughput (default: all members, then 1)
  --seconds S       measured window per throughput run (default 10)
  --lat-seconds S   measured window per latency run (default 5)
  --reps N          repetitions per point, median reported (default 3)
  --peers FILE...   RESULT lines of ../shared/peers runs to compare with (repeatable)
  --secret          run Cohort with a network secret (authenticated, encrypted)
  --tls             run Cohort over TLS 1.3 with mutual certificates
  --safe            also run every point in safe delivery (a column beside agreed)
  --raw             also run every point over plain TCP (bench --raw): the machine's
                    fan-out limit in this harness, and Cohort's share of it
  -h, --help        print this text`;

interface Point {
  readonly mode: 'tput' | 'lat';
  readonly senders: number;
  readonly size: number;
}

interface Figures {
  msgsPerS: number;
  mbPerS: number;
  p50Us: number;
  p99Us: number;
}

/** `RESULT key=value ...` lines → figures per system/config and point. */
function readPeers(files: readonly string[]): Map<string, Map<string, Figures>> {
  const systems = new Map<string, Map<string, Figures>>();
  const num = (v: string | undefined): number => (v === undefined || v === '-' ? NaN : Number(v));
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line.startsWith('RESULT ')) continue;
      const kv = new Map(line.slice(7).trim().split(/\s+/).map((p) => p.split('=', 2) as [string, string]));
      const name = `${kv.get('system')} ${kv.get('config')}`;
      const key = `${kv.get('mode')}/${kv.get('senders')}/${kv.get('size')}`;
      if (!systems.has(name)) systems.set(name, new Map());
      systems.get(name)!.set(key, { msgsPerS: num(kv.get('msgs_per_s')), mbPerS: num(kv.get('mb_per_s')), p50Us: num(kv.get('p50_us')), p99Us: num(kv.get('p99_us')) });
    }
  }
  return systems;
}

function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—';
}

async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        members: { type: 'string' },
        sizes: { type: 'string' },
        senders: { type: 'string' },
        seconds: { type: 'string' },
        'lat-seconds': { type: 'string' },
        reps: { type: 'string' },
        peers: { type: 'string', multiple: true },
        secret: { type: 'boolean' },
        tls: { type: 'boolean' },
        safe: { type: 'boolean' },
        raw: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`bench:matrix: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const posInt = (name: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  let members: number, sizes: number[], senders: number[], seconds: number, latSeconds: number, reps: number, peers: Map<string, Map<string, Figures>>;
  try {
    members = posInt('members', values.members, 3);
    sizes = (values.sizes ?? '100,1024,10240').split(',').map((s) => posInt('sizes', s, 0));
    senders = values.senders === undefined ? [...new Set([members, 1])] : values.senders.split(',').map((s) => posInt('senders', s, 0));
    seconds = posInt('seconds', values.seconds, 10);
    latSeconds = posInt('lat-seconds', values['lat-seconds'], 5);
    reps = posInt('reps', values.reps, 3);
    peers = readPeers(values.peers ?? []);
  } catch (e) {
    process.stderr.write(`bench:matrix: ${(e as Error).message}\n`);
    return 2;
  }
  const points: Point[] = [];
  for (const s of senders) for (const size of sizes) points.push({ mode: 'tput', senders: s, size });
  for (const size of sizes) points.push({ mode: 'lat', senders: 1, size });

  // Cohort agreed always; safe and raw TCP on request. Repetitions of a point run
  // back to back, variants interleaved, so that they share the machine's mood.
  const security = [...(values.secret === true ? ['--secret'] : []), ...(values.tls === true ? ['--tls'] : [])];
  const variants: { name: string; args: string[] }[] = [{ name: 'agreed', args: security }];
  if (values.safe === true) variants.push({ name: 'safe', args: [...security, '--safe'] });
  if (values.raw === true) variants.push({ name: 'raw', args: ['--raw'] });
  const ours = new Map<string, Map<string, Figures>>(variants.map((v) => [v.name, new Map()]));
  for (const p of points) {
    const runs = new Map<string, Figures[]>(variants.map((v) => [v.name, []]));
    for (let r = 0; r < reps; r++) {
      for (const v of variants) {
        const args = ['--members', String(members), '--size', String(p.size), ...v.args];
        if (p.mode === 'tput') args.push('--senders', String(p.senders), '--seconds', String(seconds));
        else args.push('--latency', '--seconds', String(latSeconds));
        const j = await runOnce(args);
        process.stderr.write(`${v.name} ${p.mode} senders=${p.senders} size=${p.size} rep=${r + 1}: ${j === null ? 'FAILED' : JSON.stringify(j)}\n`);
        runs.get(v.name)!.push({
          msgsPerS: j?.msgs_per_s ?? NaN,
          mbPerS: j?.mb_per_s ?? NaN,
          p50Us: j?.p50_ms == null ? NaN : j.p50_ms * 1000,
          p99Us: j?.p99_ms == null ? NaN : j.p99_ms * 1000,
        });
      }
    }
    for (const v of variants) {
      const rs = runs.get(v.name)!;
      ours.get(v.name)!.set(`${p.mode}/${p.senders}/${p.size}`, {
        msgsPerS: median(rs.map((x) => x.msgsPerS)),
        mbPerS: median(rs.map((x) => x.mbPerS)),
        p50Us: median(rs.map((x) => x.p50Us)),
        p99Us: median(rs.map((x) => x.p99Us)),
      });
    }
  }

  const names = [...peers.keys()];
  const safe = ours.get('safe');
  const raw = ours.get('raw');
  const head = [
    'point',
    'Cohort',
    ...(safe === undefined ? [] : ['Cohort safe']),
    ...(raw === undefined ? [] : ['raw TCP', 'Cohort ÷ raw']),
    ...names.flatMap((n) => [n, `Cohort vs ${n}`]),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const p of points) {
    const key = `${p.mode}/${p.senders}/${p.size}`;
    const o = ours.get('agreed')!.get(key)!;
    const s = safe?.get(key);
    const w = raw?.get(key);
    if (p.mode === 'tput') {
      const cells = [`${p.senders} sender${p.senders > 1 ? 's' : ''}, ${p.size} B (msgs/s, MB/s)`, `${fmt(o.msgsPerS)} (${fmt(o.mbPerS, 1)})`];
      if (s !== undefined) cells.push(`${fmt(s.msgsPerS)} (${fmt(s.mbPerS, 1)})`);
      if (w !== undefined) cells.push(`${fmt(w.msgsPerS)} (${fmt(w.mbPerS, 1)})`, ratio(o.msgsPerS, w.msgsPerS));
      for (const n of names) {
        const t = peers.get(n)!.get(key);
        cells.push(t === undefined ? '—' : `${fmt(t.msgsPerS)} (${fmt(t.mbPerS, 1)})`, t === undefined ? '—' : ratio(o.msgsPerS, t.msgsPerS));
      }
      lines.push(`| ${cells.join(' | ')} |`);
    } else {
      const cells = [`latency, ${p.size} B (p50 / p99 µs)`, `${fmt(o.p50Us)} / ${fmt(o.p99Us)}`];
      if (s !== undefined) cells.push(`${fmt(s.p50Us)} / ${fmt(s.p99Us)}`);
      // Latency: raw ÷ Cohort, so that a share of the raw limit reads like throughput's.
      if (w !== undefined) cells.push(`${fmt(w.p50Us)} / ${fmt(w.p99Us)}`, `${ratio(w.p50Us, o.p50Us)} / ${ratio(w.p99Us, o.p99Us)}`);
      for (const n of names) {
        const t = peers.get(n)!.get(key);
        cells.push(t === undefined ? '—' : `${fmt(t.p50Us)} / ${fmt(t.p99Us)}`, t === undefined ? '—' : `${ratio(t.p50Us, o.p50Us)} / ${ratio(t.p99Us, o.p99Us)}`);
      }
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
