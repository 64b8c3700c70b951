/**
 * The swarm simulation, as TigerBeetle's VOPR does it: one seed draws the whole run —
 * the cluster's shape (3–9 endpoints, up to 16 in one seed in twenty; 1–6 overlapping
 * groups; states up to a few MB; flow-control windows from one entry to the defaults;
 * ack delays; sender rates) and, for every kind of fault, a density — then runs it in
 * two phases and judges it.
 *
 * - *Safety phase.* Faults strike at the drawn times: crashes and restarts (same id,
 *   same seeds), of the coordinator too, during state transfers and during view
 *   changes; short and long pauses; 2- and 3-way partitions, one-way and
 *   non-transitive link cuts, flapping partitions; loss bursts up to 40%; join bursts
 *   and group joins; group leaves, also during a flush; single graceful stops and
 *   everyone stopping at once (then all start again together). Whatever happens,
 *   nothing may break G1–G6 and G8–G11.
 * - *Liveness phase.* Everything heals and resumes; senders stop half a second later.
 *   If a living majority remains (or a new network can be founded), every live member
 *   must converge: one network view of exactly the live endpoints, one view per group
 *   of exactly the members that want it, the same digest at the same position, and
 *   its own multicasts delivered (G7). The phase ends as soon as that holds (twice,
 *   250 ms apart), or after `livenessMaxMs`, which is a violation — unless members
 *   are still delivering (a backlog that outgrew a tiny window during the faults
 *   drains), which may go on up to four times as long.
 *
 * Histories are recorded as `runScenario` records them and judged by
 * `checkHistories`; the run's verdict lists every violation, the assertion that
 * crashed the run if any, and the liveness failure in words.
 *
 * @example
 * ```ts
 * import { runSwarm } from 'cohort-vsync/sim';
 * const r = await runSwarm({ seed: 42 });
 * if (r.violations.length > 0) console.log(r.description, r.violations);
 * ```
 */
import { checkHistories } from '../check/checker.js';
import type { MemberHistory, Violation } from '../check/history.js';
import { goldenLine } from './golden.js';
import { SeededRng } from './rng.js';
import { finalStateCheck } from './scenario.js';
import { Simulation } from './simulation.js';
import { SwarmCluster, ZERO_DIGEST } from './swarm-cluster.js';
import { CLEAN_NETWORK, FAULTS } from './swarm-faults.js';
import { ALL_FAULT_KINDS, describeShape, drawSchedule, drawShape } from './swarm-shape.js';
import type { FaultKind, SwarmShape } from './swarm-shape.js';

/** Options of {@link runSwarm}. */
export interface SwarmOptions {
  /** Everything in the run is drawn from this. */
  readonly seed: number;
  /** The fault kinds that may strike (the others get density 0). @default every kind */
  readonly kinds?: readonly FaultKind[];
  /** Receives a readable trace: the shape, every fault, network events and endpoint logs. */
  readonly trace?: (line: string) => void;
  /** Longest liveness phase before the run counts as not converging, virtual ms (up to four times as long while members still deliver). @default 30,000 */
  readonly livenessMaxMs?: number;
  /** Called with the cluster at the end of the run (for debugging). */
  readonly inspect?: (cluster: SwarmCluster) => void;
  /**
   * Durable endpoints (option `persist`) on simulated disks, each multicast at
   * `durable: 'majority'`: a crash is a power cut for the disk too, and every tenth
   * multicast is checked, the moment it resolves, to be in the worst-crash image of a
   * majority of its view's disks (a violation `durability` otherwise). @default false
   */
  readonly durable?: boolean;
}

/** The outcome of {@link runSwarm}. */
export interface SwarmResult {
  /** The seed the run was drawn from. */
  readonly seed: number;
  /** The drawn shape. */
  readonly shape: SwarmShape;
  /** One line describing the shape. */
  readonly description: string;
  /** What was broken; empty when every guarantee held. */
  readonly violations: readonly Violation[];
  /** One history per member incarnation, as judged. */
  readonly histories: readonly MemberHistory[];
  /** Faults that struck, per kind (a scheduled fault that found nothing to do is not counted). */
  readonly faults: Readonly<Partial<Record<FaultKind, number>>>;
  /** Virtual time the run lasted, ms. */
  readonly virtualMs: number;
  /** Scheduler events executed. */
  readonly events: number;
  /** Messages delivered, summed over all members. */
  readonly delivered: number;
  /** Largest state a joiner received, bytes. */
  readonly maxStateBytes: number;
  /** False when the run ended without a living majority (nor a network to found), so liveness was not judged. */
  readonly livenessChecked: boolean;
  /** Virtual ms from healing until everything had converged; null if it never did. */
  readonly convergedAfterMs: number | null;
  /** The run's golden line: seed, wire digest, history digest (see `sim/golden.ts`). */
  readonly golden: string;
  /** Durable runs: multicasts checked on the disks (0 otherwise). */
  readonly durableChecked: number;
}

/** Events one 20 ms slice of virtual time may run before the run counts as a runaway. */
const SLICE_EVENTS_MAX = 400_000;
/** Events one whole run may run. */
const RUN_EVENTS_MAX = 20_000_000;
const SLICE_MS = 20;

/** Run one seeded swarm to the end and judge it. Never throws for a protocol failure. */
export async function runSwarm(opts: SwarmOptions): Promise<SwarmResult> {
  const root = new SeededRng(opts.seed);
  const shapeRng = root.fork();
  const scheduleRng = root.fork();
  const runRng = root.fork();
  const simSeed = root.nextU32();
  const enabled = new Set(opts.kinds ?? ALL_FAULT_KINDS);
  const shape = drawShape(shapeRng, enabled);
  const description = `seed=${opts.seed} ${describeShape(shape)}`;
  const trace = opts.trace;
  trace?.(`SWARM ${description}`);
  const sim = new Simulation({
    seed: simSeed,
    // The application model joins its groups again itself after an exclusion (see
    // `SwarmCluster`), recording each incarnation's history apart.
    endpoint: { ...shape.endpoint, rejoin: false },
    codec: shape.codec,
    digestWire: true,
    ...(trace === undefined ? {} : { trace }),
  });
  const c = new SwarmCluster({ sim, rng: runRng, shape, trace, durable: opts.durable === true });
  const faults: Partial<Record<FaultKind, number>> = {};
  for (const f of drawSchedule(scheduleRng, shape)) {
    sim.scheduler.at(f.at, () => {
      const what = FAULTS[f.kind](c);
      if (what === null) return;
      faults[f.kind] = (faults[f.kind] ?? 0) + 1;
      c.note(`FAULT ${f.kind}: ${what}`);
    });
  }
  c.startAll();

  let error: string | null = null;
  let convergedAfterMs: number | null = null;
  let lastReason: string | null = null;
  try {
    await advanceTo(c, shape.faultPhaseMs);
    const healedAt = heal(c);
    await advanceTo(c, healedAt + 500);
    c.stopWorkload = true;
    ({ convergedAfterMs, lastReason } = await settle(c, healedAt, opts.livenessMaxMs ?? 30_000));
  } catch (err) {
    error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  }
  opts.inspect?.(c);
  return judge({ opts, shape, description, c, faults, error, convergedAfterMs, lastReason });
}

/** End every fault: heal partitions and cuts, clean the network, resume the paused. */
function heal(c: SwarmCluster): number {
  c.faultsOver = true;
  c.sim.heal();
  c.sim.configure(CLEAN_NETWORK);
  c.partitionGeneration++;
  c.lossGeneration++;
  c.resumeAll();
  c.note('LIVENESS PHASE: healed, all resumed');
  return c.sim.now;
}

/** How long without a delivery ends a liveness phase that ran past `livenessMaxMs`, virtual ms. */
const DRAIN_QUIET_MS = 2_000;

/**
 * After a restart from the logs, an application joins the groups its endpoint
 * restores (every other member's join of them waits for that), even one it had
 * decided to leave: the leave may not have been ordered before the failure.
 */
function adoptRestores(c: SwarmCluster): void {
  for (const id of c.liveIds()) {
    const ep = c.sim.endpoint(id);
    const want = c.wants.get(id);
    for (const g of ep.restoring) {
      if (want === undefined || (want.has(g) && ep.group(g) !== undefined)) continue;
      want.add(g);
      c.decide(id, g);
      if (ep.group(g) === undefined) c.joinGroup(ep, g);
    }
  }
}

/**
 * Run until everything converged (seen twice, 250 ms apart), or the run cannot recover
 * (no living majority: 3 s are enough to see that), or `livenessMaxMs` passed with no
 * delivery in the last `DRAIN_QUIET_MS` (or four times `livenessMaxMs` passed).
 */
async function settle(c: SwarmCluster, healedAt: number, livenessMaxMs: number): Promise<{ convergedAfterMs: number | null; lastReason: string | null }> {
  let convergedSince: number | null = null;
  let lastReason: string | null = null;
  let deliveredBefore = c.delivered;
  let progressAt = c.sim.now;
  for (;;) {
    adoptRestores(c);
    const reason = c.convergence();
    if (reason === null) {
      convergedSince ??= c.sim.now;
      if (c.sim.now - convergedSince >= 250) return { convergedAfterMs: convergedSince - healedAt, lastReason: null };
    } else {
      convergedSince = null;
      lastReason = reason;
    }
    const elapsed = c.sim.now - healedAt;
    if (c.delivered > deliveredBefore) {
      deliveredBefore = c.delivered;
      progressAt = c.sim.now;
    }
    // A backlog still draining (the senders' queues outgrew a tiny window during the
    // faults) is progress, not a stall: it gets up to four times as long.
    if (elapsed >= livenessMaxMs && (c.sim.now - progressAt >= DRAIN_QUIET_MS || elapsed >= livenessMaxMs * 4)) break;
    if (elapsed >= 3_000 && !c.recoverable() && c.pendingActions === 0) break;
    await advanceTo(c, c.sim.now + 250);
  }
  return { convergedAfterMs: null, lastReason };
}

/**
 * Advance virtual time to `target` in slices, letting promise work (the endpoints'
 * async API, the application's `.then`s) settle right after every event that called
 * into an endpoint, and at the end of every slice.
 */
async function advanceTo(c: SwarmCluster, target: number): Promise<void> {
  const scheduler = c.sim.scheduler;
  const pending = (): boolean => {
    const dirty = c.dirty;
    c.dirty = false;
    return dirty;
  };
  while (scheduler.now < target) {
    await scheduler.runUntilAsync(Math.min(target, scheduler.now + SLICE_MS), { maxEvents: SLICE_EVENTS_MAX, pending });
    await new Promise<void>((r) => setImmediate(r));
    if (scheduler.eventsRun > RUN_EVENTS_MAX) throw new Error(`runaway run: more than ${RUN_EVENTS_MAX} events by t=${scheduler.now} ms`);
  }
}

interface JudgeInput {
  readonly opts: SwarmOptions;
  readonly shape: SwarmShape;
  readonly description: string;
  readonly c: SwarmCluster;
  readonly faults: Partial<Record<FaultKind, number>>;
  readonly error: string | null;
  readonly convergedAfterMs: number | null;
  readonly lastReason: string | null;
}

/** Judge the histories; liveness only when the run could recover. */
function judge(x: JudgeInput): SwarmResult {
  const { c } = x;
  const histories = c.histories();
  const livenessChecked = x.error === null && (x.convergedAfterMs !== null || c.recoverable());
  const violations: Violation[] = [];
  if (x.error !== null) violations.push({ guarantee: 'crash', message: `the run threw: ${x.error}` });
  violations.push(...checkHistories(histories, { quiescent: livenessChecked, initialDigest: ZERO_DIGEST }));
  for (const p of x.c.disks?.report.problems ?? []) violations.push({ guarantee: 'durability', message: p });
  if (livenessChecked) {
    violations.push(...finalStateCheck(histories));
    if (x.convergedAfterMs === null) {
      violations.push({
        guarantee: 'G7',
        message: `not converged ${c.sim.now - x.shape.faultPhaseMs} ms after healing, with a living majority: ${x.lastReason ?? 'unknown'}`,
      });
    }
  }
  return {
    seed: x.opts.seed,
    shape: x.shape,
    description: x.description,
    violations,
    durableChecked: x.c.disks?.report.checked ?? 0,
    histories,
    faults: x.faults,
    virtualMs: c.sim.now,
    events: c.sim.scheduler.eventsRun,
    delivered: c.delivered,
    maxStateBytes: c.maxStateBytes,
    livenessChecked,
    convergedAfterMs: x.convergedAfterMs,
    golden: goldenLine(x.opts.seed, c.sim.wireDigest() ?? '', histories),
  };
}
