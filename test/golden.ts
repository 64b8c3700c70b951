/**
 * The golden traces guard: each seeded suite compares every run's golden line (seed,
 * digest of every message on the simulated wire, digest of the histories; see
 * `src/sim/golden.ts`) with `test/golden/<suite>.txt`. A refactoring reproduces them
 * byte for byte. A deliberate protocol change rewrites them in a commit of its own,
 * with the reason in its message:
 *
 *     COHORT_REWRITE=1 npm test      (then review `git diff test/golden`)
 *
 * `COHORT_SEED=S` compares just that seed; `COHORT_SEED_COUNT=N` the first N seeds of
 * each suite (a quick check while refactoring); runs with other fault kinds than CI's
 * (`COHORT_SWARM_KINDS`) are not compared.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const goldenDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'golden');

/** The seeds a suite of `count` seeds from `from` runs, as the environment narrows it. */
export function suiteSeeds(from: number, count: number): number[] {
  const only = process.env.COHORT_SEED;
  if (only !== undefined) return [Number(only)];
  const cap = process.env.COHORT_SEED_COUNT;
  const n = cap === undefined ? count : Math.min(count, Number(cap));
  return Array.from({ length: n }, (_, i) => from + i);
}

/**
 * Compare the golden lines of one suite's runs with its file, or rewrite the file
 * under `COHORT_REWRITE=1` (only when the whole suite ran). Returns what differs,
 * one readable line per seed; empty when everything matched.
 */
export function compareGolden(suite: string, lines: readonly string[], complete: boolean): string[] {
  const file = join(goldenDir, `${suite}.txt`);
  if (process.env.COHORT_REWRITE === '1') {
    if (!complete) return [`COHORT_REWRITE=1 rewrites ${suite}.txt only when the whole suite runs (unset COHORT_SEED and COHORT_SEED_COUNT)`];
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(file, `${lines.join('\n')}\n`);
    return [];
  }
  if (!existsSync(file)) return [`no golden file test/golden/${suite}.txt: write it with COHORT_REWRITE=1 npm test`];
  const want = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line !== '') want.set(line.slice(0, line.indexOf(' ')), line);
  }
  const diffs: string[] = [];
  for (const line of lines) {
    const seed = line.slice(0, line.indexOf(' '));
    const expected = want.get(seed);
    if (expected !== line) diffs.push(`seed ${seed}: got ${line.slice(seed.length + 1)}, golden ${expected === undefined ? 'none' : expected.slice(seed.length + 1)}`);
  }
  if (complete && want.size !== lines.length) diffs.push(`${suite}.txt holds ${want.size} seeds, the suite ran ${lines.length}`);
  return diffs;
}

/** The assertion message for golden differences: the first few, and what to do. */
export function goldenMessage(suite: string, diffs: readonly string[]): string {
  return (
    `${diffs.length} golden trace(s) of ${suite} moved: the wire or the histories differ from test/golden/${suite}.txt.\n` +
    `${diffs.slice(0, 8).join('\n')}\n` +
    'A refactoring must not move them. If this is a deliberate protocol change, rewrite them with ' +
    'COHORT_REWRITE=1 npm test in a commit of its own that says why.'
  );
}
