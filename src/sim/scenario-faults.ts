/**
 * The cluster of a seeded scenario and its fault schedule (the safety phase): which
 * endpoints run, which of them count toward the latest view's quorum, and the faults
 * drawn from the seed: crashes (some restarted as new incarnations), pauses (some
 * longer than the suspicion timeout), partitions (minority, majority or even), bursts
 * of loss, duplication and reordering, new joiners, graceful group leaves and graceful
 * endpoint stops.
 *
 * Intuition: the whole schedule is drawn up front (the kind and duration of every
 * fault, and the gaps between them), while each fault's victims are drawn when it
 * fires, from the cluster as it is then. A crash never takes the latest view below a
 * majority of running members: the network would block for good, which is the primary
 * component rule working, but then liveness could not be asked of the run.
 *
 * The draws, at schedule time and at fire time, share the scenario's random stream
 * with the workload; their order is pinned by the golden traces.
 */
import { memberKey } from '../core/types.js';
import type { Endpoint } from '../endpoint.js';
import type { SeededRng } from './rng.js';
import type { ScenarioApp } from './scenario-app.js';
import {
  SCENARIO_DETECT_BOUND_MS,
  SCENARIO_SUSPECT_TIMEOUT_MS,
  ScenarioProfile,
  type ScenarioShape,
} from './scenario-shape.js';
import type { Simulation } from './simulation.js';

/** The kinds of fault the mixed profile draws from (crash, pause and partition twice as often). */
const MIXED_FAULTS = ['crash', 'pause', 'partition', 'loss', 'join', 'leave', 'stop', 'crash', 'pause', 'partition'] as const;
/** One kind of fault. */
type FaultKind = (typeof MIXED_FAULTS)[number];

/** A crash the run made: who and when (for the detection times of the result). */
export interface ScenarioCrash {
  /** The endpoint's id. */
  readonly id: string;
  /** The incarnation that crashed, as `id#incarnation`. */
  readonly member: string;
  /** Virtual time of the crash, ms. */
  readonly at: number;
}

/** The endpoints of one scenario run and the faults done to them. */
export class ScenarioCluster {
  /** Every endpoint id the run started, joiners included. */
  readonly allIds: string[];
  /** The crashes so far. */
  readonly crashes: ScenarioCrash[] = [];
  /** Endpoints paused now. */
  private readonly paused = new Set<string>();
  private joinerCount = 0;
  /** The epoch of the view {@link latestView} found last; {@link alive} asks for it. */
  private latestEpoch = 0;

  /**
   * @param sim the simulation.
   * @param rng the scenario's random stream.
   * @param shape the drawn shape.
   * @param app the applications, which the endpoints run.
   */
  constructor(
    private readonly sim: Simulation,
    private readonly rng: SeededRng,
    private readonly shape: ScenarioShape,
    private readonly app: ScenarioApp,
  ) {
    this.allIds = [...shape.ids];
  }

  /** Starts the cluster together (no split at start), each endpoint seeded with all the others. */
  start(): void {
    const { ids } = this.shape;
    const stagger = this.rng.chance(0.5);
    for (const id of ids) {
      const seeds = ids.filter((x) => x !== id);
      if (stagger) this.sim.scheduler.after(this.rng.below(300), () => this.startEndpoint(id, seeds));
      else this.startEndpoint(id, seeds);
    }
  }

  /** Opens endpoint `id` and, once it is ready, joins the groups it wants (drawn on its first start). */
  startEndpoint(id: string, seeds: readonly string[]): Endpoint {
    const { rng } = this;
    const { groups } = this.shape;
    const ep = this.sim.open(id, seeds);
    const want = this.app.wants.get(id) ?? new Set(groups.filter(() => rng.chance(0.7)));
    if (want.size === 0) want.add(rng.pick(groups));
    this.app.wants.set(id, want);
    ep.ready.then(
      () => {
        for (const g of want) this.app.joinGroup(ep, g);
      },
      () => undefined,
    );
    return ep;
  }

  /** Members (`id#inc`) of the newest endpoint view any live endpoint installed. */
  latestView(): string[] {
    let best: { epoch: number; keys: string[] } = { epoch: -1, keys: [] };
    for (const id of this.allIds) {
      if (!this.sim.isUp(id)) continue;
      const v = this.sim.endpoint(id).view;
      if (v.epoch > best.epoch) best = { epoch: v.epoch, keys: v.members.map(memberKey) };
    }
    this.latestEpoch = best.epoch;
    return best.keys;
  }

  /**
   * Does this member of the latest view count toward its quorum: still running (not
   * crashed, stopped or replaced by a new incarnation) and has it installed that view
   * (a joiner whose welcome was lost cannot answer for it)?
   */
  alive(key: string): boolean {
    const id = key.slice(0, key.indexOf('#'));
    if (!this.sim.isUp(id) || this.app.stopped.has(id)) return false;
    const ep = this.sim.endpoint(id);
    return `${id}#${ep.incarnation}` === key && ep.view.epoch >= this.latestEpoch;
  }

  /** Whether a majority of the latest view is alive (so liveness can be asked of the run). */
  recoverable(): boolean {
    const latest = this.latestView();
    return latest.filter((k) => this.alive(k)).length >= Math.floor(latest.length / 2) + 1;
  }

  /** Endpoints running and not stopped on purpose. */
  private upIds(): string[] {
    return this.allIds.filter((id) => this.sim.isUp(id) && !this.app.stopped.has(id));
  }

  /** Draws the fault schedule of the safety phase, from 1 s to the end of the phase. */
  scheduleFaults(): void {
    const { rng, sim } = this;
    const { profile, faultPhaseMs } = this.shape;
    let t = 1_000;
    while (t < faultPhaseMs) {
      const at = t;
      const kind: FaultKind = profile === ScenarioProfile.crashes ? 'crash' : rng.pick(MIXED_FAULTS);
      const duration = rng.between(300, 3_500);
      sim.scheduler.at(at, () => this.fault(kind, duration));
      // Crash-only runs judge detection time (G8), which is bounded for one crash at a
      // time: a crash of the next proposer in line while a view change is under way
      // costs another suspicion timeout. Space them so each is detected first.
      t += profile === ScenarioProfile.crashes ? rng.between(SCENARIO_SUSPECT_TIMEOUT_MS + SCENARIO_DETECT_BOUND_MS, 4_000) : rng.between(300, 1_500);
    }
  }

  /** The liveness phase begins: partitions heal, the network is clean, paused nodes resume. */
  healAll(): void {
    const sim = this.sim;
    sim.heal();
    sim.configure({ dropProbability: 0, duplicateProbability: 0, reorderProbability: 0, delayMaxMs: 10 });
    for (const id of [...this.paused]) {
      this.paused.delete(id);
      if (sim.isUp(id)) sim.resume(id);
    }
  }

  /** One fault firing: its victims are drawn now, among the endpoints up and not paused. */
  private fault(kind: FaultKind, duration: number): void {
    const up = this.upIds().filter((id) => !this.paused.has(id));
    switch (kind) {
      case 'crash':
        return this.crash(up);
      case 'pause':
        return this.pause(up, duration);
      case 'partition':
        return this.partition(duration);
      case 'loss':
        return this.loss(duration);
      case 'join':
        return this.join();
      case 'leave':
        return this.leave(up, duration);
      case 'stop':
        return this.stop(up);
      default: {
        const never: never = kind;
        void never;
      }
    }
  }

  /** Crashes a member of the latest view if a majority stays alive; in mixed runs, often restarts it. */
  private crash(up: readonly string[]): void {
    const { rng, sim } = this;
    // Keep a majority of the latest view alive, or the network would block for good
    // (that is G9 working, but then liveness cannot be asked of the run).
    const latest = this.latestView();
    const living = latest.filter((k) => this.alive(k));
    if (living.length - 1 < Math.floor(latest.length / 2) + 1) return;
    const candidates = up.filter((id) => living.includes(`${id}#${sim.endpoint(id).incarnation}`));
    if (candidates.length === 0) return;
    const id = rng.pick(candidates);
    const ep = sim.endpoint(id);
    const member = `${id}#${ep.incarnation}`;
    sim.crash(id);
    for (const r of this.app.recorders) {
      if (r.member === member) {
        r.end = 'crashed';
        r.crashedAt = sim.now;
      }
    }
    this.crashes.push({ id, member, at: sim.now });
    if (this.shape.profile === ScenarioProfile.mixed && rng.chance(0.6)) {
      sim.scheduler.after(rng.between(500, 3_000), () => {
        if (!sim.isUp(id)) this.startEndpoint(id, this.allIds.filter((x) => x !== id && sim.isUp(x)));
      });
    }
  }

  /** Pauses one endpoint, half the time for longer than the suspicion timeout. */
  private pause(up: readonly string[], duration: number): void {
    const { rng, sim } = this;
    if (up.length === 0) return;
    const id = rng.pick(up);
    this.paused.add(id);
    sim.pause(id);
    sim.scheduler.after(rng.chance(0.5) ? duration : SCENARIO_SUSPECT_TIMEOUT_MS + duration, () => {
      this.paused.delete(id);
      if (sim.isUp(id)) sim.resume(id);
    });
  }

  /** Splits the running endpoints in two (a minority, or sometimes two even halves) for a while. */
  private partition(duration: number): void {
    const { rng, sim } = this;
    const all = this.upIds();
    if (all.length < 2) return;
    const shuffled = rng.shuffle(all);
    const even = rng.chance(0.3) && shuffled.length % 2 === 0;
    const cut = even ? shuffled.length / 2 : rng.between(1, Math.floor((shuffled.length - 1) / 2) || 1);
    sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    sim.scheduler.after(duration, () => sim.heal());
  }

  /** A burst of loss, duplication, reordering and delay. */
  private loss(duration: number): void {
    const { rng, sim } = this;
    sim.configure({
      dropProbability: rng.below(20) / 100,
      duplicateProbability: rng.below(10) / 100,
      reorderProbability: rng.below(20) / 100,
      delayMaxMs: rng.between(5, 40),
    });
    sim.scheduler.after(duration, () => sim.configure({ dropProbability: 0, duplicateProbability: 0, reorderProbability: 0, delayMaxMs: 10 }));
  }

  /** A new endpoint `j<k>` joins through some of the running ones. */
  private join(): void {
    const { rng } = this;
    this.joinerCount += 1;
    const id = `j${this.joinerCount}`;
    this.allIds.push(id);
    const live = this.upIds();
    this.startEndpoint(id, live.length === 0 ? [] : rng.shuffle(live).slice(0, rng.between(1, live.length)));
  }

  /** A member leaves one of its groups gracefully, and joins it again later. */
  private leave(up: readonly string[], duration: number): void {
    const { rng, sim, app } = this;
    if (up.length === 0) return;
    const id = rng.pick(up);
    const ep = sim.endpoint(id);
    const want = app.wants.get(id)!;
    if (want.size === 0) return;
    const g = rng.pick([...want]);
    const handle = ep.group(g);
    if (handle === undefined || handle.view === null) return;
    want.delete(g);
    const rec = app.recorderFor(ep);
    handle.leave().then(
      () => {
        rec.events.push({ type: 'left', group: g, time: sim.now });
        sim.scheduler.after(duration, () => {
          if (!sim.isUp(id) || app.stopped.has(id)) return;
          want.add(g);
          const current = sim.endpoint(id);
          if (current === ep) app.joinGroup(ep, g);
        });
      },
      () => undefined,
    );
  }

  /** A graceful stop of a whole endpoint (leaves every group, then the network). */
  private stop(up: readonly string[]): void {
    const { rng, sim, app } = this;
    if (up.length <= 2) return;
    const id = rng.pick(up);
    const ep = sim.endpoint(id);
    const rec = app.recorderFor(ep);
    app.stopped.add(id);
    const groupsLeft = [...(app.wants.get(id) ?? [])].filter((g) => ep.group(g)?.view != null);
    ep.stop().then(
      () => {
        if (rec.end !== 'up') return;
        for (const g of groupsLeft) rec.events.push({ type: 'left', group: g, time: sim.now });
        rec.end = 'stopped';
      },
      () => undefined,
    );
  }
}
