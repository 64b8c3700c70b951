/**
 * The commands that replay one seed, printed by every failing run (the soak, the sweeps
 * and the test suites), so a failure is one copy and paste away from its trace.
 */
import { formatViolations } from '../check/checker.js';
import type { Violation } from '../check/history.js';
import { ALL_FAULT_KINDS } from '../sim/swarm-shape.js';
import type { FaultKind } from '../sim/swarm-shape.js';

/**
 * The command that runs the simulations as a developer in a checkout of the repository
 * types it (it builds first); an installed package's user types `cohort sim`.
 */
export const NPM_SIM = 'npm run sim --';

/** `npm run sim -- --swarm --seed S` (or `prog --swarm --seed S`), with `--kinds` when not every kind was on. */
export function swarmReplayCommand(seed: number, kinds?: readonly FaultKind[], prog: string = NPM_SIM): string {
  const all = kinds === undefined || ALL_FAULT_KINDS.every((k) => kinds.includes(k));
  return `${prog} --swarm --seed ${seed}${all ? '' : ` --kinds ${kinds.join(',')}`}`;
}

/** `npm run sim -- --seed S` (or `prog --seed S`) for a seeded fault scenario. */
export function scenarioReplayCommand(seed: number, prog: string = NPM_SIM): string {
  return `${prog} --seed ${seed}`;
}

/** The first `count` violations, formatted, under a head that says how many there are in all. */
export function formatFirstViolations(violations: readonly Violation[], count: number): string {
  if (violations.length <= count) return formatViolations(violations);
  const lines = formatViolations(violations.slice(0, count)).split('\n').slice(1);
  return [`${violations.length} violations, the first ${count}:`, ...lines].join('\n');
}
