/**
 * The commands that replay one seed, printed by every failing run (the soak, the sweeps
 * and the test suites), so a failure is one copy and paste away from its trace.
 */
import { ALL_FAULT_KINDS } from '../sim/swarm-shape.js';
import type { FaultKind } from '../sim/swarm-shape.js';

/** `npm run sim -- --swarm --seed S`, with `--kinds` when not every kind was on. */
export function swarmReplayCommand(seed: number, kinds?: readonly FaultKind[]): string {
  const all = kinds === undefined || ALL_FAULT_KINDS.every((k) => kinds.includes(k));
  return `npm run sim -- --swarm --seed ${seed}${all ? '' : ` --kinds ${kinds.join(',')}`}`;
}

/** `npm run sim -- --seed S` for a seeded fault scenario. */
export function scenarioReplayCommand(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}
