/**
 * The simulation suite, shared by the `sim-suite-*.test.ts` files (split so that
 * node's test runner spreads them over the cores): each seed draws a cluster, groups,
 * a workload and a fault schedule, runs it to quiescence and has the checker judge
 * every member's history on G1–G11. A failure prints its seed and how to replay it.
 * `COHORT_SEED=S npm test` runs just that seed in every suite file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatViolations } from '../src/check/checker.js';
import { runScenario } from '../src/sim/scenario.js';
import { compareGolden, goldenMessage, suiteSeeds } from './golden.js';

export function simulationSuite(name: string, from: number, count: number): void {
  test(`${name}: ${count} seeded fault scenarios judged on G1-G11`, { timeout: 900_000 }, async (t) => {
    const seeds = suiteSeeds(from, count);
    const golden: string[] = [];
    const failures: string[] = [];
    const started = performance.now();
    let events = 0;
    let virtualMs = 0;
    let liveness = 0;
    let maxState = 0;
    const detect: number[] = [];
    for (const seed of seeds) {
      const r = await runScenario({ seed });
      golden.push(r.golden);
      events += r.events;
      virtualMs += r.virtualMs;
      if (r.livenessChecked) liveness += 1;
      maxState = Math.max(maxState, r.maxStateBytes);
      detect.push(...r.crashToViewMs);
      if (r.violations.length > 0) {
        failures.push(`seed ${seed} (${r.shape}) FAILED; replay with: npm run sim -- --seed ${seed}\n${formatViolations(r.violations.slice(0, 5))}`);
      }
    }
    const secs = (performance.now() - started) / 1000;
    detect.sort((a, b) => a - b);
    const pct = (p: number): number => detect[Math.min(detect.length - 1, Math.floor(p * detect.length))] ?? NaN;
    t.diagnostic(
      `${seeds.length} runs in ${secs.toFixed(1)} s (${(seeds.length / secs).toFixed(1)} runs/s, ${Math.round(events / secs)} events/s, ` +
        `${(virtualMs / 1000).toFixed(0)} virtual s); liveness judged in ${liveness}; largest state ${maxState} B; ` +
        `crash to agreed view: median ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${detect[detect.length - 1] ?? NaN} ms (virtual)`,
    );
    assert.equal(failures.length, 0, failures.join('\n\n'));
    const suite = name.replace(/\s+/g, '-');
    const diffs = compareGolden(suite, golden, seeds.length === count);
    assert.equal(diffs.length, 0, goldenMessage(suite, diffs));
  });
}
