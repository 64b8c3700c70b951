/**
 * The shape of a seeded scenario: everything about the run that is drawn before the
 * first event, from the scenario's own random stream (like TigerBeetle's
 * `options_swarm`): the fault profile, the simulation's seed, whether the wire goes
 * through the codec, the cluster's size, its groups, the size of the transferred
 * state, the share of safe multicasts and the length of the safety phase.
 *
 * The order of the draws is part of the seed's meaning: the golden traces
 * (`test/golden/`) pin every run, so a draw added, removed or moved here changes every
 * seed. Draws made later (the start, the workload, the faults) come from the same
 * stream, after these.
 */
import type { SeededRng } from './rng.js';

/** What kind of faults a scenario draws. */
export const ScenarioProfile = {
  /** Everything: crashes, pauses, partitions, loss, joins, leaves. */
  mixed: 'mixed',
  /** Only crashes on a clean network, so that detection time (G8) can be bounded. */
  crashes: 'crashes',
} as const;
/** One of {@link ScenarioProfile}'s values. */
export type ScenarioProfile = (typeof ScenarioProfile)[keyof typeof ScenarioProfile];

/** The endpoints' suspicion timeout in every scenario, ms. */
export const SCENARIO_SUSPECT_TIMEOUT_MS = 1000;
/**
 * How long after `crash + suspectTimeoutMs` the survivors must have agreed on a view
 * without the crashed member, ms (G8, judged in crash-only runs).
 */
export const SCENARIO_DETECT_BOUND_MS = 1500;
/** The liveness phase: how long the healed run goes on after the safety phase, ms. */
export const SCENARIO_SETTLE_MS = 20_000;

/** A scenario's shape, as drawn from its seed by {@link drawScenarioShape}. */
export interface ScenarioShape {
  /** The fault profile. */
  readonly profile: ScenarioProfile;
  /** The seed of the simulation (network and scheduler), drawn from the scenario's stream. */
  readonly simSeed: number;
  /** Whether messages cross the simulated wire encoded (through the codec). */
  readonly codec: boolean;
  /** The endpoints started together: `n1` … `n<n>` (3–7). */
  readonly ids: readonly string[];
  /** The groups `g0` … (1–3). */
  readonly groups: readonly string[];
  /** Padding bytes of every checkpoint (some states of several MiB). */
  readonly stateBytes: number;
  /** The chance that a multicast is safe (0 or 0.3). */
  readonly safeShare: number;
  /** Length of the safety phase, ms; the liveness phase starts there. */
  readonly faultPhaseMs: number;
  /** One line describing the shape, for traces and results. */
  readonly description: string;
}

/**
 * Draws a scenario's shape from the start of its random stream, in the historical
 * order of draws (see the module comment).
 *
 * @param rng the scenario's stream, fresh from its seed.
 * @param seed the seed, for the description only.
 * @param profile a forced profile; when absent, one seed in five is crash-only (a draw).
 */
export function drawScenarioShape(rng: SeededRng, seed: number, profile?: ScenarioProfile): ScenarioShape {
  const drawnProfile: ScenarioProfile = profile ?? (rng.below(5) === 0 ? ScenarioProfile.crashes : ScenarioProfile.mixed);
  const simSeed = rng.nextU32();
  const codec = rng.below(4) !== 0;
  const n = rng.between(3, 7);
  const groupCount = rng.between(1, 3);
  const groups = Array.from({ length: groupCount }, (_, i) => `g${i}`);
  const stateBytes = rng.below(6) === 0 ? rng.between(100_000, 3_000_000) : rng.below(2_000);
  const safeShare = rng.below(3) === 0 ? 0.3 : 0;
  const faultPhaseMs = rng.between(4_000, 10_000);
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const description = `seed=${seed} profile=${drawnProfile} n=${n} groups=${groupCount} state=${stateBytes}B safe=${safeShare} faults=${faultPhaseMs}ms`;
  return { profile: drawnProfile, simSeed, codec, ids, groups, stateBytes, safeShare, faultPhaseMs, description };
}
