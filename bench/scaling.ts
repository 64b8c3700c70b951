/**
 * `npm run bench:scaling`: how throughput changes with the number of members and of
 * groups on the same endpoints, as one markdown table (rows: members; columns: groups).
 *
 * Every cell is the median of `--reps` runs of `bench.js` in fresh processes, every
 * member sending (`--senders all`) or one (`--senders 1`). Each run's JSON line goes to
 * standard error as it arrives; a failed run counts as missing, never as zero.
 */
import { parseArgs } from 'node:util';
import { median, runOnce } from './runs.js';

const usage = `usage: npm run bench:scaling -- [options]

Cohort's throughput by members and groups, as a markdown table of medians.

options:
  --members LIST    member counts, comma-separated (default 3,5,7)
  --groups LIST     groups every member joins, comma-separated (default 1,10,100)
  --size B          payload bytes (default 1024)
  --senders W       all | 1 (default all)
  --seconds S       measured window per run (default 5)
  --reps N          runs per cell, median reported (default 1)
  -h, --help        print this text`;

/** One bench run: its msgs/s, or NaN when it failed; its JSON line goes to standard error. */
async function rate(args: readonly string[]): Promise<number> {
  const j = await runOnce(args);
  process.stderr.write(`${args.join(' ')}: ${j === null ? 'FAILED' : JSON.stringify(j)}\n`);
  return j?.msgs_per_s ?? NaN;
}

function list(name: string, v: string | undefined, fallback: string): number[] {
  return (v ?? fallback).split(',').map((s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must list positive integers, got ${v}`);
    return n;
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let members: number[], groups: number[], size: number, seconds: number, reps: number, senders: string;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        members: { type: 'string' },
        groups: { type: 'string' },
        size: { type: 'string' },
        senders: { type: 'string' },
        seconds: { type: 'string' },
        reps: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    members = list('members', values.members, '3,5,7');
    groups = list('groups', values.groups, '1,10,100');
    [size] = list('size', values.size, '1024') as [number];
    [seconds] = list('seconds', values.seconds, '5') as [number];
    [reps] = list('reps', values.reps, '1') as [number];
    senders = values.senders ?? 'all';
    if (senders !== 'all' && senders !== '1') throw new Error(`--senders must be all or 1, got ${senders}`);
  } catch (e) {
    process.stderr.write(`bench:scaling: ${(e as Error).message}\n`);
    return 2;
  }
  const head = ['members \\ groups', ...groups.map((g) => `${g} group${g > 1 ? 's' : ''}`)];
  const lines = [
    `${senders === 'all' ? 'every member sends' : 'one member sends'}, ${size} B; messages delivered per member per second (median of ${reps})`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
  ];
  for (const m of members) {
    const cells = [String(m)];
    for (const g of groups) {
      const runs: number[] = [];
      for (let r = 0; r < reps; r++) {
        runs.push(await rate(['--members', String(m), '--senders', senders === 'all' ? String(m) : '1', '--groups', String(g), '--size', String(size), '--seconds', String(seconds)]));
      }
      const x = median(runs);
      cells.push(Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
