/**
 * `cohort sim --seeds N [--from S]` soaks the protocol with N seeded fault scenarios on
 * one core; `cohort sim --seed S` replays one with a readable trace. With `--swarm`, the
 * same for the swarm simulation (`runSwarm`: the whole run's shape and fault densities
 * drawn from the seed), optionally limited to some fault kinds with `--kinds a,b,c`. A
 * failing run prints its seed, the command that replays it and the violations, and the
 * command exits 1. In a checkout of the repository, `npm run sim -- ARGS` builds and runs
 * the same (this file run directly); `npm run sim:soak` runs seed ranges in parallel
 * worker threads (`soak.ts`).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Violation } from '../check/history.js';
import { ScenarioProfile, runScenario } from '../sim/scenario.js';
import type { ScenarioProfile as Profile } from '../sim/scenario.js';
import { runSwarm } from '../sim/swarm.js';
import { ALL_FAULT_KINDS, parseFaultKinds } from '../sim/swarm-shape.js';
import type { FaultKind } from '../sim/swarm-shape.js';
import { ExitCode, exitCodeOf, reportError } from './exit.js';
import { NPM_SIM, formatFirstViolations, scenarioReplayCommand, swarmReplayCommand } from './replay.js';
import { UsageError } from './usage.js';

/**
 * The help text, naming the command as it was run: `cohort sim`, or `npm run sim --`
 * in a checkout of the repository.
 */
export function simUsage(prog: string): string {
  return `usage: ${prog} --seeds N [--from S] [--profile mixed|crashes]
       ${prog} --seed S [--quiet] [--profile mixed|crashes]
       ${prog} --swarm --seeds N [--from S] [--kinds K1,K2,...|all]
       ${prog} --swarm --seed S [--quiet] [--kinds K1,K2,...|all]

  Seeded fault simulations on the deterministic simulator (one core). --seeds N runs
  seeds S .. S+N-1 (default 1 .. 100) and prints each failing seed with the command that
  replays it; --seed S replays one seed with a readable trace (--quiet: the summary only).
  Exit code 0 when every run kept the guarantees, 1 when one did not, 2 for bad flags.

  --profile mixed|crashes  force the scenarios' faults: all kinds, or crashes only
                           (default: drawn from the seed, one seed in five crash-only)
  --swarm                  the swarm simulation: each seed draws 3-16 endpoints, 1-6
                           groups, windows, ack delays, sender rates and a density
                           for every fault kind
  --kinds K1,K2,...|all    with --swarm, only these fault kinds:
${wrap(ALL_FAULT_KINDS.join(', '), 27, 88)}

  In a checkout of the repository, npm run sim -- ARGS builds, then runs the same, and
  npm run sim:soak -- --seeds N [--jobs J] runs seeds in parallel worker threads.`;
}

/** `text` in lines of at most `width` characters, each indented by `indent` spaces. */
function wrap(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => `${' '.repeat(indent)}${l}`).join('\n');
}

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

/**
 * Runs `cohort sim` with `argv` (the arguments after `sim`); `prog` names the command in
 * the help and in replay commands. Resolves with the exit code; throws a usage mistake
 * ({@link UsageError}) or a failure for the caller to report.
 */
export async function sim(argv: readonly string[], prog: string): Promise<number> {
  const values: Values = parseArgs({
    args: [...argv],
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
  if (values.help === true) {
    process.stdout.write(`${simUsage(prog)}\n`);
    return ExitCode.ok;
  }
  return values.swarm === true ? await swarmCommand(values, prog) : await scenarioCommand(values, prog);
}

/** `--swarm`: replays one seed (`--seed`) or sweeps a range. */
async function swarmCommand(values: Values, prog: string): Promise<number> {
  if (values.profile !== undefined) throw new UsageError('--profile is for scenarios, not --swarm');
  const kinds = values.kinds === undefined ? undefined : faultKinds(values.kinds);
  return values.seed !== undefined ? await replaySwarm(int('seed', values.seed, 0), kinds, values.quiet === true, prog) : await sweepSwarm(values, kinds, prog);
}

/** Scenarios: replays one seed (`--seed`) or sweeps a range, with an optional profile. */
async function scenarioCommand(values: Values, prog: string): Promise<number> {
  if (values.kinds !== undefined) throw new UsageError('--kinds needs --swarm');
  let profile: Profile | undefined;
  if (values.profile !== undefined) {
    if (values.profile !== ScenarioProfile.mixed && values.profile !== ScenarioProfile.crashes) {
      throw new UsageError('--profile must be mixed or crashes');
    }
    profile = values.profile;
  }
  return values.seed !== undefined ? await replayScenario(int('seed', values.seed, 0), profile, values.quiet === true, prog) : await sweepScenarios(values, profile, prog);
}

/** The fault kinds `--kinds` names; a bad list is a usage mistake. */
function faultKinds(list: string): FaultKind[] {
  try {
    return parseFaultKinds(list);
  } catch (err) {
    throw new UsageError(`--kinds: ${(err as Error).message}`);
  }
}

function int(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

function report(seed: number, violations: readonly Violation[], replay: string): void {
  console.log(`FAILED seed ${seed}; replay: ${replay}\n${formatFirstViolations(violations, 5)}`);
}

async function replaySwarm(seed: number, kinds: FaultKind[] | undefined, quiet: boolean, prog: string): Promise<number> {
  const r = await runSwarm({ seed, ...(kinds === undefined ? {} : { kinds }), ...(quiet ? {} : { trace: (line: string) => console.log(line) }) });
  const faults = Object.entries(r.faults).map(([k, n]) => `${k}x${n}`).join(' ');
  console.log(
    `${r.description}\nfaults that struck: ${faults || 'none'}\n${r.events} events, ${r.virtualMs} virtual ms, ${r.delivered} deliveries, ` +
      `liveness ${r.livenessChecked ? `judged (converged ${r.convergedAfterMs === null ? 'never' : `${r.convergedAfterMs} ms after healing`})` : 'not judged (no living majority)'}`,
  );
  if (r.violations.length > 0) {
    report(seed, r.violations, swarmReplayCommand(seed, kinds, prog));
    return ExitCode.failure;
  }
  console.log(`ok seed ${seed}`);
  return ExitCode.ok;
}

async function sweepSwarm(values: Values, kinds: FaultKind[] | undefined, prog: string): Promise<number> {
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
      report(seed, r.violations, swarmReplayCommand(seed, kinds, prog));
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(`swarm runs: ${count} in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} runs/s on one core); liveness judged in ${liveness}`);
  console.log(`${count - failed} passed, ${failed} failed`);
  return failed === 0 ? ExitCode.ok : ExitCode.failure;
}

async function replayScenario(seed: number, profile: Profile | undefined, quiet: boolean, prog: string): Promise<number> {
  const r = await runScenario({
    seed,
    ...(profile === undefined ? {} : { profile }),
    ...(quiet ? {} : { trace: (line: string) => console.log(line) }),
  });
  console.log(`${r.shape}: ${r.events} events, ${r.virtualMs} virtual ms, ${r.delivered} deliveries`);
  if (r.violations.length > 0) {
    report(seed, r.violations, scenarioReplayCommand(seed, prog));
    return ExitCode.failure;
  }
  console.log(`ok seed ${seed}`);
  return ExitCode.ok;
}

async function sweepScenarios(values: Values, profile: Profile | undefined, prog: string): Promise<number> {
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
      report(seed, r.violations, `${scenarioReplayCommand(seed, prog)} (${r.shape})`);
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
  return failed === 0 ? ExitCode.ok : ExitCode.failure;
}

/** True when this file is the program node runs (`npm run sim`), not a module `cohort sim` imported. */
function isProgram(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  // `npm run sim -- ARGS`: the same command, named as the npm script.
  const prog = NPM_SIM;
  try {
    process.exitCode = await sim(process.argv.slice(2), prog);
  } catch (err) {
    reportError('sim', err, false, `${prog} --help`);
    process.exitCode = exitCodeOf(err);
  }
}
