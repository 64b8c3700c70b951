/**
 * The application a seeded scenario runs on every member, and the recorder of what it
 * saw. The application is `cohort member`'s: its state is a running digest of the
 * delivered stream (`check/digest.ts`), its checkpoint is that state (padded to the
 * scenario's state size), and it multicasts on its node's own clock, so a paused node
 * sends nothing. Each member incarnation's events go to one {@link Recorder}: the
 * histories the checker judges.
 *
 * Intuition: the application, not the endpoint, owns its memberships. The endpoints
 * run with `rejoin: false`; after an exclusion the application joins its groups again
 * itself, as a new incarnation with a history of its own, because the checker judges
 * incarnations one by one.
 *
 * The workload draws from the scenario's random stream at run time (which mode, how
 * long until the next multicast); the order of those draws is pinned by the golden
 * traces, so the code below keeps the order of its `rng` calls.
 */
import { digestStep, INITIAL_DIGEST } from '../check/digest.js';
import type { HistoryEvent, MemberHistory } from '../check/history.js';
import type { Endpoint, Group, GroupEvent } from '../endpoint.js';
import { digestCheckpoint, readDigestCheckpoint, viewRecord } from './digest-app.js';
import type { SeededRng } from './rng.js';
import type { ScenarioShape } from './scenario-shape.js';
import type { Simulation } from './simulation.js';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** The application of one member incarnation in one group: the digest state. */
interface AppState {
  count: number;
  digest: string;
  viewId: number;
}

/** One member incarnation's history under construction. */
export interface Recorder {
  /** The incarnation, as `id#incarnation`. */
  readonly member: string;
  /** What its application saw (and the multicasts it made), in order. */
  readonly events: HistoryEvent[];
  /** How its history ends so far. */
  end: MemberHistory['end'];
  /** Virtual time of its crash, when it crashed. */
  crashedAt?: number;
}

/** A `send` event whose promise may resolve later. */
type SendEvent = { type: 'send'; group: string; msgId: string; senderSeq: number; safe: boolean; time: number; resolvedAt?: number };

/**
 * The applications of one scenario run: every member's digest state, workload and
 * recorder, plus what each endpoint wants to be a member of.
 */
export class ScenarioApp {
  /** One per member incarnation, in the order they first recorded something. */
  readonly recorders: Recorder[] = [];
  /** Endpoints that were stopped on purpose (graceful) and must not be counted as live. */
  readonly stopped = new Set<string>();
  /** Memberships each endpoint wants (so it rejoins them after an exclusion). */
  readonly wants = new Map<string, Set<string>>();
  /** Largest state transferred to a joiner so far, bytes. */
  maxStateBytes = 0;
  /** Messages delivered so far, summed over all members. */
  delivered = 0;
  /** Set when the liveness phase is under way: no new multicasts. */
  stopWorkload = false;
  /** Per member incarnation and group: multicasts sent so far (msgIds stay unique across rejoins). */
  private readonly sentCount = new Map<string, number>();
  /** Per endpoint and group: the current sender loop (an older one stops). */
  private readonly senderGeneration = new Map<string, number>();

  /**
   * @param sim the simulation the members run in.
   * @param rng the scenario's random stream (shared with the fault schedule).
   * @param shape the drawn shape: groups, state size, share of safe multicasts.
   */
  constructor(
    private readonly sim: Simulation,
    private readonly rng: SeededRng,
    private readonly shape: ScenarioShape,
  ) {}

  /** The recorder of the endpoint's current incarnation, created on first use. */
  recorderFor(ep: Endpoint): Recorder {
    const member = `${ep.id}#${ep.incarnation}`;
    let r = this.recorders.find((x) => x.member === member);
    if (r === undefined) {
      r = { member, events: [], end: 'up' };
      this.recorders.push(r);
    }
    return r;
  }

  /** Joins `group` with a fresh digest application (unless already a member) and starts its sender. */
  joinGroup(ep: Endpoint, group: string): void {
    if (ep.group(group) !== undefined) return;
    const rec = this.recorderFor(ep);
    const app: AppState = { count: 0, digest: INITIAL_DIGEST, viewId: 0 };
    const onEvent = (e: GroupEvent): void => this.onEvent(ep, group, rec, app, e);
    const checkpoint = (): Uint8Array => digestCheckpoint(app, this.shape.stateBytes);
    ep.join(group, { onEvent, checkpoint }).catch(() => undefined);
    this.startSender(ep, group, rec);
  }

  /** The digest application: applies one event of `group` and records it. */
  private onEvent(ep: Endpoint, group: string, rec: Recorder, app: AppState, e: GroupEvent): void {
    const sim = this.sim;
    const time = sim.now;
    switch (e.type) {
      case 'view':
        app.viewId = e.view.id;
        rec.events.push(viewRecord(group, e.view, time));
        break;
      case 'state': {
        this.maxStateBytes = Math.max(this.maxStateBytes, e.data.length);
        const head = readDigestCheckpoint(e.data);
        app.count = head.count;
        app.digest = head.digest;
        rec.events.push({ type: 'state', group, digest: app.digest, count: app.count, time });
        break;
      }
      case 'message': {
        const data = textDecoder.decode(e.data);
        const sender = `${e.sender}#${e.senderInc}`;
        app.digest = digestStep(app.digest, e.sender, data);
        app.count += 1;
        this.delivered += 1;
        const seq = Number(data.slice(data.lastIndexOf(':') + 1));
        rec.events.push({ type: 'message', group, viewId: app.viewId, sender, msgId: data, senderSeq: seq, safe: e.safe, time, digest: app.digest, count: app.count });
        break;
      }
      case 'blocked':
        rec.events.push({ type: 'blocked', group, time });
        break;
      case 'excluded':
        rec.events.push({ type: 'excluded', group, time });
        rec.end = 'excluded';
        // Come back: the endpoint rejoins the network by itself; rejoin the group too.
        sim.scheduler.after(50, () => {
          if (sim.isUp(ep.id) && !this.stopped.has(ep.id) && this.wants.get(ep.id)?.has(group) === true) this.joinGroup(ep, group);
        });
        break;
      default: {
        const never: never = e;
        void never;
      }
    }
  }

  /** Multicast to `group` every 30–150 ms (on the endpoint's own clock: a paused node sends nothing). */
  private startSender(ep: Endpoint, group: string, rec: Recorder): void {
    const { rng, sim } = this;
    const { groups, safeShare } = this.shape;
    const countKey = `${rec.member}:${group}`;
    const genKey = `${ep.id}:${group}`;
    const generation = (this.senderGeneration.get(genKey) ?? 0) + 1;
    this.senderGeneration.set(genKey, generation);
    const clock = sim.network.node(ep.id)?.clock;
    if (clock === undefined) return;
    const tick = (): void => {
      if (this.stopWorkload || rec.end !== 'up' || this.senderGeneration.get(genKey) !== generation) return;
      const g = ep.group(group);
      if (g === undefined) return;
      // Every fourth tick sends three multicasts in one go, so that they leave as a
      // bundle: the second to another group this endpoint is in, if any (a bundle spans
      // groups), the last in the other delivery mode when safe ones are on (a bundle
      // never mixes modes).
      const burst = (this.sentCount.get(countKey) ?? 0) % 4 === 3 ? 3 : 1;
      const firstSafe = safeShare > 0 && rng.chance(safeShare);
      for (let i = 0; i < burst && g.view !== null; i++) {
        const other = i === 1 ? groups.find((x) => x !== group && (ep.group(x)?.view ?? null) !== null) : undefined;
        if (other !== undefined) this.send(rec, ep.group(other)!, other, firstSafe);
        else this.send(rec, g, group, i === 2 && safeShare > 0 ? !firstSafe : firstSafe);
      }
      clock.setTimer(rng.between(30, 150), tick);
    };
    clock.setTimer(rng.between(1, 100), tick);
  }

  /** One multicast, recorded as a `send` (taken back if the call throws). */
  private send(rec: Recorder, g: Group, name: string, safe: boolean): void {
    const sim = this.sim;
    const key = `${rec.member}:${name}`;
    const n = (this.sentCount.get(key) ?? 0) + 1;
    this.sentCount.set(key, n);
    const msgId = `${rec.member}:${name}:${n}`;
    const sendEvent = { type: 'send' as const, group: name, msgId, senderSeq: n, safe, time: sim.now } as SendEvent;
    rec.events.push(sendEvent);
    try {
      g.multicast(textEncoder.encode(msgId), { safe }).then(
        () => {
          sendEvent.resolvedAt = sim.now;
        },
        () => undefined,
      );
    } catch {
      rec.events.pop();
      this.sentCount.set(key, n - 1);
    }
  }
}
