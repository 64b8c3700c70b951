/**
 * What `bench:matrix` and `bench:scaling` share: one `bench.js` run in fresh processes,
 * and the median of repeated runs.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The median of the finite values; NaN when there are none (failed runs are NaN, never 0). */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** One bench run in its own processes: its JSON line, or null when it failed. */
export function runOnce(args: readonly string[]): Promise<Record<string, number | null> | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, 'bench.js'), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || last === '') return resolve(null);
      try {
        resolve(JSON.parse(last) as Record<string, number | null>);
      } catch {
        resolve(null);
      }
    });
  });
}
