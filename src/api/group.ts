/**
 * A group handle: what the application holds of its membership of one group — send
 * (`multicast`), `leave`, wait for room (`ready`), and the group's events, given to its
 * `onEvent` handler or taken by iterating the handle.
 *
 * Intuition: the handle is thin. Ordering, delivery and the bounds live in the
 * endpoint; the handle checks a call's arguments, hands it on through a `GroupPort`,
 * and keeps what belongs to this group alone: its last view, the events its iterator
 * has not taken yet, and whether it is closed and why. It knows the endpoint only
 * through that port, so the endpoint can import it without closing a circle.
 */
import type { LeaveCause } from '../core/types.js';
import { ClosedError, CohortError, ErrorCode, OptionError } from '../errors.js';
import type { Fill } from '../fill.js';
import type { GroupCounters } from '../ops/endpoint-metrics.js';
import type { Clock } from '../runtime.js';
import { checkSignal } from './option-checks.js';
import { deferred, settleWithin } from './promises.js';
import type { Deferred } from './promises.js';
import type { GroupEvent, GroupHandlers, View } from './view.js';
import type { Durability } from './durable-waits.js';

/** What a group handle needs of its endpoint (`EndpointPort` in `group-port.ts` is one). */
export interface GroupPort {
  /** The endpoint's clock, for the handle's timeouts. */
  readonly clock: Clock;
  /** A multicast's durability when its options name none ('majority' with `persist`, else 'none'). */
  readonly durableDefault: Durability;
  /** `level` as a multicast's durability, or an `OptionError` (only 'none' without `persist`). */
  checkDurable(level: unknown): Durability;
  /** Queue a multicast of `data` to `group`; settles once delivered here (and on disk where `durable` says). */
  submitMessage(group: string, data: Uint8Array, safe: boolean, durable: Durability): Promise<void>;
  /** Leave `group` for `cause`; settles once the leave is delivered here. */
  submitLeave(group: string, cause?: LeaveCause): Promise<void>;
  /** The application took `event` of `group` (its handler got it, or its iterator). */
  took(group: Group, event: GroupEvent): void;
  /** Resolves when `multicast` takes messages again. */
  room(): Promise<void>;
}

/** Options of a multicast. */
export interface MulticastOptions {
  /**
   * Safe delivery: the message is delivered (and the promise resolves) only once every
   * member of the view holds it, so it survives its sender's crash (G7).
   * @default false
   */
  readonly safe?: boolean;
  /**
   * Durable groups (endpoint option `persist`): the promise resolves once the message
   * is delivered here and on disk at this member (`'local'`), at a majority of the
   * members of the group's view it was delivered in (`'majority'`), or at all of them
   * (`'all'`); `'none'` resolves at delivery, as without `persist`. A group's durable
   * multicasts resolve in the order they were sent. Rejects with `ERR_NOT_DURABLE` if
   * too many of those members leave the network before they have it on disk.
   * @default 'majority' with `persist` (what survives the crash of every member once a
   * majority is back, like an etcd write), else 'none' (and only 'none' is allowed)
   */
  readonly durable?: Durability;
  /**
   * Stops waiting: the promise rejects with `ERR_ABORTED`. The message was handed to
   * the total order already and may still be delivered, to every member alike.
   */
  readonly signal?: AbortSignal;
}

/** Options of `Group.leave` and `Endpoint.stop`. */
export interface LeaveOptions {
  /**
   * `Group.leave`: stop waiting (rejects with `ERR_ABORTED`; the leave goes on).
   * `Endpoint.stop`: give up the graceful stop and close at once, as a crash would
   * (the others remove this endpoint after their timeout); rejects with `ERR_ABORTED`.
   */
  readonly signal?: AbortSignal;
}

/** The default of `multicast`'s options, shared: nothing to allocate per call. */
const noMulticastOptions: MulticastOptions = Object.freeze({});

/**
 * A handle on this endpoint's membership of one group.
 *
 * Also an async iterator over the group's events when no `onEvent` handler was given:
 * `for await (const e of group) { … }`.
 */
export class Group implements AsyncIterable<GroupEvent> {
  /** The group's name. */
  readonly name: string;
  /** @internal */ readonly handlers: GroupHandlers;
  /** @internal */ readonly joined = deferred<Group>();
  /** @internal */ hasView = false;
  /** @internal */ left = false;
  /** @internal Set when `onEvent` failed: the group delivers nothing more and is being left. */
  failed: CohortError | null = null;
  /** @internal What this handle multicast and delivered (shared with the endpoint's metrics). */
  readonly counters: GroupCounters;
  /** @internal Events delivered by the protocol and not yet taken by the application. */
  readonly backlog: Fill;
  /** @internal The endpoint's current core delivers into this handle (false once excluded, unless it rejoins). */
  served = true;
  private readonly port: GroupPort;
  private closedError: Error | null = null;
  /**
   * @internal Set at an exclusion the handle does not survive (option `rejoin: false`):
   * the calls refuse with it at once, while the events queued before the exclusion
   * are still delivered (the handle closes after them).
   */
  refusing: Error | null = null;
  private leaving: Promise<void> | null = null;

  /** @internal A leave was asked for. */
  get isLeaving(): boolean {
    return this.leaving !== null;
  }
  private currentView: View | null = null;
  private readonly buffered: GroupEvent[] = [];
  private waiter: Deferred<IteratorResult<GroupEvent>> | null = null;

  /** @internal */
  constructor(port: GroupPort, name: string, handlers: GroupHandlers, counters: GroupCounters, backlog: Fill) {
    this.port = port;
    this.name = name;
    this.handlers = handlers;
    this.counters = counters;
    this.backlog = backlog;
  }

  /** The last view delivered to this handle, or `null` before the first. */
  get view(): View | null {
    return this.currentView;
  }

  /**
   * Multicast `data` to the group in total order. Resolves once this member has
   * delivered it (after its handler processed it), in order.
   * @throws InputError when `data` is too large; ClosedError after leave, stop or exclusion.
   */
  multicast(data: Uint8Array, options: MulticastOptions = noMulticastOptions): Promise<void> {
    if (this.closedError !== null) throw this.closedError;
    if (this.refusing !== null) throw this.refusing;
    if (this.leaving !== null) throw new ClosedError(`group ${this.name} is being left`);
    if (options === null || typeof options !== 'object') throw new OptionError('multicast options must be an object');
    // for-in, not Object.keys: no array per multicast on the hot path.
    for (const k in options) {
      if (k !== 'safe' && k !== 'signal' && k !== 'durable') throw new OptionError(`unknown multicast option ${k}`, ErrorCode.unknownOption);
    }
    const safe = options.safe;
    if (safe !== undefined && safe !== true && safe !== false) throw new OptionError(`multicast option safe must be a boolean, got ${JSON.stringify(safe)}`);
    const signal = options.signal;
    if (signal !== undefined && (!(signal instanceof AbortSignal) || signal.aborted)) {
      checkSignal(signal);
      throw new CohortError(ErrorCode.aborted, `multicast to group ${this.name} aborted before it was sent`, { cause: signal.reason });
    }
    const durable = options.durable === undefined ? this.port.durableDefault : this.port.checkDurable(options.durable);
    const p = this.port.submitMessage(this.name, data, safe === true, durable);
    this.counters.multicasts++;
    this.counters.multicastBytes += data.length;
    if (signal === undefined) return p;
    return settleWithin(this.port.clock, p, 0, signal, () => new CohortError(ErrorCode.aborted, `multicast to group ${this.name} aborted: no longer waited for (it may still be delivered)`, { cause: signal.reason }));
  }

  /**
   * Leave the group gracefully: a view change for the others, without a timeout (G11).
   * With `signal`: an abort stops the waiting (rejects with `ERR_ABORTED`); the leave goes on.
   */
  leave(options: LeaveOptions = {}): Promise<void> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (this.refusing !== null) return Promise.reject(this.refusing);
    const signal = checkSignal(options?.signal);
    if (this.leaving === null) this.leaving = this.port.submitLeave(this.name);
    if (signal === undefined) return this.leaving;
    return settleWithin(this.port.clock, this.leaving, 0, signal, () => new CohortError(ErrorCode.aborted, `leave of group ${this.name} no longer waited for (the leave goes on)`, { cause: signal.reason }));
  }

  /**
   * Wait until `multicast` takes messages again: at once, unless this endpoint's
   * multicasts not yet delivered reached `pendingMulticastsMax` (or its bytes), until
   * they have drained to half of it. For a sender that does not await each multicast:
   * `await group.ready(); void group.multicast(bytes);`.
   * With `signal`: an abort stops the waiting (rejects with `ERR_ABORTED`).
   */
  ready(options: LeaveOptions = {}): Promise<void> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (this.refusing !== null) return Promise.reject(this.refusing);
    const signal = checkSignal(options?.signal);
    const room = this.port.room();
    if (signal === undefined) return room;
    return settleWithin(this.port.clock, room, 0, signal, () => new CohortError(ErrorCode.aborted, `wait for room to multicast to group ${this.name} aborted`, { cause: signal.reason }));
  }

  /** @internal */
  deliver(event: GroupEvent): void | Promise<void> {
    if (event.type === 'view') this.currentView = event.view;
    if (this.handlers.onEvent !== undefined) {
      this.port.took(this, event);
      return this.handlers.onEvent(event);
    }
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      this.port.took(this, event);
      w.resolve({ value: event, done: false });
    } else {
      this.buffered.push(event);
    }
    return undefined;
  }

  /** @internal Drop the events the iterator has not taken yet (see `DeliveryQueue.dropUndelivered`); returns how many. */
  dropBuffered(): number {
    const n = this.buffered.length;
    this.buffered.length = 0;
    return n;
  }

  /** @internal Leave after a failed handler: `leave()` itself refuses once closed. */
  leaveAfterFailure(cause: LeaveCause): void {
    if (this.leaving === null) this.leaving = this.port.submitLeave(this.name, cause);
    this.leaving.catch(() => undefined);
  }

  /** @internal */
  finish(): void {
    this.close(new ClosedError(`group ${this.name} was left`));
  }

  /** @internal */
  close(err: Error): void {
    // The first reason stands: a group left after its handler failed stays failed.
    this.closedError ??= err;
    if (this.waiter !== null) {
      this.waiter.resolve({ value: undefined, done: true });
      this.waiter = null;
    }
    this.joined.reject(err);
  }

  /**
   * The group's events, when it was joined without `onEvent`: `for await (const e of
   * group)`. Ends after the group is left, or the endpoint stopped or excluded. Events
   * wait for the iterator; when `deliveryQueueMax` of them wait, this member stops
   * acknowledging, so the group's senders wait for it (and it is removed as a slow
   * consumer if that lasts `lagTimeoutMs`).
   */
  [Symbol.asyncIterator](): AsyncIterator<GroupEvent> {
    return {
      next: (): Promise<IteratorResult<GroupEvent>> => {
        const e = this.buffered.shift();
        if (e !== undefined) {
          this.port.took(this, e);
          return Promise.resolve({ value: e, done: false });
        }
        if (this.closedError !== null) return Promise.resolve({ value: undefined, done: true });
        this.waiter = deferred();
        return this.waiter.promise;
      },
    };
  }
}
