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
 * have drained to half.
 */
import { CohortError, ErrorCode } from '../errors.js';
import { Fill } from '../fill.js';
import { deferred } from './promises.js';
import type { Deferred } from './promises.js';

/** A call waiting for its entry's delivery: a multicast (with its payload's bytes) or a leave. */
interface PendingCall extends Deferred<void> {
  readonly multicast: boolean;
  readonly bytes: number;
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
  return { promise, resolve, reject, multicast, bytes };
}

/** The calls waiting for their entry's delivery, by local id, and the bound of the multicasts among them. */
export class PendingCalls {
  private readonly pending = new Map<number, PendingCall>();
  /** The multicasts in `pending`, against `pendingMulticastsMax` (backpressure). */
  private readonly unsettled: Fill;
  /** Calls of `Group.ready` waiting for `unsettled` to drain. */
  private roomWaiters: Deferred<void>[] = [];

  /** Bounded by `multicastsMax` multicasts and `bytesMax` of their payloads. */
  constructor(multicastsMax: number, bytesMax: number) {
    this.unsettled = new Fill(multicastsMax, bytesMax);
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

  /** A multicast of `bytes` waits for the delivery of entry `localId`; its promise. */
  addMulticast(localId: number, bytes: number): Promise<void> {
    const d = pendingCall(true, bytes);
    this.pending.set(localId, d);
    this.unsettled.add(bytes);
    return d.promise;
  }

  /** A leave waits for the delivery of entry `localId`; its promise. */
  addLeave(localId: number): Promise<void> {
    const d = pendingCall(false, 0);
    this.pending.set(localId, d);
    return d.promise;
  }

  /** The call waiting for `localId` (if any) is done: it resolves. */
  resolve(localId: number): void {
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
    for (const d of this.pending.values()) d.reject(err);
    this.pending.clear();
    this.unsettled.clear();
    for (const w of this.roomWaiters) w.reject(err);
    this.roomWaiters = [];
  }
}
