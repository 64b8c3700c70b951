/**
 * The delivery queue: what the protocol delivered, handed to the application one job at
 * a time, in the endpoint's single delivery order across all its groups; it settles
 * the calls (multicasts, leaves, see `pending-calls.ts`) that wait for their own
 * entry's turn in that order.
 *
 * Intuition: the core delivers in bursts, within a step; the application takes events
 * at its own pace, and a handler that returns a promise holds the next job (of any
 * group) until it settles. So the core's output is queued as jobs, and `pump` runs
 * them until one must be awaited. A multicast's promise settles when its own delivery
 * has been handed over, so a caller that awaits it has seen it delivered. Each group's
 * undelivered events are counted against `deliveryQueueMax` (a `Fill`); when one is
 * full the core is told (`setAppQueue`), and this member stops acknowledging, so flow
 * control makes the senders wait for the slow application instead of letting the
 * queue grow without bound.
 *
 * The queue knows the endpoint only through a `DeliveryHost`: its groups, its drive
 * loop, and the few core calls a job makes (a checkpoint's state, a failed provision).
 */
import type { AppQueue, GroupView } from '../core/endpoint-core.js';
import type { LeaveCause, MemberRef, Position } from '../core/types.js';
import { ClosedError, CohortError, ErrorCode, assertNever } from '../errors.js';
import type { LogLevel } from '../log.js';
import { retireGroupCounters } from '../ops/endpoint-metrics.js';
import type { EndpointCounters } from '../ops/endpoint-metrics.js';
import type { Group } from './group.js';
import { PendingCalls } from './pending-calls.js';
import { callCheckpoint, takeLogCheckpoint } from './log-checkpoint.js';
import type { LogCheckpoints } from './log-checkpoint.js';
import { eventBytes, toView } from './view.js';
import type { GroupEvent } from './view.js';

/** An application event of a group, queued for its handler or iterator. */
type EventJob = {
  readonly kind: 'event';
  readonly group: string;
  /** The handle whose delivery queue counts it (see `queueEvent`). */
  readonly handle: Group | undefined;
  /** When the protocol delivered it (clock ms): see `eventAt`. */
  readonly at: number;
  readonly event: GroupEvent;
  readonly localId: number | null;
  readonly firstView: boolean;
  readonly rejoining?: boolean;
};

/** A checkpoint to take for a joiner, at the join's position in the order. */
type CheckpointJob = { readonly kind: 'checkpoint'; readonly group: string; readonly joiner: MemberRef; readonly pos: Position };

/** Durable groups: a checkpoint to take for the log, at a checkpoint round's position. */
type PersistCheckpointJob = { readonly kind: 'persist-checkpoint'; readonly group: string; readonly pos: Position };

/** One queued application event, or a checkpoint to take, in delivery order. */
export type Job =
  | EventJob
  | CheckpointJob
  | PersistCheckpointJob
  | { readonly kind: 'left'; readonly group: string; readonly localId: number }
  | { readonly kind: 'state-lost'; readonly group: string }
  | { readonly kind: 'resolve'; readonly localId: number }
  | { readonly kind: 'fail-pending'; readonly error: Error; readonly localIds: readonly number[] };

/** What the delivery queue needs of its endpoint. */
export interface DeliveryHost {
  /** Durable groups: where the log's checkpoints go (see `DurableStore`); absent in memory. */
  readonly persistCheckpoint?: LogCheckpoints;
  /** The endpoint's group handles by name; the queue removes those it is out of for good. */
  readonly groups: Map<string, Group>;
  /** The endpoint's counters, whose per-group entries go with their group. */
  readonly counters: EndpointCounters;
  /** A failed handler ends the process (option `onHandlerError: 'exit'`). */
  readonly exitOnHandlerError: boolean;
  /** Whether the endpoint is closed. */
  isClosed(): boolean;
  /** Run the endpoint's loop (which pumps this queue again). */
  drive(): void;
  /** The application took `event` of `g` (see `EndpointPort.took`). */
  took(g: Group, event: GroupEvent): void;
  /** Whether the core can be told how the application's queues stand now (in a view, open). */
  canTellAppQueue(): boolean;
  /** Tell the core how the application's queues stand. */
  tellAppQueue(q: AppQueue): void;
  /** Give the core the state a checkpoint returned for `joiner` (guarded, then drive). */
  provideState(group: string, joiner: MemberRef, pos: Position, data: Uint8Array): void;
  /** Tell the core this member cannot provide `group`'s state (guarded, then drive). */
  abandonProvision(group: string): void;
  /** Write a diagnostic line. */
  log(line: string, level: LogLevel, fields?: Readonly<Record<string, unknown>>): void;
}

/** The endpoint's delivery queue and its pending calls (see the module's comment). */
export class DeliveryQueue {
  /** The queued jobs, oldest first. */
  readonly jobs: Job[] = [];
  /** Calls waiting for their entry's delivery. */
  readonly calls: PendingCalls;
  /** When the current step began (clock ms): the delivery time of the events it queues. */
  stepAt = 0;
  /** When the protocol delivered the event being handed to the application (clock ms). */
  eventAt = 0;
  /** What the core was last told of the application's queues (`setAppQueue`). */
  toldQueue: AppQueue = 'ok';
  private dispatching = false;
  /** Groups served by the current core whose delivery queue is full (see `Fill`). */
  private fullGroups = 0;
  /** Of those, the groups whose queue is at or above its bound now. */
  private overGroups = 0;
  private readonly host: DeliveryHost;
  private readonly groups: Map<string, Group>;

  /** A queue for `host`, its multicasts bounded by `pendingMulticasts` and `pendingBytes`; `selfId` is the endpoint's id. */
  constructor(host: DeliveryHost, pendingMulticasts: number, pendingBytes: number, selfId: string) {
    this.host = host;
    this.groups = host.groups;
    this.calls = new PendingCalls(pendingMulticasts, pendingBytes, selfId);
  }

  // ---------------------------------------------------------------- queueing

  /** Queue a job that is not a group's event. */
  push(job: Exclude<Job, EventJob>): void {
    this.jobs.push(job);
  }

  /** Queue an event of group `name` for the application; `g`, its handle, counts it in its delivery queue. */
  queueEvent(name: string, g: Group | undefined, event: GroupEvent, localId: number | null, firstView = false, rejoining = false): void {
    this.jobs.push({ kind: 'event', group: name, handle: g, at: this.stepAt, event, localId, firstView, rejoining });
    if (g !== undefined) this.fill(g, eventBytes(event), true);
  }

  /** A new view of a group this endpoint has a handle of. */
  onView(group: string, view: GroupView): void {
    const g = this.groups.get(group);
    if (g === undefined) return;
    const firstView = !g.hasView;
    g.hasView = true;
    this.queueEvent(group, g, { type: 'view', view: toView(view) }, null, firstView);
  }

  /** A message delivered by the protocol; `localId` when it is this endpoint's own. */
  onMessage(group: string, sender: MemberRef, data: Uint8Array, safe: boolean, localId: number | null, restored = false): void {
    const g = this.groups.get(group);
    if (g === undefined || g.left) {
      if (localId !== null) this.jobs.push({ kind: 'resolve', localId });
      return;
    }
    g.counters.delivered++;
    g.counters.deliveredBytes += data.length;
    const event: GroupEvent = restored ? { type: 'message', sender: sender.id, senderInc: sender.inc, data, safe, restored } : { type: 'message', sender: sender.id, senderInc: sender.inc, data, safe };
    this.queueEvent(group, g, event, localId);
  }

  /** Out of `group` from here on in the stream: no blocked/excluded for it. */
  onGroupLeft(group: string, localId: number): void {
    const g = this.groups.get(group);
    if (g !== undefined) {
      g.left = true;
      this.unserve(g);
    }
    this.jobs.push({ kind: 'left', group, localId });
  }

  /** A joiner's state arrives: tell the group's `onProgress`, outside the order. */
  onStateProgress(group: string, received: number, total: number): void {
    const onProgress = this.groups.get(group)?.handlers.onProgress;
    try {
      onProgress?.({ group, received, total });
    } catch (err) {
      this.host.log(`onProgress of ${group} threw: ${String(err)}`, 'error');
    }
  }

  /** This member is in a minority: every group with a view and not left hears it. */
  onBlocked(): void {
    for (const g of this.groups.values()) {
      if (g.hasView && !g.left) this.queueEvent(g.name, g, { type: 'blocked' }, null);
    }
  }

  /**
   * Excluded: what is pending fails after the deliveries queued already, every group
   * hears `excluded`, and those that go on as the new incarnation (`rejoin`) are
   * returned, to be joined again; the others close after their queued events.
   */
  onExcluded(err: ClosedError, rejoin: boolean): Group[] {
    // Multicasts still pending fail, but only after the deliveries already queued
    // (some of them are these multicasts' own): a caller must not resend what it saw.
    this.jobs.push({ kind: 'fail-pending', error: err, localIds: this.calls.localIds() });
    const rejoining: Group[] = [];
    for (const g of [...this.groups.values()]) {
      if (g.left) continue;
      if (rejoin && !g.isLeaving && g.failed === null) {
        // Back in as the new incarnation: the handle stays, its events go on.
        if (g.hasView) this.queueEvent(g.name, g, { type: 'excluded' }, null, false, true);
        rejoining.push(g);
        continue;
      }
      if (g.hasView) {
        // The handle ends after the events queued before the exclusion; from now on it
        // sends nothing (the new incarnation is not in the group).
        g.refusing = new ClosedError(`excluded from group ${g.name}`, ErrorCode.excluded);
        this.queueEvent(g.name, g, { type: 'excluded' }, null);
      } else {
        // Its join never completed: the join fails, and there is no stream to end.
        g.close(err);
        this.dropGroup(g.name);
      }
    }
    // The new core serves only the groups that rejoin; their queues start over if full.
    for (const g of this.groups.values()) this.unserve(g);
    this.toldQueue = 'ok';
    for (const g of rejoining) {
      if (g.backlog.full) this.dropUndelivered(g);
      this.serve(g);
    }
    return rejoining;
  }

  /**
   * After an exclusion, `g` rejoins with a fresh state: if its application was behind,
   * the events it had not taken yet are dropped — the new view and state supersede
   * them — so a consumer too slow for the group catches up at once instead of falling
   * further behind with every incarnation (and its memory stays bounded). Kept: its
   * first view (its join resolves with it) and the `excluded` that says what happened.
   */
  private dropUndelivered(g: Group): void {
    let kept = 0;
    let dropped = 0;
    for (let i = 0; i < this.jobs.length; i++) {
      const j = this.jobs[i]!;
      if (j.kind === 'event' && j.handle === g && !j.firstView && j.event.type !== 'excluded') dropped++;
      else this.jobs[kept++] = j;
    }
    this.jobs.length = kept;
    dropped += g.dropBuffered();
    const bytes = g.backlog.bytes;
    g.backlog.clear();
    for (const j of this.jobs) if (j.kind === 'event' && j.handle === g) g.backlog.add(eventBytes(j.event));
    this.host.log(`group ${g.name}: ${dropped} undelivered events dropped (${bytes} bytes): the application was behind at the exclusion, and the view and state it rejoins with supersede them`, 'warn', { group: g.name });
  }

  // ---------------------------------------------------------------- the groups' delivery queues

  /** One event of `bytes` more (`add`) or less in `g`'s delivery queue. */
  fill(g: Group, bytes: number, add: boolean): void {
    const f = g.backlog;
    const full = f.full;
    const over = f.over;
    if (add) f.add(bytes);
    else f.take(bytes);
    if (!g.served) return;
    if (f.full !== full) this.fullGroups += f.full ? 1 : -1;
    if (f.over !== over) this.overGroups += f.over ? 1 : -1;
  }

  /** `g` gets events from the current core again (it rejoins): its queue counts. */
  private serve(g: Group): void {
    if (g.served) return;
    g.served = true;
    if (g.backlog.full) this.fullGroups++;
    if (g.backlog.over) this.overGroups++;
  }

  /** `g` gets no more events from the core (it was left, failed, or the endpoint excluded): its queue holds nobody back. */
  unserve(g: Group): void {
    if (!g.served) return;
    g.served = false;
    if (g.backlog.full) this.fullGroups--;
    if (g.backlog.over) this.overGroups--;
  }

  /** The application's queues, for the core: see `AppQueue`. */
  appQueue(): AppQueue {
    return this.overGroups > 0 ? 'over' : this.fullGroups > 0 ? 'full' : 'ok';
  }

  /** Tell the core how the application's queues stand, when that changed; true if it did. */
  syncBehind(): boolean {
    const q = this.appQueue();
    if (q === this.toldQueue || !this.host.canTellAppQueue()) return false;
    if (this.toldQueue === 'ok') {
      const full = [...this.groups.values()].filter((g) => g.served && g.backlog.full);
      this.host.log(`the application is behind in ${full.map((g) => `${g.name} (${g.backlog.events} events, ${g.backlog.bytes} bytes undelivered)`).join(', ')}: acknowledgements wait for it`, 'debug');
    }
    this.toldQueue = q;
    this.host.tellAppQueue(q);
    return true;
  }

  /** Out of group `name` for good: its handle and its per-group counters go. */
  dropGroup(name: string): void {
    const g = this.groups.get(name);
    if (g !== undefined) this.unserve(g);
    this.groups.delete(name);
    retireGroupCounters(this.host.counters, name);
  }

  // ---------------------------------------------------------------- running the jobs

  /** Dispatch queued jobs one at a time; an async handler holds the queue. */
  pump(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.jobs.length > 0) {
        const job = this.jobs.shift()!;
        const result = this.runJob(job);
        if (result !== undefined) {
          result.then(
            () => this.resume(),
            (err: unknown) => {
              this.host.log(`handler failed: ${String(err)}`, 'error');
              this.resume();
            },
          );
          return;
        }
      }
      this.dispatching = false;
    } catch (err) {
      this.dispatching = false;
      throw err;
    }
  }

  private resume(): void {
    this.dispatching = false;
    this.host.drive();
  }

  /** Run one job; returns a promise when it must be awaited before the next. */
  private runJob(job: Job): Promise<void> | undefined {
    switch (job.kind) {
      case 'resolve':
        this.calls.resolve(job.localId);
        return undefined;
      case 'fail-pending':
        for (const id of job.localIds) this.calls.reject(id, job.error);
        return undefined;
      case 'left':
        this.runLeft(job.group, job.localId);
        return undefined;
      case 'checkpoint':
        return this.runCheckpoint(job);
      case 'persist-checkpoint':
        return this.runPersistCheckpoint(job);
      case 'state-lost':
        this.runStateLost(job.group);
        return undefined;
      case 'event':
        return this.runEvent(job);
      default:
        return assertNever(job);
    }
  }

  /** The leave of `group` was delivered: the handle closes, and the leave's caller is told. */
  private runLeft(group: string, localId: number): void {
    const g = this.groups.get(group);
    if (g !== undefined) {
      g.left = true;
      this.dropGroup(group);
      g.finish();
    }
    this.calls.resolve(localId);
  }

  /** Take the group's checkpoint for a joiner and give it to the core (awaited when it is a promise). */
  private runCheckpoint(job: CheckpointJob): Promise<void> | undefined {
    const g = this.groups.get(job.group);
    if (g?.failed != null) return undefined;
    const give = (data: Uint8Array): void => {
      if (!(data instanceof Uint8Array)) return this.checkpointFailed(job.group, `returned ${typeof data}, not a Uint8Array`);
      this.host.provideState(job.group, job.joiner, job.pos, data);
    };
    return callCheckpoint(g?.handlers.checkpoint, give, (how, err) => this.checkpointFailed(job.group, how, err));
  }

  /** Take the group's checkpoint for the durable log, in its turn (see `log-checkpoint.ts`). */
  private runPersistCheckpoint(job: PersistCheckpointJob): Promise<void> | undefined {
    const p = this.host.persistCheckpoint;
    if (p === undefined) return undefined;
    return takeLogCheckpoint(job.group, job.pos, this.groups.get(job.group), p, (line) => this.host.log(line, 'warn'));
  }

  /** The group's state is gone with its last holder: this member cannot have it, and leaves. */
  private runStateLost(group: string): void {
    const g = this.groups.get(group);
    if (g === undefined || g.failed !== null) return;
    const err = new CohortError(ErrorCode.checkpoint, `group ${group} has a state, but the last member that had it could not provide it (its checkpoint failed): this member leaves the group again`);
    this.failGroup(g, err, null, 'leave');
  }

  /** Hand an event to its group's handle (awaited when its handler returns a promise). */
  private runEvent(job: EventJob): Promise<void> | undefined {
    const g = job.handle;
    if (g === undefined || this.groups.get(job.group) !== g) {
      if (g !== undefined) this.host.took(g, job.event);
      if (job.localId !== null) this.calls.resolve(job.localId);
      return undefined;
    }
    if (g.failed !== null) {
      // Its handler failed: this member delivers nothing more in the group (what it
      // would deliver, its state may no longer reflect) while it leaves.
      this.host.took(g, job.event);
      if (job.localId !== null) this.calls.reject(job.localId, g.failed);
      if (job.event.type === 'excluded') this.dropGroup(g.name);
      return undefined;
    }
    let r: void | Promise<void>;
    this.eventAt = job.at;
    try {
      r = g.deliver(job.event);
    } catch (err) {
      this.handlerFailed(g, job, err, 'threw');
      return undefined;
    }
    const after = (): void => {
      if (job.localId !== null) this.calls.resolve(job.localId);
      if (job.firstView) g.joined.resolve(g);
      if (job.event.type === 'excluded' && job.rejoining !== true) {
        g.close(new ClosedError(`excluded from group ${g.name}`, ErrorCode.excluded));
        this.dropGroup(g.name);
      }
    };
    if (r instanceof Promise) return r.then(after, (err: unknown) => this.handlerFailed(g, job, err, 'rejected'));
    after();
    return undefined;
  }

  // ---------------------------------------------------------------- failures of the application

  /**
   * A group's `onEvent` threw or rejected: its replica of the group's state may now
   * differ from the others', so it must not go on as if it did not. Delivery in the
   * group stops here, the calls waiting on it reject with `ERR_HANDLER`, the handle
   * reports it (`onError`, else the log at error level), and the member leaves the
   * group — an agreed view change for the others.
   */
  private handlerFailed(g: Group, job: { readonly event: GroupEvent; readonly localId: number | null }, cause: unknown, how: 'threw' | 'rejected'): void {
    const err = new CohortError(
      ErrorCode.handler,
      `the onEvent handler of group ${g.name} ${how} on a ${job.event.type} event (${cause instanceof Error ? cause.message : String(cause)}): this member stops delivering in ${g.name} and leaves it`,
      { cause },
    );
    this.failGroup(g, err, job.localId, 'handler-failed');
    if (this.host.exitOnHandlerError) {
      process.stderr.write(`cohort: ${err.message}; exiting (option onHandlerError: 'exit')\n`);
      process.exit(1);
    }
  }

  /**
   * A provider's `checkpoint()` failed: never a made-up (empty) state. This member
   * leaves the group at once, though it owes joiners their state (`abandonProvision`):
   * another member that has the state provides it, or the joiners fail with
   * `ERR_CHECKPOINT` if none has. Here, the group fails as after a handler failure.
   */
  private checkpointFailed(group: string, how: string, cause?: unknown): void {
    const g = this.groups.get(group);
    if (g === undefined || g.failed !== null) return;
    const err = new CohortError(ErrorCode.checkpoint, `the checkpoint of group ${group} ${how}: a joiner's state cannot come from this member, which leaves the group`, cause === undefined ? undefined : { cause });
    this.failGroup(g, err, null, null);
    if (this.host.isClosed() || g.left) return;
    this.host.abandonProvision(group);
  }

  /** Stop delivery in `g`: calls waiting on it reject with `err`, the handle is told, and (with `leave`) the member leaves. */
  private failGroup(g: Group, err: CohortError, localId: number | null, leave: LeaveCause | null): void {
    g.failed = err;
    this.unserve(g);
    this.host.log(err.message, 'error', { group: g.name });
    if (localId !== null) this.calls.reject(localId, err);
    g.close(err);
    if (g.handlers.onError !== undefined) {
      try {
        g.handlers.onError(err);
      } catch {
        // Its own failure changes nothing: the group is being left already.
      }
    }
    if (leave !== null && !this.host.isClosed() && !g.left) g.leaveAfterFailure(leave);
  }
}
