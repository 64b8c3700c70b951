/**
 * Seeded fault scenarios: the attack that the simulation suite runs thousands of
 * times. From one seed it draws a cluster (3–7 endpoints started together, each
 * seeded with all the others), 1–3 overlapping groups, a workload of concurrent
 * multicasts (some safe), and a schedule of faults: crashes, restarts as new
 * incarnations, pauses longer than the suspicion timeout, majority/minority and even
 * partitions, loss, duplication and reordering bursts, new joiners with state
 * transfer (some states of several MiB), group leaves and graceful endpoint stops.
 *
 * A *safety phase* of faults is followed by a *liveness phase* on a healed network:
 * then every live member must have converged to one view per group and delivered
 * everything live senders sent. Every member's application keeps the `cohort member`
 * state (a running SHA-256 digest of the stream); the checker judges the histories on
 * G1–G11, and a final check compares the live members' digests.
 *
 * The run is in parts: `scenario-shape.ts` draws the shape from the seed,
 * `scenario-app.ts` is the digest application and its recorder, `scenario-faults.ts`
 * the cluster and the fault schedule; this file holds the API, the two phases and the
 * verdict.
 */
import { checkHistories } from '../check/checker.js';
import { INITIAL_DIGEST } from '../check/digest.js';
import type { MemberHistory, Violation } from '../check/history.js';
import { goldenLine } from './golden.js';
import { SeededRng } from './rng.js';
import { ScenarioApp } from './scenario-app.js';
import { ScenarioCluster, type ScenarioCrash } from './scenario-faults.js';
import {
  drawScenarioShape,
  SCENARIO_DETECT_BOUND_MS,
  SCENARIO_SETTLE_MS,
  SCENARIO_SUSPECT_TIMEOUT_MS,
  ScenarioProfile,
} from './scenario-shape.js';
import { Simulation } from './simulation.js';

export { ScenarioProfile } from './scenario-shape.js';

/** Options of {@link runScenario}. */
export interface ScenarioOptions {
  /** Everything in the run (cluster shape, workload, faults) is drawn from this. */
  readonly seed: number;
  /** @default mixed (crash-only for one seed in five) */
  readonly profile?: ScenarioProfile;
  /** Receives a readable trace of the run (network events, endpoint logs, faults). */
  readonly trace?: (line: string) => void;
  /** Called with the simulation at the end of the run (for debugging). */
  readonly inspect?: (sim: Simulation) => void;
}

/** The outcome of {@link runScenario}: the verdict, and what the run recorded. */
export interface ScenarioResult {
  /** The seed the run was drawn from. */
  readonly seed: number;
  /** The profile the run used. */
  readonly profile: ScenarioProfile;
  /** One line describing the drawn cluster and faults. */
  readonly shape: string;
  /** What the checker found; empty when every guarantee held. */
  readonly violations: readonly Violation[];
  /** One history per member incarnation, as judged by the checker. */
  readonly histories: readonly MemberHistory[];
  /** Virtual time the run lasted, ms. */
  readonly virtualMs: number;
  /** Scheduler events executed. */
  readonly events: number;
  /** Messages delivered, summed over all members. */
  readonly delivered: number;
  /** Largest state transferred to a joiner in this run, bytes. */
  readonly maxStateBytes: number;
  /** For each crash: virtual ms until the last surviving group member installed the view without it. */
  readonly crashToViewMs: readonly number[];
  /** False when the run ended without a live majority, so liveness was not judged. */
  readonly livenessChecked: boolean;
  /** The run's golden line: seed, wire digest, history digest (see `sim/golden.ts`). */
  readonly golden: string;
}

/** Run one seeded scenario to the end and judge it. Never throws for a protocol failure. */
export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const rng = new SeededRng(opts.seed);
  const shape = drawScenarioShape(rng, opts.seed, opts.profile);
  const { profile, faultPhaseMs } = shape;
  const sim = new Simulation({
    seed: shape.simSeed,
    // The application model joins its groups again itself after an exclusion, recording
    // each incarnation's history apart (the checker judges incarnations one by one).
    endpoint: { suspectTimeoutMs: SCENARIO_SUSPECT_TIMEOUT_MS, rejoin: false },
    digestWire: true,
    ...(opts.trace === undefined ? {} : { trace: opts.trace }),
    codec: shape.codec,
  });
  opts.trace?.(`SCENARIO ${shape.description}`);
  const app = new ScenarioApp(sim, rng, shape);
  const cluster = new ScenarioCluster(sim, rng, shape, app);

  // ---- the safety phase: the cluster, started together, and the fault schedule
  cluster.start();
  cluster.scheduleFaults();

  // ---- the liveness phase: everything heals; the workload stops a little later
  sim.scheduler.at(faultPhaseMs, () => cluster.healAll());
  sim.scheduler.at(faultPhaseMs + 1_000, () => {
    app.stopWorkload = true;
  });
  const error = await runUntil(sim, faultPhaseMs + SCENARIO_SETTLE_MS);

  opts.inspect?.(sim);
  const histories: MemberHistory[] = app.recorders.map((r) => ({
    member: r.member,
    events: r.events,
    end: r.end === 'up' && app.stopped.has(r.member.slice(0, r.member.indexOf('#'))) ? 'stopped' : r.end,
    ...(r.crashedAt === undefined ? {} : { crashedAt: r.crashedAt }),
  }));
  // A run may still legitimately end without a quorum (crashes during partitions): then
  // only safety is judged, and the result says so.
  const recoverable = cluster.recoverable();
  const violations: Violation[] = [];
  if (error !== null) violations.push({ guarantee: 'crash', message: `the run threw: ${error}` });
  violations.push(
    ...checkHistories(histories, {
      quiescent: error === null && recoverable,
      initialDigest: INITIAL_DIGEST,
      ...(profile === ScenarioProfile.crashes
        ? { suspectTimeoutMs: SCENARIO_SUSPECT_TIMEOUT_MS, detectBoundMs: SCENARIO_DETECT_BOUND_MS }
        : {}),
    }),
  );
  if (error === null && recoverable) violations.push(...finalStateCheck(histories));
  return {
    seed: opts.seed,
    profile,
    shape: shape.description,
    violations,
    histories,
    virtualMs: sim.now,
    events: sim.scheduler.eventsRun,
    delivered: app.delivered,
    maxStateBytes: app.maxStateBytes,
    crashToViewMs: crashDetection(histories, cluster.crashes),
    livenessChecked: error === null && recoverable,
    golden: goldenLine(opts.seed, sim.wireDigest() ?? '', histories),
  };
}

/**
 * Runs the simulation until virtual time `end`, in slices of 50 ms that let promise
 * callbacks (join handles, leave completions) run close to their time. Returns what
 * the run threw, as text, or `null`.
 */
async function runUntil(sim: Simulation, end: number): Promise<string | null> {
  try {
    while (sim.now < end) {
      sim.runForSync(Math.min(50, end - sim.now));
      await new Promise<void>((r) => setImmediate(r));
    }
  } catch (err) {
    return err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  }
  return null;
}

/** Live members whose last view of a group is the same must end with the same state. */
export function finalStateCheck(histories: readonly MemberHistory[]): Violation[] {
  const out: Violation[] = [];
  const byGroupView = new Map<string, { member: string; digest: string; count: number }>();
  for (const h of histories) {
    if (h.end !== 'up') continue;
    const last = new Map<string, { viewId: number; digest: string; count: number; left: boolean }>();
    for (const e of h.events) {
      if (e.type === 'view') {
        // A member that left and joined again starts from a new state.
        const prev = last.get(e.group);
        const fresh = prev === undefined || prev.left;
        last.set(e.group, { viewId: e.viewId, digest: fresh ? INITIAL_DIGEST : prev.digest, count: fresh ? 0 : prev.count, left: false });
      } else if ((e.type === 'message' || e.type === 'state') && e.digest !== undefined) {
        const prev = last.get(e.group);
        if (prev !== undefined) last.set(e.group, { ...prev, digest: e.digest, count: e.count ?? 0 });
      } else if (e.type === 'left' || e.type === 'excluded') {
        const prev = last.get(e.group);
        if (prev !== undefined) prev.left = true;
      }
    }
    for (const [group, s] of last) {
      if (s.left) continue;
      const k = `${group}@${s.viewId}`;
      const other = byGroupView.get(k);
      if (other === undefined) byGroupView.set(k, { member: h.member, digest: s.digest, count: s.count });
      else if (other.digest !== s.digest || other.count !== s.count) {
        out.push({
          guarantee: 'G10',
          message: `group ${group} view ${s.viewId}: ${h.member} ends with count ${s.count} digest ${s.digest.slice(0, 12)}…, ${other.member} with count ${other.count} digest ${other.digest.slice(0, 12)}…`,
        });
      }
    }
  }
  return out;
}

/** For each crash, how long until every surviving member of its groups installed a view without it. */
function crashDetection(histories: readonly MemberHistory[], crashes: readonly ScenarioCrash[]): number[] {
  const out: number[] = [];
  for (const c of crashes) {
    let latest = -1;
    for (const h of histories) {
      if (h.member === c.member) continue;
      for (const e of h.events) {
        if (e.type === 'view' && e.failed.includes(c.member) && e.time !== undefined && e.time >= c.at) {
          latest = Math.max(latest, e.time - c.at);
        }
      }
    }
    if (latest >= 0) out.push(latest);
  }
  return out;
}
