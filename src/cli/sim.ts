/**
 * `npm run sim -- --seeds N [--from S]` soaks the protocol with N seeded fault
 * scenarios on one core; `npm run sim -- --seed S` replays one with a readable trace.
 * With `--swarm`, the same for the swarm simulation (`runSwarm`: the whole run's shape
 * and fault densities drawn from the seed), optionally limited to some fault kinds with
 * `--kinds a,b,c`. A failing run prints its seed and the violations, and the command
 * exits 1. `npm run sim:soak` runs seed ranges in parallel worker processes.
 */
import { parseArgs } from 'node:util';
import type { Violation } from '../check/history.js';
import { ScenarioProfile, runScenario } from '../sim/scenario.js';
import type { ScenarioProfile as Profile } from '../sim/scenario.js';
import { runSwarm } from '../sim/swarm.js';
import { ALL_FAULT_KINDS, parseFaultKinds } from '../sim/swarm-shape.js';
import type { FaultKind } from '../sim/swarm-shape.js';
import { formatFirstViolations, scenarioReplayCommand, swarmReplayCommand } from './replay.js';

const usage = `usage: npm run sim -- --seeds N [--from S] [--profile mixed|crashes]
       npm run sim -- --seed S [--quiet] [--profile mixed|crashes]
       npm run sim -- --swarm --seeds N [--from S] [--kinds K1,K2,...|all]
       npm run sim -- --swarm --seed S [--quiet] [--kinds K1,K2,...|all]

--swarm runs the swarm simulation: each seed draws 3-16 endpoints, 1-6 groups, windows,
ack delays, sender rates and a density for every fault kind. Fault kinds:
  ${ALL_FAULT_KINDS.join(', ')}
npm run sim:soak -- --seeds N [--from S] [--jobs J] [--kind swarm|scenario] runs seeds in parallel.`;

interface Values {
  seeds?: string;
  from?: string;
  seed?: string;
  quiet?: boolean;
  profile?: string;
  swarm?: boolean;
  kinds?: string;
  help?: boolean;
}

/** Runs the command; resolves with the exit code (2 for a usage error). */
async function main(): Promise<number> {
  const values = simArgs();
  if (values === null) return 2;
  if (values.help === true) {
    console.log(usage);
    return 0;
  }
  try {
    return values.swarm === true ? await swarmCommand(values) : await scenarioCommand(values);
  } catch (err) {
    if (err instanceof UsageProblem) {
      console.error(`sim: ${err.message} (try --help)`);
      return 2;
    }
    console.error(`sim: ${(err as Error).message.split('\n')[0]}`);
    return 2;
  }
}

/** The command line's flags; null (said on standard error) when they do not parse. */
function simArgs(): Values | null {
  try {
    return parseArgs({
      options: {
        seeds: { type: 'string' },
        from: { type: 'string' },
        seed: { type: 'string' },
        profile: { type: 'string' },
        quiet: { type: 'boolean' },
        swarm: { type: 'boolean' },
        kinds: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`sim: ${(err as Error).message.split('\n')[0]} (try --help)`);
    return null;
  }
}

/** `--swarm`: replays one seed (`--seed`) or sweeps a range. */
async function swarmCommand(values: Values): Promise<number> {
  if (values.profile !== undefined) throw new UsageProblem('--profile is for scenarios, not --swarm');
  const kinds = values.kinds === undefined ? undefined : parseFaultKinds(values.kinds);
  return values.seed !== undefined ? await replaySwarm(int('seed', values.seed, 0), kinds, values.quiet === true) : await sweepSwarm(values, kinds);
}

/** Scenarios: replays one seed (`--seed`) or sweeps a range, with an optional profile. */
async function scenarioCommand(values: Values): Promise<number> {
  if (values.kinds !== undefined) throw new UsageProblem('--kinds needs --swarm');
  let profile: Profile | undefined;
  if (values.profile !== undefined) {
    if (values.profile !== ScenarioProfile.mixed && values.profile !== ScenarioProfile.crashes) {
      throw new UsageProblem('--profile must be mixed or crashes');
    }
    profile = values.profile;
  }
  return values.seed !== undefined ? await replayScenario(int('seed', values.seed, 0), profile, values.quiet === true) : await sweepScenarios(values, profile);
}

class UsageProblem extends Error {}

function int(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageProblem(`--${name} must be a non-negative integer`);
  return n;
}

function report(seed: number, violations: readonly Violation[], replay: string): void {
  console.log(`FAILED seed ${seed}; replay: ${replay}\n${formatFirstViolations(violations, 5)}`);
}

async function replaySwarm(seed: number, kinds: FaultKind[] | undefined, quiet: boolean): Promise<number> {
  const r = await runSwarm({ seed, ...(kinds === undefined ? {} : { kinds }), ...(quiet ? {} : { trace: (line: string) => console.log(line) }) });
  const faults = Object.entries(r.faults).map(([k, n]) => `${k}x${n}`).join(' ');
  console.log(
    `${r.description}\nfaults that struck: ${faults || 'none'}\n${r.events} events, ${r.virtualMs} virtual ms, ${r.delivered} deliveries, ` +
      `liveness ${r.livenessChecked ? `judged (converged ${r.convergedAfterMs === null ? 'never' : `${r.convergedAfterMs} ms after healing`})` : 'not judged (no living majority)'}`,
  );
  if (r.violations.length > 0) {
    report(seed, r.violations, swarmReplayCommand(seed, kinds));
    return 1;
  }
  console.log(`ok seed ${seed}`);
  return 0;
}

async function sweepSwarm(values: Values, kinds: FaultKind[] | undefined): Promise<number> {
  const count = int('seeds', values.seeds, 100);
  const from = int('from', values.from, 1);
  const started = performance.now();
  let failed = 0;
  let liveness = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = await runSwarm({ seed, ...(kinds === undefined ? {} : { kinds }) });
    if (r.livenessChecked) liveness += 1;
    if (r.violations.length > 0) {
      failed += 1;
      report(seed, r.violations, swarmReplayCommand(seed, kinds));
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(`swarm runs: ${count} in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} runs/s on one core); liveness judged in ${liveness}`);
  console.log(`${count - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

async function replayScenario(seed: number, profile: Profile | undefined, quiet: boolean): Promise<number> {
  const r = await runScenario({
    seed,
    ...(profile === undefined ? {} : { profile }),
    ...(quiet ? {} : { trace: (line: string) => console.log(line) }),
  });
  console.log(`${r.shape}: ${r.events} events, ${r.virtualMs} virtual ms, ${r.delivered} deliveries`);
  if (r.violations.length > 0) {
    report(seed, r.violations, scenarioReplayCommand(seed));
    return 1;
  }
  console.log(`ok seed ${seed}`);
  return 0;
}

async function sweepScenarios(values: Values, profile: Profile | undefined): Promise<number> {
  const count = int('seeds', values.seeds, 100);
  const from = int('from', values.from, 1);
  const started = performance.now();
  let failed = 0;
  let maxState = 0;
  let liveness = 0;
  const detect: number[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const r = await runScenario({ seed, ...(profile === undefined ? {} : { profile }) });
    maxState = Math.max(maxState, r.maxStateBytes);
    if (r.livenessChecked) liveness += 1;
    if (r.profile === ScenarioProfile.crashes) detect.push(...r.crashToViewMs);
    if (r.violations.length > 0) {
      failed += 1;
      report(seed, r.violations, `${scenarioReplayCommand(seed)} (${r.shape})`);
    }
  }
  const secs = (performance.now() - started) / 1000;
  detect.sort((a, b) => a - b);
  const at = (p: number): number | string => detect[Math.min(detect.length - 1, Math.floor(p * detect.length))] ?? '-';
  console.log(
    `runs: ${count} in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} runs/s on one core); liveness judged in ${liveness}; ` +
      `largest state transferred ${maxState} B; crash-only runs, crash to agreed view (virtual ms, suspicion timeout 1000): ` +
      `median ${at(0.5)}, p99 ${at(0.99)}, max ${detect[detect.length - 1] ?? '-'} over ${detect.length} crashes`,
  );
  console.log(`${count - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
