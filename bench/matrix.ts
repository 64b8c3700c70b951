/**
 * `npm run bench:matrix`: the peers' workload, point by point, as one table.
 *
 * Runs `bench.js` once per repetition of every point — throughput with all members
 * sending and with one, at each size, then latency at each size — each in fresh
 * processes, and prints the median of the repetitions as a markdown table. With
 * `--peers` it reads the `RESULT` lines that `npm run bench:peers` wrote (Corosync,
 * JGroups; by default bench/peers/results/latest.txt, or the files named after
 * `--peers`) and adds each system's figure and Cohort's ratio to it, so that a
 * comparison is two commands. Under the table: the date and machine of each side.
 *
 * With `--safe` it adds Cohort's safe delivery beside agreed, and with `--raw` the raw
 * TCP fan-out of the same harness (`bench --raw`) and Cohort's share of it.
 *
 * Throughput ratios are ours / theirs (above 1: Cohort delivers more); latency ratios
 * are theirs / ours (above 1: Cohort is faster). Each repetition's JSON line goes to
 * standard error as it arrives; a failed run counts as missing (NaN), never as zero.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median, runOnce } from './runs.js';
import { formatFooter, formatTable, pointKey, readPeers, splitPeersArgs } from './peers/report.js';
import type { Figures, Peers, Point } from './peers/report.js';

const usage = `usage: npm run bench:matrix -- [options]

Runs the peers' workload with Cohort and prints a markdown table of medians.

options:
  --members N       members (default 3)
  --sizes LIST      payload sizes, comma-separated (default 100,1024,10240)
  --senders LIST    sender counts for throughput (default: all members, then 1)
  --seconds S       measured window per throughput run (default 10)
  --lat-seconds S   measured window per latency run (default 5)
  --reps N          repetitions per point, median reported (default 3)
  --peers [FILE...] compare with the RESULT lines of \`npm run bench:peers\`: the
                    files named, or without a name its default results file
                    bench/peers/results/latest.txt
  --secret          run Cohort with a network secret (authenticated, encrypted)
  --tls             run Cohort over TLS 1.3 with mutual certificates
  --safe            also run every point in safe delivery (a column beside agreed)
  --raw             also run every point over plain TCP (bench --raw): the machine's
                    fan-out limit in this harness, and Cohort's share of it
  -h, --help        print this text`;

async function main(argv: readonly string[]): Promise<number> {
  // `--peers` may stand alone (the default file) or take several files: split it off first.
  const split = splitPeersArgs(argv);
  let values;
  try {
    ({ values } = parseArgs({
      args: split.rest,
      options: {
        members: { type: 'string' },
        sizes: { type: 'string' },
        senders: { type: 'string' },
        seconds: { type: 'string' },
        'lat-seconds': { type: 'string' },
        reps: { type: 'string' },
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
  let members: number, sizes: number[], senders: number[], seconds: number, latSeconds: number, reps: number, peers: Peers;
  try {
    members = posInt('members', values.members, 3);
    sizes = (values.sizes ?? '100,1024,10240').split(',').map((s) => posInt('sizes', s, 0));
    senders = values.senders === undefined ? [...new Set([members, 1])] : values.senders.split(',').map((s) => posInt('senders', s, 0));
    seconds = posInt('seconds', values.seconds, 10);
    latSeconds = posInt('lat-seconds', values['lat-seconds'], 5);
    reps = posInt('reps', values.reps, 3);
    for (const f of split.files) {
      if (!existsSync(f)) throw new Error(`--peers: no file ${f}${f.endsWith('latest.txt') ? ' (run `npm run bench:peers` first, as root)' : ''}`);
    }
    peers = readPeers(split.files.map((f) => readFileSync(f, 'utf8')));
  } catch (e) {
    process.stderr.write(`bench:matrix: ${(e as Error).message}\n`);
    return 2;
  }
  const startedAt = new Date();
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
      ours.get(v.name)!.set(pointKey(p), {
        msgsPerS: median(rs.map((x) => x.msgsPerS)),
        mbPerS: median(rs.map((x) => x.mbPerS)),
        p50Us: median(rs.map((x) => x.p50Us)),
        p99Us: median(rs.map((x) => x.p99Us)),
      });
    }
  }

  process.stdout.write(`${formatTable(points, ours, peers)}\n\n${formatFooter(startedAt, peers)}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
