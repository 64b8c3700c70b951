/**
 * The endpoint's side of its group handles (`GroupPort`): a handle's multicast and
 * leave go into the core as entries, settle from the delivery queue once delivered
 * here, and what the application took is told back to the core as its acks.
 *
 * Intuition: a multicast is the hot path, so it is done without a closure: checked,
 * bounded (`ERR_BACKPRESSURE` past the pending bound), copied into the core, and sent
 * later — the multicasts of one synchronous run leave together, as bundles, in one
 * flush at its end (a microtask).
 */
import type { EndpointCore } from '../core/endpoint-core.js';
import { leavePayload } from '../core/endpoint-core.js';
import { EntryKind } from '../core/types.js';
import type { LeaveCause } from '../core/types.js';
import { ErrorCode, InputError, OptionError } from '../errors.js';
import { durabilities } from './durable-waits.js';
import type { Durability } from './durable-waits.js';
import type { CohortError } from '../errors.js';
import type { Clock } from '../runtime.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { Group, GroupPort } from './group.js';
import type { Lifecycle } from './lifecycle.js';
import { eventBytes } from './view.js';
import type { GroupEvent } from './view.js';

/** What the port needs of its endpoint. */
export interface PortHost {
  readonly clock: Clock;
  readonly delivery: DeliveryQueue;
  /** The largest multicast payload (option `messageBytesMax`). */
  readonly messageBytesMax: number;
  /** Whether it is open, and how a step runs and fails. */
  readonly life: Pick<Lifecycle, 'closed' | 'checkOpen' | 'guard' | 'fail'>;
  /** The core now (it changes on a rejoin). */
  core(): EndpointCore;
  /** Move the core's output out. */
  drive(): void;
  /** Whether a `drive` is running. */
  isDriving(): boolean;
  /** The endpoint writes its groups to disk (option `persist`). */
  readonly persists: boolean;
}

/** The endpoint's `GroupPort` (see the module's comment). */
export class EndpointPort implements GroupPort {
  readonly clock: Clock;
  readonly durableDefault: Durability;
  private readonly host: PortHost;
  private flushQueued = false;
  private readonly flushSends = (): void => {
    this.flushQueued = false;
    if (this.host.life.closed) return;
    this.host.life.guard(() => {
      this.host.core().flush(this.clock.now());
      this.host.drive();
    });
  };

  /** The port of the endpoint `host` describes. */
  constructor(host: PortHost) {
    this.host = host;
    this.clock = host.clock;
    this.durableDefault = host.persists ? 'majority' : 'none';
  }

  checkDurable(level: unknown): Durability {
    if (!durabilities.includes(level as Durability)) {
      throw new OptionError(`multicast option durable must be one of ${durabilities.map((d) => `'${d}'`).join(', ')}, got ${JSON.stringify(level)}`);
    }
    if (level !== 'none' && !this.host.persists) {
      throw new OptionError(`multicast option durable '${level as string}' needs a durable endpoint (option persist); without it, only 'none'`);
    }
    return level as Durability;
  }

  /** Queue a multicast of `data` to `group`; settles once delivered here. */
  submitMessage(group: string, data: Uint8Array, safe: boolean, durable: Durability): Promise<void> {
    const h = this.host;
    h.life.checkOpen();
    if (!(data instanceof Uint8Array)) throw new InputError(ErrorCode.badOption, 'multicast data must be a Uint8Array');
    if (data.length > h.messageBytesMax) {
      throw new InputError(ErrorCode.messageTooLarge, `message is ${data.length} bytes; the limit is ${h.messageBytesMax} (option messageBytesMax)`);
    }
    // The core copies the payload: the caller may reuse its buffer once this returns.
    // Multicasts of one synchronous run leave together, as bundles, when it ends.
    // Not through `guard`: a closure per multicast on the hot path.
    h.delivery.calls.refuseIfFull(group);
    let localId: number;
    try {
      localId = h.core().queue(this.clock.now(), EntryKind.app, group, data, safe);
    } catch (err) {
      throw h.life.fail(err);
    }
    const promise = h.delivery.calls.addMulticast(localId, data.length, group, durable);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushSends);
    }
    return promise;
  }

  /** Leave `group` for `cause`; settles once the leave is delivered here. */
  submitLeave(group: string, cause: LeaveCause = 'leave'): Promise<void> {
    let localId = 0;
    this.host.life.guard(() => {
      localId = this.host.core().submit(this.clock.now(), EntryKind.leave, group, leavePayload(cause), false);
    }, true);
    const promise = this.host.delivery.calls.addLeave(localId);
    this.host.life.guard(() => this.host.drive(), true);
    return promise;
  }

  /** The application took `event` of `g` (its handler got it, or its iterator), or it was dropped. */
  took(g: Group, event: GroupEvent): void {
    const h = this.host;
    h.delivery.fill(g, eventBytes(event), false);
    // Caught up outside a step (an iterator took it): tell the core now. (Within a
    // step, its end tells it.)
    if (!h.isDriving() && h.delivery.appQueue() !== h.delivery.toldQueue && !h.life.closed) h.life.guard(() => h.drive());
  }

  /** Resolves when `multicast` takes messages again (see `Group.ready`). */
  room(): Promise<void> {
    try {
      this.host.life.checkOpen();
    } catch (err) {
      return Promise.reject(err as CohortError);
    }
    return this.host.delivery.calls.room();
  }
}
