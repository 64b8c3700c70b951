/**
 * `cohort-vsync/sim`: the deterministic simulator, as a product. Run your own `onEvent` and
 * `checkpoint` code on simulated endpoints under a seeded fault schedule (crashes,
 * pauses, partitions, loss, duplication, reordering) on a virtual clock, and assert on
 * your replicas. `runScenario` is the attack the project's own suite runs thousands
 * of times, and `runSwarm` the VOPR-style swarm that draws the whole run (cluster
 * shape, windows, fault densities) from one seed; their histories go to `cohort-vsync/check`.
 *
 * @module cohort-vsync/sim
 * @example
 * ```ts
 * import { Simulation } from 'cohort-vsync/sim';
 * const sim = new Simulation({ seed: 1 });
 * const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
 * const g = await sim.run(a.join('g', { onEvent: (e) => console.log(e.type) }));
 * sim.crash('c');
 * await sim.runFor(3000);
 * ```
 */
export { Simulation } from './simulation.js';
export type { SimEndpointOptions, SimulationOptions } from './simulation.js';
export { runScenario, ScenarioProfile } from './scenario.js';
export type { ScenarioOptions, ScenarioResult } from './scenario.js';
export { runSwarm } from './swarm.js';
export type { SwarmOptions, SwarmResult } from './swarm.js';
export { FaultKind, ALL_FAULT_KINDS, parseFaultKinds, drawShape, describeShape } from './swarm-shape.js';
export type { SwarmShape, ScheduledFaultKind } from './swarm-shape.js';
export type { SwarmCluster } from './swarm-cluster.js';
export type { DurabilityReport, SwarmDisks } from './swarm-disks.js';
export { SimNetwork, DEFAULT_FAULTS } from './network.js';
export type { NetworkFaults, NetworkStats, SimNode, SimNetworkOptions, SimCodec, DropReason } from './network.js';
export { Scheduler, NodeClock, EventLimitError } from './scheduler.js';
export type { SchedulerOptions, RunOptions, AsyncRunOptions, EventHandle, GateOutcome } from './scheduler.js';
export { SeededRng } from './rng.js';
