/**
 * What the application sees of a group: its views, the events of its ordered stream,
 * and the handlers it gives when it joins.
 *
 * Intuition: the core speaks in member references (`id#incarnation`) and agreed
 * failure records; the application wants ids in rank order and a reason it can log.
 * `toView` is that translation, done once per view and the same at every member, so
 * the one line `viewReason` makes is the same line everywhere. These types sit below
 * both the endpoint and the status document, which both speak of views and failures,
 * so neither has to import the other.
 */
import type { GroupView } from '../core/endpoint-core.js';
import type { Failure, FailureCause, LeaveCause, MemberRef } from '../core/types.js';
import type { CohortError } from '../errors.js';
import { assertNever } from '../errors.js';

/**
 * A view of a group as the application sees it: member ids in rank order, and what
 * changed since the previous view. Every member of the view receives the same views
 * in the same order (G4), each at the same point of the group's message stream (G5).
 *
 * Rank order is deterministic and the same everywhere, so it can decide roles without
 * any further messages: `members[0]` (the oldest member) is a natural leader, and a
 * member's index is its rank for partitioning work.
 */
export interface View {
  /**
   * The network this view belongs to: an identity fixed when the network was founded
   * (its founder and founding ballot, `id#incarnation/round`). A network founded anew
   * after a total failure has a new one, and its groups start over.
   */
  readonly network: string;
  /**
   * Strictly increasing per group, across its lives too: a group left by all its
   * members is forgotten, and when it is joined again its ids continue above every id
   * a forgotten group had (so they do not start at 1).
   */
  readonly id: number;
  /** Member ids, oldest first. */
  readonly members: readonly string[];
  /** Members new in this view (the joiner itself sees its own id here in its first view). */
  readonly joined: readonly string[];
  /** Members that left gracefully (`leave()` or `stop()`) since the previous view. */
  readonly left: readonly string[];
  /** Members removed since the previous view because they crashed, were cut off, or lagged. */
  readonly failed: readonly string[];
  /**
   * Why each member of `failed` was removed, in the same order. Agreed as part of the
   * view change, so every member reports the same reasons.
   */
  readonly failures: readonly MemberFailure[];
  /**
   * Why each member of `left` left, in the same order: `leave` (its application asked),
   * `handler-failed` (its `onEvent` threw or rejected, so it stopped), or
   * `checkpoint-failed` (its `checkpoint()` failed). Agreed, like `failures`.
   */
  readonly leaveCauses: readonly LeaveCause[];
  /**
   * The change in one line of text, the same at every member, e.g.
   * `"m3 failed: m1 heard nothing from it for 1012 ms (verified: it did not answer the view change)"`;
   * `"m4 joined"`; `"m2 left"`. See {@link viewReason}.
   */
  readonly reason: string;
  /** The same lists with incarnations, to tell a restarted member from its old self. */
  readonly refs: {
    /** {@link View.members} with incarnations. */
    readonly members: readonly MemberRef[];
    /** {@link View.joined} with incarnations. */
    readonly joined: readonly MemberRef[];
    /** {@link View.left} with incarnations. */
    readonly left: readonly MemberRef[];
    /** {@link View.failed} with incarnations. */
    readonly failed: readonly MemberRef[];
  };
}

/** Why a member was removed from a view as failed (see {@link View.failures}). */
export interface MemberFailure {
  /** The failed member's id. */
  readonly member: string;
  /** The failed member's incarnation. */
  readonly incarnation: number;
  /** The member whose suspicion removed it: the one that proposed the view change. */
  readonly suspectedBy: string;
  /**
   * `silence`: nothing heard for longer than the suspicion timeout; `refused`: its host
   * refused connections (the process is gone); `unresponsive`: it did not answer the
   * view change; `laggard`: alive but it held the group back for longer than the lag
   * timeout; `replaced`: it restarted as a new incarnation; `isolated`: it said it could
   * not hear a majority of the view; `slow-consumer`: it said its application stayed
   * behind (a group's queue of undelivered events full) for longer than the lag timeout.
   */
  readonly cause: FailureCause;
  /** How long `suspectedBy` had heard nothing from it when it proposed the change (ms). */
  readonly silentMs: number;
  /**
   * The suspicion was checked: the member did not answer the view change either, or
   * its new incarnation asked to join. False for a laggard, which answered.
   */
  readonly verified: boolean;
}

/**
 * One event of a group's ordered stream, as given to `onEvent` or by iterating the
 * group. A joiner's stream begins with its first `view`, then (for every joiner) a
 * `state`, then messages and further views in the group's total order.
 */
export type GroupEvent =
  | {
      /** A new view of the group was installed. */
      readonly type: 'view';
      /** The new view. */
      readonly view: View;
    }
  | {
      /**
       * The state this member starts from, received from an existing member: delivered
       * once, right after its first view. A member that starts the group — nobody in it
       * holds a state, because it is new, or everyone who had one is gone — gets no
       * `state` event: its first view is followed directly by the group's messages.
       * After a restart from the logs (durable groups), the member that restores the
       * group gets the last state its log holds here, then the messages its log holds
       * after it (marked `restored`).
       */
      readonly type: 'state';
      /** What an existing member's `checkpoint()` returned at the join point (empty when it has no `checkpoint`). */
      readonly data: Uint8Array;
    }
  /**
   * A multicast, in the group's order. `data` is a view into a buffer the endpoint may
   * still retransmit to other members: treat it as read-only, and copy it
   * (`data.slice()`) to change it.
   */
  | {
      /** A message multicast to the group. */
      readonly type: 'message';
      /** The sender's member id. */
      readonly sender: string;
      /** The sender's incarnation, to tell a restarted sender from its old self. */
      readonly senderInc: number;
      /** The payload (read-only). */
      readonly data: Uint8Array;
      /** Whether it was sent with `{ safe: true }` (held by every member before delivery). */
      readonly safe: boolean;
      /**
       * Durable groups, after a restart from the logs: a message of the group's history
       * before the restart, replayed from this member's log as part of the state it
       * restores (after its `state`, before any message of the restarted network).
       * Apply it as any other; it is not delivered anew. Absent otherwise.
       */
      readonly restored?: true;
    }
  | {
      /**
       * This member is in a minority (or alone) and cannot make progress (G9): it
       * delivers nothing until it rejoins a majority, usually as an `excluded` member.
       */
      readonly type: 'blocked';
    }
  | {
      /**
       * The others removed this member from the view. The handle is closed; the
       * endpoint rejoins as a new incarnation by itself, and the application joins
       * its groups again to get a fresh state.
       */
      readonly type: 'excluded';
    };

/** What the application gives when it joins a group. */
export interface GroupHandlers {
  /**
   * Receives the group's events one at a time, in order. Returning a promise holds
   * the next event (of every group of this endpoint) until it settles.
   */
  onEvent?: (event: GroupEvent) => void | Promise<void>;
  /**
   * Asked of one existing member at the exact point where a member joins: the state
   * the joiner starts from. Omit it for groups without state (the joiner gets an
   * empty one). If it throws, rejects or returns no `Uint8Array`, this member leaves
   * the group (`ERR_CHECKPOINT`, see `onError`) and another member provides the state;
   * if none can, the join fails with `ERR_CHECKPOINT`.
   */
  checkpoint?: () => Uint8Array | Promise<Uint8Array>;
  /**
   * On a joiner, while the group's state arrives: bytes received so far of the total,
   * for a progress bar. Called outside the group's order (the first view and the
   * `state` event wait for the whole state), at least once with `received === total`.
   * Errors thrown here are ignored.
   */
  onProgress?: (progress: StateProgress) => void;
  /**
   * Told once if `onEvent` throws or rejects (a `CohortError` with code `ERR_HANDLER`,
   * the handler's error as its `cause`). This member's replica can no longer be trusted
   * to match the others', so it delivers nothing more in the group, the calls waiting
   * on the group reject with that error, and it leaves the group (the others see it
   * leave). Without `onError` the error is logged at `error` level. Errors thrown here
   * are ignored. Join again for a fresh state.
   */
  onError?: (error: CohortError) => void;
}

/** How far a joiner's state transfer has come (see {@link GroupHandlers.onProgress}). */
export interface StateProgress {
  /** The group whose state is being transferred. */
  readonly group: string;
  /** Bytes received, a contiguous prefix of the state. */
  readonly received: number;
  /** The state's size in bytes. */
  readonly total: number;
}

/** The application's view of a group's view from the core: ids in rank order, and the agreed reasons. */
export function toView(v: GroupView): View {
  const ids = (ms: readonly MemberRef[]): string[] => ms.map((m) => m.id);
  const view = {
    network: v.network,
    id: v.id,
    members: ids(v.members),
    joined: ids(v.joined),
    left: ids(v.left),
    failed: ids(v.failed),
    failures: v.failures.map(toMemberFailure),
    leaveCauses: v.leaveCauses,
    refs: { members: v.members, joined: v.joined, left: v.left, failed: v.failed },
  };
  return { ...view, reason: viewReason(view) };
}

/** A failure record of the core as the application sees it (ids instead of references). */
export function toMemberFailure(f: Failure): MemberFailure {
  return { member: f.member.id, incarnation: f.member.inc, suspectedBy: f.by.id, cause: f.cause, silentMs: f.silentMs, verified: f.verified };
}

/** One failure in words: what happened, who saw it, and whether it was checked. */
export function describeFailure(f: MemberFailure): string {
  const check = f.verified ? 'verified: it did not answer the view change' : 'unverified';
  switch (f.cause) {
    case 'silence':
      return `${f.member} failed: ${f.suspectedBy} heard nothing from it for ${f.silentMs} ms (${check})`;
    case 'refused':
      return `${f.member} failed: its host refused ${f.suspectedBy}'s connections, its process is gone (${f.silentMs} ms after its last message; ${check})`;
    case 'unresponsive':
      return `${f.member} failed: it did not answer ${f.suspectedBy}'s view change (silent for ${f.silentMs} ms)`;
    case 'laggard':
      return `${f.member} removed by ${f.suspectedBy}: alive but too slow, it held the group back (laggard; ${check})`;
    case 'replaced':
      return `${f.member} failed: it restarted as a new incarnation`;
    case 'isolated':
      return `${f.member} removed by ${f.suspectedBy}: it said it could not hear a majority of the view (a one-way or partial cut into it; ${check})`;
    case 'slow-consumer':
      return `${f.member} removed by ${f.suspectedBy}: a slow consumer, its application stayed behind (a group's queue of undelivered events stayed full for the lag timeout; ${check})`;
    default:
      return assertNever(f.cause);
  }
}

/**
 * A view change in one line: who joined, who left gracefully, who failed and why (see
 * {@link describeFailure}). A group's view that changes none of its members says why
 * it exists: the network's view changed, and every group gets a new view then, so that
 * its views mark the flushes its messages are delivered between (and a member that
 * reported `blocked` learns its quorum is back).
 */
export function viewReason(v: Pick<View, 'joined' | 'left' | 'failed' | 'failures'> & { readonly leaveCauses?: readonly LeaveCause[] }): string {
  const parts: string[] = [];
  if (v.joined.length > 0) parts.push(`${v.joined.join(', ')} joined`);
  const plain = v.left.filter((_, i) => (v.leaveCauses?.[i] ?? 'leave') === 'leave');
  if (plain.length > 0) parts.push(`${plain.join(', ')} left`);
  v.left.forEach((m, i) => {
    const cause = v.leaveCauses?.[i] ?? 'leave';
    if (cause === 'handler-failed') parts.push(`${m} left: its onEvent handler failed, so it stopped delivering here`);
    if (cause === 'checkpoint-failed') parts.push(`${m} left: its checkpoint failed, so it could not provide a joiner's state`);
  });
  v.failed.forEach((m, i) => {
    const f = v.failures[i];
    parts.push(f === undefined ? `${m} failed` : describeFailure(f));
  });
  return parts.length === 0 ? 'no member of the group changed: the network changed its view (every group gets a new view then, a flush point for its messages)' : parts.join('; ');
}

/** The payload bytes an event holds in a delivery queue. */
export function eventBytes(e: GroupEvent): number {
  return e.type === 'message' || e.type === 'state' ? e.data.length : 0;
}
