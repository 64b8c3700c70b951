/**
 * Temporary folders for tests. Each folder `tempDir` makes is removed when the test
 * process exits, whether its tests passed or failed (the `exit` hook runs after every
 * `after` hook, so member processes writing into it are already gone); a test may
 * remove one sooner with `removeTempDir`. `scripts/run-tests.js` points TMPDIR at a
 * private folder and fails the run if anything is left in it.
 *
 * `COHORT_KEEP_TEMP=1` keeps the folders (and prints where they are), to read member
 * outputs after a failure.
 *
 * SIGINT, SIGTERM and SIGHUP become an exit, so an interrupted run cleans up too.
 *
 * A plain `process.on('exit')` rather than node:test's `after`: `test/netns.js` is also
 * loaded by the ATC launcher (`--netns`), which is not a test process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when COHORT_KEEP_TEMP asks to keep the tests' temporary folders. */
export const keepTemp = (process.env.COHORT_KEEP_TEMP ?? '') !== '' && process.env.COHORT_KEEP_TEMP !== '0';

const live = new Set<string>();
let hooked = false;

/** A fresh folder `TMPDIR/PREFIXxxxxxx`, removed at the latest when this process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  live.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of [...live]) removeTempDir(d);
    });
    exitOnSignals();
  }
  return dir;
}

let signalsHooked = false;

/**
 * Ctrl-C (or the runner's SIGTERM) would end the process without its `exit` hooks (this
 * file's, and the network lab's in test/netns.ts): turn SIGINT, SIGTERM and SIGHUP into
 * an exit with the shell's status for that signal. Idempotent.
 */
export function exitOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const [sig, no] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const) {
    process.once(sig, () => process.exit(128 + no));
  }
}

/** Remove `dir` now (kept, with its path printed, under COHORT_KEEP_TEMP). */
export function removeTempDir(dir: string): void {
  live.delete(dir);
  if (keepTemp) {
    console.log(`# COHORT_KEEP_TEMP: kept ${dir}`);
    return;
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
