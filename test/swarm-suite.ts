/**
 * The swarm suite, shared by the `swarm-suite-*.test.ts` files (split so that node's
 * test runner spreads them over the cores). Goal: thousands of differently shaped runs
 * (endpoints, groups, windows, state sizes, fault densities, all drawn from each seed by
 * `runSwarm`) break no guarantee. Method: each seed runs a safety phase under faults and
 * a liveness phase on the healed network; the checker judges every member's history on
 * G1-G11 and the run's own convergence check judges liveness. A failure prints its seed
 * and the command that replays it with a readable trace.
 *
 * `COHORT_SEED=S npm test` runs just that seed in every suite file;
 * `COHORT_SWARM_KINDS=all npm test` (or a comma-separated list) runs other fault kinds
 * than {@link CI_FAULT_KINDS}.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFirstViolations, swarmReplayCommand } from '../src/cli/replay.js';
import { runSwarm } from '../src/sim/swarm.js';
import { ALL_FAULT_KINDS, FaultKind, parseFaultKinds } from '../src/sim/swarm-shape.js';
import { compareGolden, goldenMessage, suiteSeeds } from './golden.js';

/**
 * Which fault kinds CI runs: `true`, or why the kind is off (the protocol bug it still
 * hits, with a seed that shows it). Switch a kind on here as its fix lands; every kind
 * must be listed, so a new kind cannot be forgotten.
 */
export const CI_FAULT_KIND_STATUS: Readonly<Record<FaultKind, true | string>> = {
  [FaultKind.crash]: true,
  [FaultKind.crashCoordinator]: true,
  [FaultKind.crashDuringTransfer]: true,
  [FaultKind.crashDuringViewChange]: true,
  [FaultKind.pauseShort]: true,
  [FaultKind.pauseLong]: true,
  [FaultKind.partition2]: true,
  [FaultKind.partition3]: true,
  [FaultKind.oneWayCut]: true,
  [FaultKind.nonTransitiveCut]: true,
  [FaultKind.flapping]: true,
  [FaultKind.lossBurst]: true,
  [FaultKind.joinBurst]: true,
  [FaultKind.groupJoin]: true,
  [FaultKind.leave]: true,
  [FaultKind.leaveDuringFlush]: true,
  [FaultKind.stop]: true,
  [FaultKind.stopAll]: true,
  [FaultKind.crashMajority]: true,
  [FaultKind.restart]: true,
  [FaultKind.slowConsumer]: true,
};

/** The fault kinds the CI suite runs (see {@link CI_FAULT_KIND_STATUS}). */
export const CI_FAULT_KINDS: readonly FaultKind[] = ALL_FAULT_KINDS.filter((k) => CI_FAULT_KIND_STATUS[k] === true);

function kindsFromEnv(): readonly FaultKind[] {
  const env = process.env.COHORT_SWARM_KINDS;
  return env === undefined || env === '' ? CI_FAULT_KINDS : parseFaultKinds(env);
}

export function swarmSuite(name: string, from: number, count: number): void {
  test(`${name}: ${count} swarm seeds judged on G1-G11`, { timeout: 900_000 }, async (t) => {
    const kinds = kindsFromEnv();
    const seeds = suiteSeeds(from, count);
    const golden: string[] = [];
    const failures: string[] = [];
    const wallMs: number[] = [];
    let events = 0;
    let virtualMs = 0;
    let liveness = 0;
    let maxState = 0;
    const struck = new Map<string, number>();
    for (const seed of seeds) {
      const started = performance.now();
      const r = await runSwarm({ seed, kinds });
      golden.push(r.golden);
      wallMs.push(performance.now() - started);
      events += r.events;
      virtualMs += r.virtualMs;
      if (r.livenessChecked) liveness += 1;
      maxState = Math.max(maxState, r.maxStateBytes);
      for (const [k, n] of Object.entries(r.faults)) struck.set(k, (struck.get(k) ?? 0) + n);
      if (r.violations.length > 0) {
        failures.push(`seed ${seed} FAILED; replay with: ${swarmReplayCommand(seed, kinds)}\n  ${r.description}\n${formatFirstViolations(r.violations, 5)}`);
      }
    }
    wallMs.sort((a, b) => a - b);
    const pct = (p: number): string => (wallMs[Math.min(wallMs.length - 1, Math.floor(p * wallMs.length))] ?? NaN).toFixed(0);
    const secs = wallMs.reduce((s, x) => s + x, 0) / 1000;
    const off = ALL_FAULT_KINDS.filter((k) => !kinds.includes(k));
    t.diagnostic(
      `${seeds.length} runs in ${secs.toFixed(1)} s (wall ms per seed: median ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)}; ` +
        `${Math.round(events / secs)} events/s, ${(virtualMs / 1000).toFixed(0)} virtual s); liveness judged in ${liveness}; largest state ${maxState} B; ` +
        `faults struck: ${[...struck].map(([k, n]) => `${k} ${n}`).join(', ')}; kinds off: ${off.length === 0 ? 'none' : off.join(', ')}`,
    );
    assert.equal(failures.length, 0, failures.join('\n\n'));
    if (kinds === CI_FAULT_KINDS) {
      const suite = name.replace(/\s+/g, '-');
      const diffs = compareGolden(suite, golden, seeds.length === count);
      assert.equal(diffs.length, 0, goldenMessage(suite, diffs));
    }
  });
}
