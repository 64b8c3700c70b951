/**
 * The swarm's applications: the `cohort member` digest application each member runs
 * in each of its groups, its workload, and the recorders of what each member
 * incarnation saw (the histories the checker judges).
 *
 * The application's replicated state is a running SHA-256 digest of the delivered
 * stream (`check/digest.ts`), its checkpoint carries that state plus the run's padding,
 * and its history records every event exactly as `runScenario` does, so that
 * `checkHistories` judges both the same way. An application may stall (a slow
 * consumer): its handler then holds its endpoint's queue until the stall ends, on its
 * node's clock.
 *
 * The applications live in a cluster ({@link SwarmAppHost}, which `SwarmCluster`
 * implements) and draw from the run's random stream (whether a member sends, when,
 * how much padding); the order of those draws is pinned by the golden traces.
 */
import { digestStep, INITIAL_DIGEST } from '../check/digest.js';
import type { HistoryEvent, MemberHistory } from '../check/history.js';
import type { Endpoint, Group, GroupEvent } from '../endpoint.js';
import { digestCheckpoint, readDigestCheckpoint, viewRecord } from './digest-app.js';
import type { SeededRng } from './rng.js';
import type { Simulation } from './simulation.js';
import type { SwarmShape } from './swarm-shape.js';
import type { SwarmDisks } from './swarm-disks.js';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** One member incarnation's history under construction. */
export interface Recorder {
  /** `id#incarnation`. */
  readonly member: string;
  readonly events: HistoryEvent[];
  end: MemberHistory['end'];
  crashedAt?: number;
  /** The endpoint whose incarnation this is (it moves on to a new one when excluded). */
  readonly endpoint: Endpoint;
}

/** The application state of one member incarnation in one group. */
export interface AppState {
  count: number;
  digest: string;
  viewId: number;
  /** Own multicasts not yet delivered back (liveness: all must come back). */
  readonly outstanding: Set<string>;
}

/** A send as recorded, completed when its promise resolves. */
type SendRecord = { type: 'send'; group: string; msgId: string; senderSeq: number; safe: boolean; time: number; resolvedAt?: number };

/** What the applications need of the cluster they run in. */
export interface SwarmAppHost {
  /** The simulation the endpoints run in. */
  readonly sim: Simulation;
  /** The run's random stream. */
  readonly rng: SeededRng;
  /** The run's drawn shape. */
  readonly shape: SwarmShape;
  /** The groups each address wants to be in (rejoined after an exclusion). */
  readonly wants: Map<string, Set<string>>;
  /** Addresses whose endpoint was stopped gracefully and not started again. */
  readonly stopped: Set<string>;
  /** The current era (incremented by each total restart). */
  readonly era: number;
  /** Raised by every call into an endpoint's API. */
  dirty: boolean;
  /** Set in the liveness phase: senders stop. */
  readonly stopWorkload: boolean;
  /** Whether the run is traced (a multicast is then noted). */
  readonly tracing: boolean;
  /** Schedules a membership action (the liveness phase waits for it). */
  later(ms: number, fn: () => void): void;
  /** A readable line in the trace. */
  note(text: string): void;
  /** Virtual time until which the application of `id` takes no events; 0 when it does not stall. */
  stalledUntil(id: string): number;
  /** Durable runs (option `persist`, multicasts at `majority`): the disks, which check what a multicast claims; null otherwise. */
  readonly disks: SwarmDisks | null;
}

/** The applications and recorders of one swarm run. */
export class SwarmApps {
  /** Messages delivered, summed over all members. */
  delivered = 0;
  /** Largest state received by a joiner, bytes. */
  maxStateBytes = 0;
  /** Every recorder, in the order of their first event. */
  readonly recorders: Recorder[] = [];
  /** The recorders by `id#incarnation`. */
  readonly recorderByMember = new Map<string, Recorder>();
  /** The application states by `id#incarnation \0 group`. */
  readonly apps = new Map<string, AppState>();
  private readonly sentCount = new Map<string, number>();
  /** Durable runs: own messages delivered, by text, with the ids of their group view's members then. */
  private readonly ownDelivered = new Map<string, readonly string[]>();
  /** Durable runs: multicasts resolved (every tenth is checked on the disks). */
  private resolvedDurable = 0;
  private readonly senderGeneration = new Map<string, number>();
  private readonly eraOf = new Map<Recorder, number>();

  /** @param host the cluster the applications run in. */
  constructor(private readonly host: SwarmAppHost) {}

  /** The name a recorder's histories give group `g` (groups of a new network are new groups). */
  recordedName(g: string, rec: Recorder): string {
    const era = this.eraOf.get(rec) ?? 0;
    return era === 0 ? g : `${g}@${era}`;
  }

  /** The recorder of the endpoint's current incarnation, created on first use (in the current era). */
  recorderFor(ep: Endpoint): Recorder {
    const member = `${ep.id}#${ep.incarnation}`;
    let r = this.recorderByMember.get(member);
    if (r === undefined) {
      r = { member, events: [], end: 'up', endpoint: ep };
      this.recorders.push(r);
      this.recorderByMember.set(member, r);
      this.eraOf.set(r, this.host.era);
    }
    return r;
  }

  /** `ep` joins group `g` (if not in it), runs the digest application in it, and sends. */
  joinGroup(ep: Endpoint, g: string): void {
    if (ep.group(g) !== undefined || !this.host.sim.isUp(ep.id) || this.host.stopped.has(ep.id) || this.host.sim.endpoint(ep.id) !== ep) return;
    const rec = this.recorderFor(ep);
    if (rec.end !== 'up') {
      // The endpoint has not taken its new incarnation yet: try again shortly.
      this.host.later(50, () => this.joinGroup(ep, g));
      return;
    }
    const name = this.recordedName(g, rec);
    const app: AppState = { count: 0, digest: INITIAL_DIGEST, viewId: 0, outstanding: new Set() };
    this.apps.set(`${rec.member}\0${g}`, app);
    // The node's own clock: a stall's end waits while the node is paused, and never
    // comes once it crashed (nothing of a killed process runs on).
    const clock = this.host.sim.network.node(ep.id)!.clock;
    const onEvent = (e: GroupEvent): Promise<void> | undefined => {
      this.onGroupEvent(ep, g, name, rec, app, e);
      // A stalled application holds the endpoint's queue until the stall ends.
      const until = this.host.stalledUntil(ep.id);
      if (until <= this.host.sim.now) return undefined;
      return new Promise<void>((resolve) => void clock.setTimer(until - this.host.sim.now, resolve));
    };
    const checkpoint = (): Uint8Array => digestCheckpoint(app, this.host.shape.stateBytes);
    this.host.dirty = true;
    ep.join(g, { onEvent, checkpoint }).catch(() => {
      // Excluded from the network while joining (no view, so no `excluded` event):
      // this incarnation is gone; an application joins again once its endpoint is
      // back, as after an exclusion.
      if (rec.end === 'up' && this.host.sim.isUp(ep.id) && `${ep.id}#${ep.incarnation}` !== rec.member) rec.end = 'excluded';
      this.host.later(50, () => {
        if (this.host.sim.isUp(ep.id) && !this.host.stopped.has(ep.id) && this.host.wants.get(ep.id)?.has(g) === true) this.joinGroup(ep, g);
      });
    });
    // The handle of this join: a later join of the same group (a new incarnation) has its own sender.
    const handle = ep.group(g);
    if (handle !== undefined && this.host.rng.chance(this.host.shape.senderShare)) this.startSender(ep, handle, name, rec, app);
  }

  /** The digest application: applies one event of group `g` and records it under `name`. */
  private onGroupEvent(ep: Endpoint, g: string, name: string, rec: Recorder, app: AppState, e: GroupEvent): void {
    // The protocol's time of delivery: a stalled application takes events late, but the
    // network's life (G9) and the order of events are the protocol's.
    const time = ep.deliveredAt;
    switch (e.type) {
      case 'view':
        app.viewId = e.view.id;
        rec.events.push(viewRecord(name, e.view, time));
        return;
      case 'state': {
        this.maxStateBytes = Math.max(this.maxStateBytes, e.data.length);
        const head = readDigestCheckpoint(e.data);
        app.count = head.count;
        app.digest = head.digest;
        rec.events.push({ type: 'state', group: name, digest: app.digest, count: app.count, time });
        return;
      }
      case 'message': {
        const data = textDecoder.decode(e.data);
        const space = data.indexOf(' ');
        const msgId = space < 0 ? data : data.slice(0, space);
        const sender = `${e.sender}#${e.senderInc}`;
        app.digest = digestStep(app.digest, e.sender, data);
        app.count += 1;
        if (e.restored === true) {
          // Replayed from the log after a restart: part of the state this member
          // restores, not a delivery of the restarted network. The history holds the
          // restored state, as the last replayed message leaves it.
          const last = rec.events[rec.events.length - 1];
          if (last !== undefined && last.type === 'state' && last.group === name) rec.events[rec.events.length - 1] = { ...last, digest: app.digest, count: app.count };
          else rec.events.push({ type: 'state', group: name, digest: app.digest, count: app.count, time });
          return;
        }
        this.delivered += 1;
        if (sender === rec.member) {
          app.outstanding.delete(msgId);
          // The view it was delivered in: what its durability counts (a message is delivered before its promise resolves).
          if (this.host.disks !== null) this.ownDelivered.set(data, ep.group(g)?.view?.members ?? []);
        }
        const seq = Number(msgId.slice(msgId.lastIndexOf(':') + 1));
        rec.events.push({ type: 'message', group: name, viewId: app.viewId, sender, msgId, senderSeq: seq, safe: e.safe, time, digest: app.digest, count: app.count });
        return;
      }
      case 'blocked':
        rec.events.push({ type: 'blocked', group: name, time });
        return;
      case 'excluded':
        rec.events.push({ type: 'excluded', group: name, time });
        rec.end = 'excluded';
        // Come back: the endpoint rejoins the network by itself; rejoin the group too —
        // once the excluded handle is gone (a stalled handler holds it until it resumes).
        {
          const old = ep.group(g);
          const rejoin = (): void => {
            if (!this.host.sim.isUp(ep.id) || this.host.stopped.has(ep.id) || this.host.wants.get(ep.id)?.has(g) !== true) return;
            if (old !== undefined && ep.group(g) === old) this.host.later(50, rejoin);
            else this.joinGroup(ep, g);
          };
          this.host.later(50, rejoin);
        }
        return;
      default: {
        const never: never = e;
        void never;
      }
    }
  }

  /** Multicast to the group at the run's rate, on the endpoint's own clock (a paused node sends nothing). */
  private startSender(ep: Endpoint, handle: Group, name: string, rec: Recorder, app: AppState): void {
    const g = handle.name;
    const genKey = `${ep.id}:${g}`;
    const generation = (this.senderGeneration.get(genKey) ?? 0) + 1;
    this.senderGeneration.set(genKey, generation);
    const clock = this.host.sim.network.node(ep.id)?.clock;
    if (clock === undefined) return;
    const [lo, hi] = this.host.shape.sendIntervalMs;
    const countKey = `${rec.member}:${g}`;
    const tick = (): void => {
      if (this.host.stopWorkload || rec.end !== 'up' || this.senderGeneration.get(genKey) !== generation) return;
      if (ep.group(g) !== handle) return; // left, excluded, or joined again since
      // Every fourth tick sends three in one go, so that they leave as one bundle; the
      // last one in the other delivery mode when safe multicasts are on.
      const burst = (this.sentCount.get(countKey) ?? 0) % 4 === 3 ? 3 : 1;
      const safeShare = this.host.shape.safeShare;
      const firstSafe = safeShare > 0 && this.host.rng.chance(safeShare);
      for (let i = 0; i < burst && handle.view !== null; i++) {
        this.send(handle, name, rec, app, countKey, i === 2 && safeShare > 0 && safeShare < 1 ? !firstSafe : firstSafe);
      }
      clock.setTimer(this.host.rng.between(lo, hi), tick);
    };
    clock.setTimer(this.host.rng.between(1, hi), tick);
  }

  /** One multicast, recorded as a `send` (taken back if the call throws). */
  private send(handle: Group, name: string, rec: Recorder, app: AppState, countKey: string, safe: boolean): void {
    const n = (this.sentCount.get(countKey) ?? 0) + 1;
    this.sentCount.set(countKey, n);
    const msgId = `${rec.member}:${name}:${n}`;
    const padding = this.host.shape.paddingBytesMax > 0 ? this.host.rng.below(this.host.shape.paddingBytesMax + 1) : 0;
    const data = padding === 0 ? msgId : `${msgId} ${'x'.repeat(padding)}`;
    const sendEvent: SendRecord = { type: 'send', group: name, msgId, senderSeq: n, safe, time: this.host.sim.now };
    rec.events.push(sendEvent);
    if (this.host.tracing) this.host.note(`multicast ${msgId}${safe ? ' (safe)' : ''}`);
    try {
      this.host.dirty = true;
      handle.multicast(textEncoder.encode(data), { safe }).then(
        () => {
          sendEvent.resolvedAt = this.host.sim.now;
          const disks = this.host.disks;
          if (disks === null) return;
          const members = this.ownDelivered.get(data);
          this.ownDelivered.delete(data);
          if (members !== undefined && this.resolvedDurable++ % 10 === 0) disks.check(data, members, this.host.sim.now);
        },
        () => this.ownDelivered.delete(data),
      );
      app.outstanding.add(msgId);
    } catch {
      rec.events.pop();
      this.sentCount.set(countKey, n - 1);
    }
  }
}
