/**
 * The API calls that wait for their own entry's delivery here: a multicast resolves
 * once this member delivered it, a leave once the leave is delivered. Keyed by the
 * core's local id of the entry.
 *
 * Intuition: the promise of a call is the caller's proof that it has seen its entry
 * in the order, so it settles from the delivery queue, in order, never earlier. The
 * multicasts among them are bounded (`pendingMulticastsMax` and its bytes, a `Fill`):
 * past the bound `multicast` refuses with `ERR_BACKPRESSURE` rather than let a sender
 * that never awaits grow the endpoint's memory, and `Group.ready` waits until they
 * have drained to half. A durable group's multicast waits, after its delivery, until
 * it is on disk where asked (`durable-waits.ts`), and holds its room until then.
 */
import { CohortError, ErrorCode } from '../errors.js';
import { Fill } from '../fill.js';
import { DurableWaits } from './durable-waits.js';
import type { Durability, DurableWait } from './durable-waits.js';
import type { MemberRef, Position } from '../core/types.js';
import { deferred } from './promises.js';
import type { Deferred } from './promises.js';

/** A call waiting for its entry's delivery: a multicast (with its payload's bytes) or a leave. */
interface PendingCall extends Deferred<void> {
  readonly multicast: boolean;
  readonly bytes: number;
  /** A durable multicast's wait after delivery, or null. */
  wait: DurableWait | null;
}

function pendingCall(multicast: boolean, bytes: number): PendingCall {
  // Not through `deferred`: one object less per multicast.
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject, multicast, bytes, wait: null };
}

/** The calls waiting for their entry's delivery, by local id, and the bound of the multicasts among them. */
export class PendingCalls {
  private readonly pending = new Map<number, PendingCall>();
  /** The multicasts in `pending`, against `pendingMulticastsMax` (backpressure). */
  private readonly unsettled: Fill;
  /** Calls of `Group.ready` waiting for `unsettled` to drain. */
  private roomWaiters: Deferred<void>[] = [];

  /** Durable multicasts delivered and waiting to be on disk where asked. */
  readonly durable: DurableWaits;

  /** Bounded by `multicastsMax` multicasts and `bytesMax` of their payloads; `selfId` is the endpoint's id. */
  constructor(multicastsMax: number, bytesMax: number, selfId: string) {
    this.unsettled = new Fill(multicastsMax, bytesMax);
    this.durable = new DurableWaits(selfId);
  }

  /** How many calls wait. */
  get size(): number {
    return this.pending.size;
  }

  /** The local ids of the calls waiting now. */
  localIds(): number[] {
    return [...this.pending.keys()];
  }

  /** Throw `ERR_BACKPRESSURE` when a multicast to `group` must be refused (not sent). */
  refuseIfFull(group: string): void {
    const unsettled = this.unsettled;
    if (!unsettled.full) return;
    throw new CohortError(
      ErrorCode.backpressure,
      `multicast to group ${group} refused (not sent): ${unsettled.events} multicasts (${unsettled.bytes} bytes) of this endpoint are not delivered yet, the most it keeps (options pendingMulticastsMax ${unsettled.eventsMax}, pendingMulticastBytesMax ${unsettled.bytesMax}); await group.ready() before sending more`,
    );
  }

  /**
   * A multicast of `bytes` to `group` waits for the delivery of entry `localId`, and
   * then, unless `durable` is `none`, to be on disk where it says; its promise.
   */
  addMulticast(localId: number, bytes: number, group: string, durable: Durability): Promise<void> {
    const d = pendingCall(true, bytes);
    if (durable !== 'none') {
      d.wait = { level: durable, group, pos: null, members: null, done: false, settle: (err) => (err === null ? this.resolveNow(localId) : this.reject(localId, err)) };
    }
    this.pending.set(localId, d);
    this.unsettled.add(bytes);
    return d.promise;
  }

  /** Durable groups: the entries of `localIds` were delivered at `pos` (the core's `persist` event). */
  positioned(localIds: readonly number[], pos: Position): void {
    for (const id of localIds) {
      const w = this.pending.get(id)?.wait;
      if (w != null) w.pos = pos;
    }
  }

  /** Durable groups: own message `localId` was delivered in a group view of `members`. */
  deliveredAmong(localId: number, members: readonly MemberRef[]): void {
    const w = this.pending.get(localId)?.wait;
    if (w != null) w.members = members;
  }

  /** A leave waits for the delivery of entry `localId`; its promise. */
  addLeave(localId: number): Promise<void> {
    const d = pendingCall(false, 0);
    this.pending.set(localId, d);
    return d.promise;
  }

  /**
   * The entry of `localId` is delivered here: its call resolves — a durable multicast
   * once it is also on disk where asked.
   */
  resolve(localId: number): void {
    const w = this.pending.get(localId)?.wait;
    if (w != null) this.durable.delivered(w);
    else this.take(localId)?.resolve();
  }

  private resolveNow(localId: number): void {
    this.take(localId)?.resolve();
  }

  /** The call waiting for `localId` (if any) fails with `err`. */
  reject(localId: number, err: Error): void {
    this.take(localId)?.reject(err);
  }

  /** The call waiting for `localId`, no longer pending (its multicast makes room). */
  private take(localId: number): PendingCall | undefined {
    const d = this.pending.get(localId);
    if (d === undefined) return undefined;
    this.pending.delete(localId);
    if (d.wait !== null) d.wait.done = true;
    if (d.multicast) {
      const full = this.unsettled.full;
      this.unsettled.take(d.bytes);
      if (full && !this.unsettled.full) {
        const waiters = this.roomWaiters;
        this.roomWaiters = [];
        for (const w of waiters) w.resolve();
      }
    }
    return d;
  }

  /** Resolves when `multicast` takes messages again (see `Group.ready`). */
  room(): Promise<void> {
    if (!this.unsettled.full) return Promise.resolve();
    const d = deferred<void>();
    this.roomWaiters.push(d);
    return d.promise;
  }

  /** The endpoint closed: every pending call and waiter rejects with `err`. */
  rejectAll(err: Error): void {
    this.durable.rejectAll(err);
    for (const d of this.pending.values()) d.reject(err);
    this.pending.clear();
    this.unsettled.clear();
    for (const w of this.roomWaiters) w.reject(err);
    this.roomWaiters = [];
  }
}
