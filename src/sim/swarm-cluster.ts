/**
 * The swarm's cluster: the endpoints of one run, the application each member runs,
 * and the bookkeeping the faults and the judge need.
 *
 * Every member runs the `cohort member` digest application (`swarm-app.ts`), whose
 * histories are recorded exactly as `runScenario` records them, so that
 * `checkHistories` judges both the same way.
 *
 * Rules the cluster keeps so that liveness can be judged (the protocol's founding
 * rules): an endpoint always (re)starts with the seed list it was first given (the
 * starting endpoints: all the others; a joiner: every address known when it came);
 * a crash or stop never takes the latest view below a living majority, nor leaves it
 * without a living starting endpoint (whose address every seed list holds); and after everybody
 * stopped, everybody starts again at once (a total restart needs every address of the
 * seed lists up and bootstrapping together). A total restart founds a new network
 * whose groups start afresh, so histories of each such *era* name their groups
 * `g@era` and are judged as separate groups.
 */
import { INITIAL_DIGEST } from '../check/digest.js';
import type { MemberHistory } from '../check/history.js';
import { memberKey } from '../core/types.js';
import type { Endpoint, Group } from '../endpoint.js';
import type { SeededRng } from './rng.js';
import { SwarmDisks } from './swarm-disks.js';
import type { Simulation } from './simulation.js';
import { SwarmApps, type Recorder } from './swarm-app.js';
import type { SwarmShape } from './swarm-shape.js';

export type { Recorder } from './swarm-app.js';

/** The digest of a new group's empty state (the `cohort member` convention, `check/digest.ts`). */
export const ZERO_DIGEST = INITIAL_DIGEST;

/** Options of {@link SwarmCluster}. */
export interface SwarmClusterOptions {
  /** The simulation to run the endpoints in. */
  readonly sim: Simulation;
  /** The generator faults and workload draw from. */
  readonly rng: SeededRng;
  /** The run's shape. */
  readonly shape: SwarmShape;
  /** Receives the run's readable lines (faults, multicasts), if tracing. */
  readonly trace: ((line: string) => void) | undefined;
  /**
   * Durable endpoints: each address writes its log to a simulated disk of its own,
   * kept across restarts; a crash is a power cut for it too (see `SimDisk.crash`).
   * @default false
   */
  readonly durable?: boolean;
}

/** The endpoints of one swarm run and everything known about them. */
export class SwarmCluster {
  /** The simulation the endpoints run in. */
  readonly sim: Simulation;
  /** Where the faults and the workload draw from (the run's own stream). */
  readonly rng: SeededRng;
  /** The run's drawn shape. */
  readonly shape: SwarmShape;
  /** Every address used in the run, starting endpoints first. */
  readonly allIds: string[];
  /** The seed list each address was first started with (and restarts with). */
  readonly seedsOf = new Map<string, readonly string[]>();
  /** The groups each address wants to be in (rejoined after an exclusion). */
  readonly wants = new Map<string, Set<string>>();
  /** Per address and group: how many joins and leaves its application decided (see `decide`). */
  private readonly decisions = new Map<string, number>();
  /** Addresses whose endpoint was stopped gracefully and not started again. */
  readonly stopped = new Set<string>();
  /** Addresses paused now. */
  readonly paused = new Set<string>();
  /** Applications that take no events until the given time (slow consumers), by endpoint id. */
  private readonly stalls = new Map<string, number>();
  /** Addresses whose graceful stop has been asked for and has not completed. */
  readonly stopping = new Set<string>();
  /** Raised by every call into an endpoint's API: the run lets promise work settle after the event. */
  dirty = false;
  /** Senders stop multicasting once this is set (the liveness phase). */
  stopWorkload = false;
  /** Incremented by each total restart: the groups of a new network are new groups. */
  era = 0;
  /** Set while everyone is stopping, until all start again: no other restart may start anyone. */
  totalRestartUnderway = false;
  /** Membership actions scheduled for later (restarts, rejoins) that have not run yet. */
  pendingActions = 0;
  /** Set when the liveness phase starts: delayed parts of faults (a crash, a leave) no longer strike. */
  faultsOver = false;
  /** Bumped by each partition-like fault, so an older one's end does not end a newer one. */
  partitionGeneration = 0;
  /** Bumped by each loss burst, likewise. */
  lossGeneration = 0;

  private readonly trace: ((line: string) => void) | undefined;
  /** The applications the members run, and their recorders; the cluster is their `SwarmAppHost` (structurally, which keeps that interface off the public reference). */
  private readonly app: SwarmApps = new SwarmApps(this);
  /** Per address: one more at each start, so that stale restarts and rejoins do nothing. */
  private readonly life = new Map<string, number>();
  /** Group leaves asked for and not completed: a live member's leave must complete after healing. */
  private readonly pendingLeaves = new Map<Group, { ep: Endpoint; rec: Recorder }>();
  private joinerCount = 0;
  private latestEpoch = 0;

  /** Durable endpoints (see `SwarmClusterOptions.durable`). */
  readonly durable: boolean;
  /** Durable runs: each address's disk, made at its first start, and the checks of durable multicasts; null otherwise. */
  readonly disks: SwarmDisks | null;

  constructor(opts: SwarmClusterOptions) {
    this.sim = opts.sim;
    this.rng = opts.rng;
    this.shape = opts.shape;
    this.trace = opts.trace;
    this.durable = opts.durable === true;
    this.disks = this.durable ? new SwarmDisks(opts.rng.fork(), opts.sim.scheduler) : null;
    this.allIds = [...opts.shape.endpoints];
    for (const id of this.allIds) {
      this.seedsOf.set(id, this.allIds.filter((x) => x !== id));
      this.wants.set(id, new Set(opts.shape.wants.get(id) ?? []));
    }
  }

  /** Messages delivered, summed over all members. */
  get delivered(): number {
    return this.app.delivered;
  }

  /** Largest state received by a joiner, bytes. */
  get maxStateBytes(): number {
    return this.app.maxStateBytes;
  }

  /** Whether the run is traced. */
  get tracing(): boolean {
    return this.trace !== undefined;
  }

  /** Virtual time until which the application of `id` takes no events; 0 when it does not stall. */
  stalledUntil(id: string): number {
    return this.stalls.get(id) ?? 0;
  }

  /** A readable line in the trace, at the current virtual time. */
  note(text: string): void {
    this.trace?.(`${this.sim.now} SWARM ${text}`);
  }

  /** Schedule a membership action; the liveness phase waits until none is pending. */
  later(ms: number, fn: () => void): void {
    this.pendingActions++;
    this.sim.scheduler.after(ms, () => {
      this.pendingActions--;
      fn();
    });
  }

  // ---------------------------------------------------------------- endpoints

  /** Start the starting endpoints (together, or staggered within 300 ms). */
  startAll(): void {
    for (const id of this.shape.endpoints) {
      if (this.shape.stagger) this.later(this.rng.below(300), () => this.start(id));
      else this.start(id);
    }
  }

  /**
   * Start the endpoint at `id` with its seed list, unless one is running there. A
   * stopped endpoint's process exits first. Returns the new endpoint, or null.
   */
  start(id: string): Endpoint | null {
    if (this.sim.isUp(id)) {
      if (!this.stopped.has(id)) return null;
      this.kill(id); // the stopped process exits (or, if its stop hung, is killed)
    }
    this.stopped.delete(id);
    const life = (this.life.get(id) ?? 0) + 1;
    this.life.set(id, life);
    const ep = this.sim.open(id, this.seedsOf.get(id) ?? [], this.disks === null ? {} : { persist: this.disks.persistOf(id) });
    this.dirty = true;
    ep.ready.then(
      () => {
        if (this.life.get(id) !== life) return;
        for (const g of this.wants.get(id) ?? []) this.joinGroup(ep, g);
      },
      () => undefined,
    );
    return ep;
  }

  /** A new address joins the network, seeded with every address known now. */
  addJoiner(): string | null {
    if (this.allIds.length >= this.shape.addressesMax) return null;
    this.joinerCount += 1;
    const id = `j${this.joinerCount}`;
    this.seedsOf.set(id, [...this.allIds]);
    this.allIds.push(id);
    const want = new Set(this.shape.groups.filter(() => this.rng.chance(0.5)));
    if (want.size === 0) want.add(this.rng.pick(this.shape.groups));
    this.wants.set(id, want);
    this.start(id);
    return id;
  }

  /**
   * Crash `id` (SIGKILL); with the run's restart chance it starts again, with the same
   * id and seed list, 200–3000 ms later.
   */
  crash(id: string, restart = this.rng.chance(this.shape.restartChance)): void {
    this.kill(id);
    if (!restart) return;
    const life = this.life.get(id);
    this.later(this.rng.between(200, 3_000), () => {
      if (this.life.get(id) === life && !this.sim.isUp(id) && !this.totalRestartUnderway) this.start(id);
    });
  }

  /** The process at `id` dies: its current incarnation's histories end crashed (unless already ended). */
  kill(id: string): void {
    this.stopping.delete(id);
    if (!this.sim.isUp(id)) return;
    const ep = this.sim.endpoint(id);
    const member = `${id}#${ep.incarnation}`;
    const rec = this.app.recorderByMember.get(member);
    if (rec !== undefined && rec.end === 'up') {
      rec.end = 'crashed';
      rec.crashedAt = this.sim.now;
    }
    this.paused.delete(id);
    this.sim.crash(id);
    this.disks?.crash(id);
  }

  /** Stop `id` gracefully: it leaves every group, then the network. */
  stop(id: string, onStopped?: () => void): void {
    const ep = this.sim.endpoint(id);
    this.stopped.add(id);
    this.stopping.add(id);
    const rec = this.app.recorderByMember.get(`${id}#${ep.incarnation}`);
    const inGroups = [...(this.wants.get(id) ?? [])].filter((g) => (ep.group(g)?.view ?? null) !== null);
    this.dirty = true;
    ep.stop().then(
      () => {
        if (this.sim.endpoint(id) === ep) this.stopping.delete(id);
        if (rec !== undefined && rec.end === 'up') {
          for (const g of inGroups) rec.events.push({ type: 'left', group: this.app.recordedName(g, rec), time: this.sim.now });
          rec.end = 'stopped';
        }
        onStopped?.();
      },
      () => undefined,
    );
  }

  /** The application of `id` takes no events for `ms` (its handler holds the queue). */
  stall(id: string, ms: number): void {
    this.stalls.set(id, Math.max(this.stalls.get(id) ?? 0, this.sim.now + ms));
  }

  /** Pause `id` for `ms` (SIGSTOP, then SIGCONT). */
  pause(id: string, ms: number): void {
    if (this.paused.has(id) || !this.sim.isUp(id)) return;
    this.paused.add(id);
    this.sim.pause(id);
    const life = this.life.get(id);
    this.sim.scheduler.after(ms, () => {
      if (this.life.get(id) !== life || !this.paused.has(id)) return;
      this.paused.delete(id);
      if (this.sim.isUp(id)) this.sim.resume(id);
    });
  }

  /** Resume everyone paused (the liveness phase). */
  resumeAll(): void {
    for (const id of [...this.paused]) {
      this.paused.delete(id);
      if (this.sim.isUp(id)) this.sim.resume(id);
    }
  }

  // ---------------------------------------------------------------- groups and the application

    /** `ep` joins group `g` (if not in it), runs the digest application in it, and sends. */
  joinGroup(ep: Endpoint, g: string): void {
    this.app.joinGroup(ep, g);
  }

  /**
   * The application of `id` decides anew about group `g` (a join or a leave): a rejoin
   * scheduled by an earlier leave is void. Returns the decision's number.
   */
  decide(id: string, g: string): number {
    const key = `${id}\0${g}`;
    const n = (this.decisions.get(key) ?? 0) + 1;
    this.decisions.set(key, n);
    return n;
  }

  /** `id` leaves group `g` gracefully; it joins again `rejoinAfterMs` after the leave completes (null: never). */
  leave(id: string, g: string, rejoinAfterMs: number | null): boolean {
    const ep = this.sim.endpoint(id);
    const want = this.wants.get(id);
    const handle = ep.group(g);
    if (want === undefined || handle === undefined || handle.view === null) return false;
    want.delete(g);
    const decision = this.decide(id, g);
    const rec = this.app.recorderFor(ep);
    const app = this.app.apps.get(`${rec.member}\0${g}`);
    this.dirty = true;
    this.pendingLeaves.set(handle, { ep, rec });
    handle.leave().then(
      () => {
        this.pendingLeaves.delete(handle);
        if (rec.end !== 'up') return;
        rec.events.push({ type: 'left', group: this.app.recordedName(g, rec), time: this.sim.now });
        app?.outstanding.clear(); // what was still in flight may never come back after a leave
        if (rejoinAfterMs === null) return;
        const life = this.life.get(id);
        this.later(rejoinAfterMs, () => {
          if (this.life.get(id) !== life || !this.sim.isUp(id) || this.stopped.has(id)) return;
          // The application has since decided otherwise (joined again, or left again).
          if (this.decisions.get(`${id}\0${g}`) !== decision) return;
          want.add(g);
          this.joinGroup(ep, g);
        });
      },
      () => this.pendingLeaves.delete(handle),
    );
    return true;
  }

  // ---------------------------------------------------------------- who is where

  /** Addresses whose endpoint runs (not crashed, not stopped); paused ones included. */
  liveIds(): string[] {
    return this.allIds.filter((id) => this.sim.isUp(id) && !this.stopped.has(id));
  }

  /** Live, not paused, and in a network view. */
  readyIds(): string[] {
    return this.liveIds().filter((id) => !this.paused.has(id) && this.sim.endpoint(id).view.epoch > 0);
  }

  /** Members (`id#inc`) of the newest endpoint view any live endpoint installed. */
  latestView(): string[] {
    let best: { epoch: number; keys: string[] } = { epoch: -1, keys: [] };
    for (const id of this.allIds) {
      if (!this.sim.isUp(id) || this.stopped.has(id)) continue;
      const v = this.sim.endpoint(id).view;
      if (v.epoch > best.epoch) best = { epoch: v.epoch, keys: v.members.map(memberKey) };
    }
    this.latestEpoch = best.epoch;
    return best.keys;
  }

  /**
   * Does this member of the latest view count toward its quorum: still running (not
   * crashed, stopped or replaced by a new incarnation) and has it installed that view?
   */
  private alive(memberKey: string): boolean {
    const id = memberKey.slice(0, memberKey.indexOf('#'));
    if (!this.sim.isUp(id) || this.stopped.has(id)) return false;
    const ep = this.sim.endpoint(id);
    return `${id}#${ep.incarnation}` === memberKey && ep.view.epoch >= this.latestEpoch;
  }

  /** Whether a living majority of the latest view exists (else the network blocks for good: G9). */
  hasLivingMajority(): boolean {
    const latest = this.latestView();
    if (latest.length === 0) return false;
    return latest.filter((k) => this.alive(k)).length >= Math.floor(latest.length / 2) + 1;
  }

  /**
   * Whether liveness can be asked of the run as it stands: a living majority of the
   * latest view exists, or every address is up (to found one anew if need be).
   */
  recoverable(): boolean {
    // A network that lives on in joiners alone cannot be found by the starting
    // endpoints, which are seeded with the starting addresses only: an operator's
    // mistake the crash rules avoid, but pauses and failures during transfers can
    // still come to it. Liveness is not asked of such a run.
    if (this.networkOnlyInJoiners()) return false;
    if (this.hasLivingMajority()) return true;
    // No living majority of the latest view, but every address is up: the members
    // left of that view learn it can never change (its majority restarted) and leave
    // it, and then everybody founds a network anew.
    return this.allIds.every((id) => this.sim.isUp(id) && !this.stopped.has(id));
  }

  /** The latest view has living members, none of them a starting endpoint, while a starting endpoint is outside it. */
  private networkOnlyInJoiners(): boolean {
    const latest = this.latestView().filter((k) => this.alive(k));
    if (latest.length === 0) return false;
    const founders = new Set(this.shape.endpoints);
    if (latest.some((k) => founders.has(k.slice(0, k.indexOf('#'))))) return false;
    return this.shape.endpoints.some((id) => this.sim.isUp(id) && !this.stopped.has(id));
  }

  /**
   * Addresses whose crash (or stop) leaves a living majority of the latest view, and in
   * it at least one living starting endpoint (crash candidates). The second rule keeps
   * the network findable: restarted starting endpoints are seeded with the starting
   * addresses only, so a network that lived on in joiners alone could never be found
   * again by them (an operator's mistake, not a protocol failure).
   */
  crashable(): string[] {
    if (this.totalRestartUnderway) return [];
    const latest = this.latestView();
    const living = latest.filter((k) => this.alive(k));
    const majority = Math.floor(latest.length / 2) + 1;
    const founders = new Set(this.shape.endpoints);
    const livingFounders = living.filter((k) => founders.has(k.slice(0, k.indexOf('#')))).length;
    return this.liveIds().filter((id) => {
      const key = `${id}#${this.sim.endpoint(id).incarnation}`;
      // A member outside the latest view (joining, bootstrapping) does not count toward it.
      if (!living.includes(key)) return true;
      if (living.length - 1 < majority) return false;
      return !founders.has(id) || livingFounders >= 2;
    });
  }

  /** The coordinator (`members[0]` of the latest view), if it is alive. */
  coordinator(): string | undefined {
    const latest = this.latestView();
    const first = latest[0];
    if (first === undefined || !this.alive(first)) return undefined;
    return first.slice(0, first.indexOf('#'));
  }

  /** The oldest member of group `g` as some live member sees it (the state's provider for a joiner). */
  groupOldest(g: string): string | undefined {
    for (const id of this.readyIds()) {
      const v = this.sim.endpoint(id).group(g)?.view ?? null;
      if (v !== null && v.members.length > 0) return v.members[0];
    }
    return undefined;
  }

  // ---------------------------------------------------------------- convergence and histories

  /**
   * Null when every live endpoint is in one network view of exactly the live
   * endpoints, and for every group, every live endpoint that wants it is in one view of
   * exactly those, at the same position with the same digest, with all its own
   * multicasts delivered; otherwise what is not there yet, in words.
   */
  convergence(): string | null {
    if (this.pendingActions > 0) return `${this.pendingActions} restarts or rejoins still scheduled`;
    if (this.stopping.size > 0) return `the graceful stop of ${[...this.stopping].join(', ')} has not completed`;
    for (const [handle, { ep, rec }] of this.pendingLeaves) {
      if (rec.end === 'up' && this.sim.isUp(ep.id) && this.sim.endpoint(ep.id) === ep) return `the leave of group ${handle.name} by ${rec.member} has not completed`;
    }
    const live = this.liveIds();
    if (live.length === 0) return null;
    const eps = live.map((id) => this.sim.endpoint(id));
    const liveKeys = eps.map((ep) => `${ep.id}#${ep.incarnation}`).sort().join(',');
    const first = eps[0]!.view;
    const same = eps.every((ep) => ep.view.epoch === first.epoch);
    if (!same || first.epoch === 0 || first.members.map(memberKey).sort().join(',') !== liveKeys) {
      const views = new Map<string, string[]>();
      for (const ep of eps) {
        const v = `epoch ${ep.view.epoch} [${ep.view.members.map(memberKey).join(',')}]`;
        views.set(v, [...(views.get(v) ?? []), ep.id]);
      }
      return `endpoint views differ from the live set {${liveKeys}}: ${[...views].map(([v, ids]) => `${ids.join(',')} at ${v}`).join('; ')}`;
    }
    for (const g of this.shape.groups) {
      const reason = this.groupConvergence(g, live);
      if (reason !== null) return reason;
    }
    return null;
  }

  private groupConvergence(g: string, live: readonly string[]): string | null {
    const wanters = live.filter((id) => this.wants.get(id)?.has(g) === true);
    if (wanters.length === 0) return null;
    const expected = [...wanters].sort().join(',');
    let ref: { id: string; viewId: number; count: number; digest: string } | undefined;
    for (const id of wanters) {
      const ep = this.sim.endpoint(id);
      const v = ep.group(g)?.view ?? null;
      if (v === null) return `${id} wants group ${g} but is in no view of it`;
      const app = this.app.apps.get(`${id}#${ep.incarnation}\0${g}`);
      if (app === undefined) return `${id} has no application state in group ${g}`;
      if (app.outstanding.size > 0) return `${id} still waits for ${app.outstanding.size} of its own multicasts to ${g} (first ${[...app.outstanding][0]})`;
      const members = [...v.members].sort().join(',');
      if (members !== expected) return `group ${g} view ${v.id} at ${id} is [${v.members.join(',')}], the live members wanting it are [${expected}]`;
      if (ref === undefined) ref = { id, viewId: v.id, count: app.count, digest: app.digest };
      else if (ref.viewId !== v.id || ref.count !== app.count || ref.digest !== app.digest) {
        return `group ${g}: ${ref.id} is at view ${ref.viewId} count ${ref.count}, ${id} at view ${v.id} count ${app.count}`;
      }
    }
    return null;
  }

  /** How a recorder's incarnation ended, as far as the run got. */
  private endOf(r: Recorder): MemberHistory['end'] {
    if (r.end !== 'up') return r.end;
    // Its endpoint moved on to a new incarnation: this one was excluded, though its
    // application (a stalled handler) has not been told yet.
    if (`${r.endpoint.id}#${r.endpoint.incarnation}` !== r.member) return 'excluded';
    // A stop still under way at the end counts as a stop: the member is on its way out.
    return this.stopped.has(r.member.slice(0, r.member.indexOf('#'))) ? 'stopped' : 'up';
  }

  /** One history per member incarnation, as the checker takes them. */
  histories(): MemberHistory[] {
    return this.app.recorders.map((r) => ({
      member: r.member,
      events: r.events,
      end: this.endOf(r),
      ...(r.crashedAt === undefined ? {} : { crashedAt: r.crashedAt }),
    }));
  }
}
