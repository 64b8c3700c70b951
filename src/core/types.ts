/**
 * The vocabulary of the protocol core: members, views, ballots, positions and every
 * protocol message. Everything here is plain data, so that the wire codec
 * (`src/wire/`), the simulator and the TCP transport all speak the same language.
 *
 * Nouns follow docs/guarantees.md: a *member* is one incarnation of an endpoint (`id` plus
 * `inc`); a *view* is an epoch and its members in rank order (oldest first, the first
 * one is the coordinator and sequencer); the *cut* is the last global sequence number
 * of a view that every member of the next view delivers.
 */

import type { Ballot, EndpointView, MemberRef, Position } from './refs.js';
import type { Restored, RestartMsg } from './restart-types.js';
export type { Ballot, EndpointView, MemberInfo, MemberRef, Position } from './refs.js';
export type { Restored, RestartGroup, RestartMsg, RestartVote } from './restart-types.js';

/** What the ordered stream carries besides application messages. */
export const EntryKind = {
  /** An application message of `group`. */
  app: 0,
  /** The sender joins `group` (a group view change at this position). */
  join: 1,
  /** The sender leaves `group` gracefully. */
  leave: 2,
  /** The sender has applied the state of `group` it was waiting for. */
  stateDone: 3,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** A multicast as sent by its sender, before it has a place in the global order. */
export interface DataMsg {
  readonly t: 'data';
  readonly from: MemberRef;
  readonly epoch: number;
  /** The original sender (differs from `from` when the coordinator retransmits). */
  readonly sender: MemberRef;
  /** Sender's sequence number in this epoch, from 1, no gaps. */
  readonly seq: number;
  readonly kind: EntryKind;
  readonly group: string;
  /** Safe delivery: delivered only once every member of the view holds it. */
  readonly safe: boolean;
  /**
   * Sent to the sequencer alone, which passes it on to the other members in the same
   * write as its order record (a lone multicast: one write less for its sender, one
   * wake-up less for every other member).
   */
  readonly relay: boolean;
  readonly payload: Uint8Array;
}

/** A multicast with its place in the global order: what a flush exchanges. */
export interface LogEntry {
  /** Global sequence number in the epoch, from 1, no gaps. */
  readonly gseq: number;
  readonly sender: MemberRef;
  readonly seq: number;
  readonly kind: EntryKind;
  readonly group: string;
  readonly safe: boolean;
  /** `null` when the reporter knows the order of this entry but not its data. */
  readonly payload: Uint8Array | null;
}

/** Sequencer's order record: global sequence `first + i` is `entries[i]`. */
export interface OrderEntry {
  /** Rank of the sender in the current view. */
  readonly rank: number;
  readonly seq: number;
}

/**
 * Why a member was removed as failed:
 * - `silence`: nothing heard from it for longer than the suspicion timeout;
 * - `refused`: its host refused connections (nothing listens at its address: the
 *   process is gone);
 * - `unresponsive`: not suspected before, but it did not answer the view change;
 * - `laggard`: alive, but it held the order window shut for longer than the lag
 *   timeout;
 * - `replaced`: it came back as a new incarnation (it restarted);
 * - `isolated`: it said, for longer than the suspicion timeout, that it heard fewer
 *   than a majority of the view (a one-way or partial cut into it);
 * - `slow-consumer`: it said, for longer than the lag timeout, that its application
 *   was behind (a group's queue of undelivered events stayed full).
 */
export type FailureCause = 'silence' | 'refused' | 'unresponsive' | 'laggard' | 'replaced' | 'isolated' | 'slow-consumer';

/**
 * Why a member left a group of its own accord: `leave`, the application asked;
 * `handler-failed`, its `onEvent` threw or rejected (its replica may differ, so it
 * stopped); `checkpoint-failed`, its `checkpoint()` failed, so it could not provide a
 * joiner's state. Carried by the leave entry itself, so every member reports the same.
 */
export type LeaveCause = 'leave' | 'handler-failed' | 'checkpoint-failed';

/** The agreed reason a member was removed as failed: part of the proposal, so every member reports the same. */
export interface Failure {
  readonly member: MemberRef;
  /** The member whose suspicion removed it: the proposer of the view change. */
  readonly by: MemberRef;
  readonly cause: FailureCause;
  /** How long `by` had heard nothing from it when it proposed the change (ms). */
  readonly silentMs: number;
  /**
   * The suspicion was checked: the member did not answer the view change either
   * (`silence`, `refused`, `unresponsive`), or its new incarnation asked to join
   * (`replaced`). False for a `laggard`, which answered but could not keep up.
   */
  readonly verified: boolean;
}

/** A change of membership proposed for the next view (epoch + 1). */
export interface Proposal {
  readonly view: EndpointView;
  /** The last global sequence number of the old epoch delivered before `view`. */
  readonly cut: number;
  readonly joined: readonly MemberRef[];
  readonly left: readonly MemberRef[];
  readonly failed: readonly MemberRef[];
  /** One per member of `failed`, in the same order. */
  readonly failures: readonly Failure[];
  /**
   * A restart from the logs (durable groups) only: the groups whose state members of
   * the view restore from their logs, each by the longest log that holds it (see
   * `RestartMsg`). Empty for every other view.
   */
  readonly restored: readonly Restored[];
}

/** One group in the replicated group table. */
export interface GroupRecord {
  readonly name: string;
  /** Group view id; strictly increases with every change of the group's members. */
  readonly viewId: number;
  /** Rank order, oldest first. */
  readonly members: readonly MemberRef[];
  /** Members that joined and have not yet said (in order) that they applied the state. */
  readonly awaiting: readonly AwaitingState[];
}

/** A joiner waiting for the state of a group, and who owes it. */
export interface AwaitingState {
  readonly member: MemberRef;
  /** The provider, or `null` if no member was left to provide it. */
  readonly provider: MemberRef | null;
  /** The position the checkpoint is taken at. */
  readonly pos: Position;
}

/** Every message the protocol exchanges. `from` is the sending member. */
export type Message =
  | ProbeMsg
  | ProbeReplyMsg
  | JoinReqMsg
  | LeaveReqMsg
  | HeartbeatMsg
  | AckMsg
  | DataMsg
  | OrderMsg
  | NakMsg
  | PrepareMsg
  | PromiseMsg
  | RejectMsg
  | AcceptMsg
  | AcceptedMsg
  | CommitMsg
  | InstalledMsg
  | WelcomeMsg
  | NotMemberMsg
  | JoinRefusedMsg
  | StateChunkMsg
  | StateAckMsg
  | StatusReqMsg
  | StatusReplyMsg
  | PersistedMsg
  | RestartMsg;

/** Bootstrap discovery: "who are you, and are you in a network already?" */
export interface ProbeMsg {
  readonly t: 'probe';
  readonly from: MemberRef;
  readonly addr: string;
  /** Sorted, deduplicated seed addresses plus the sender's own: the founding quorum. */
  readonly config: readonly string[];
}

export interface ProbeReplyMsg {
  readonly t: 'probe-reply';
  readonly from: MemberRef;
  readonly addr: string;
  readonly config: readonly string[];
  /**
   * The sender's installed view when it is a member of a network (its coordinator is
   * `members[0]`); epoch 0 and no members while it is bootstrapping or joining.
   */
  readonly view: EndpointView;
  /**
   * The sender is joining a network (so it is in no founding): it names no network,
   * since what it knows of one is hearsay, but it is not bootstrapping either.
   */
  readonly joining: boolean;
}

/** A new member asks to be added to the network's view. */
export interface JoinReqMsg {
  readonly t: 'join-req';
  readonly from: MemberRef;
  readonly addr: string;
}

/** A member asks to be removed from the view without waiting for a timeout (G11). */
export interface LeaveReqMsg {
  readonly t: 'leave-req';
  readonly from: MemberRef;
  readonly epoch: number;
}

/** Liveness, and what the coordinator has ordered and made stable. */
export interface HeartbeatMsg {
  readonly t: 'heartbeat';
  readonly from: MemberRef;
  readonly epoch: number;
  /** Highest global sequence number the sender knows to exist. */
  readonly ordered: number;
  /** Highest global sequence number known stable (held by every member). */
  readonly stable: number;
  /** Highest global sequence number known committed (held by a majority). */
  readonly committed: number;
  /** The sender's contiguous held prefix. */
  readonly held: number;
  /**
   * The sender hears a majority of its view. False: it is cut off from most of the
   * view (it may still be heard, over a one-way link), so it cannot serve the view;
   * members that keep hearing this for the suspicion timeout suspect it.
   */
  readonly hears: boolean;
  /**
   * The sender's application is behind: a group's queue of undelivered events is full,
   * so the sender holds back its acknowledgements (flow control slows the senders).
   * Members that keep hearing this for the lag timeout remove it (`slow-consumer`).
   */
  readonly behind: boolean;
}

/** A member tells the sequencer how far it holds the ordered stream. */
export interface AckMsg {
  readonly t: 'ack';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly held: number;
}

export interface OrderMsg {
  readonly t: 'order';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly first: number;
  readonly entries: readonly OrderEntry[];
  readonly stable: number;
  /** Prefix held by a majority of the view: what may be delivered (agreed order). */
  readonly committed: number;
}

/** Ask the sequencer to resend the order and data of global sequence numbers [first, last]. */
export interface NakMsg {
  readonly t: 'nak';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly first: number;
  readonly last: number;
}

/** Phase 1 of a view change: "stop delivering, promise ballot, tell me what you hold". */
export interface PrepareMsg {
  readonly t: 'prepare';
  readonly from: MemberRef;
  /** The epoch being changed (the proposal is for epoch + 1). */
  readonly epoch: number;
  readonly ballot: Ballot;
  /** For epoch 0 (founding) only: the proposer's founding quorum; empty otherwise. */
  readonly config: readonly string[];
}

export interface PromiseMsg {
  readonly t: 'promise';
  readonly from: MemberRef;
  readonly addr: string;
  readonly epoch: number;
  readonly ballot: Ballot;
  /** The proposal this acceptor accepted for epoch + 1 with the highest ballot, if any. */
  readonly acceptedBallot: Ballot | null;
  readonly accepted: Proposal | null;
  /** Contiguous prefix of the ordered stream this acceptor holds. */
  readonly held: number;
  /** Stable sequence number this acceptor knows of. */
  readonly stable: number;
  /** What it holds beyond `stable`, in gseq order. */
  readonly log: readonly LogEntry[];
  /**
   * Per member of the view, in rank order: ms since the promiser last heard from it (0
   * for itself). Lets a proposer tell a member that is gone (nobody hears it) from one
   * that only the proposer cannot hear (then the proposer is the one cut off).
   */
  readonly heardAgoMs: readonly number[];
}

/** The acceptor has promised a higher ballot. */
export interface RejectMsg {
  readonly t: 'reject';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly ballot: Ballot;
  readonly promised: Ballot;
}

/** Phase 2: "accept this next view and the cut; here is what you lack of it". */
export interface AcceptMsg {
  readonly t: 'accept';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly ballot: Ballot;
  readonly proposal: Proposal;
  /** The entries up to the cut that the receiver lacks. */
  readonly log: readonly LogEntry[];
  /** True when the proposal is already chosen: install it at once. */
  readonly commit: boolean;
}

export interface AcceptedMsg {
  readonly t: 'accepted';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly ballot: Ballot;
}

/** The proposal accepted under `ballot` is chosen: install it. */
export interface CommitMsg {
  readonly t: 'commit';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly ballot: Ballot;
}

/** A member installed `epoch` (stops commit retransmission). */
export interface InstalledMsg {
  readonly t: 'installed';
  readonly from: MemberRef;
  readonly epoch: number;
}

/** To a new member: the view it was added to and the group table at that point. */
export interface WelcomeMsg {
  readonly t: 'welcome';
  readonly from: MemberRef;
  readonly view: EndpointView;
  readonly joined: readonly MemberRef[];
  readonly left: readonly MemberRef[];
  readonly failed: readonly MemberRef[];
  readonly failures: readonly Failure[];
  readonly groups: readonly GroupRecord[];
  /**
   * The group table's `viewIdFloor`: the highest view id of a group dropped (emptied)
   * so far. A group created later starts above it at every endpoint, the joiner too.
   */
  readonly groupViewIdFloor: number;
  /** Which network this is: fixed at its founding (see `EndpointCore.network`). */
  readonly network: string;
  /** A restart from the logs: the proposal's `restored` groups (empty for any other view). */
  readonly restored: readonly Restored[];
}

/** "Epoch `epoch` exists and you are not in it": the receiver was excluded or is unknown. */
export interface NotMemberMsg {
  readonly t: 'not-member';
  readonly from: MemberRef;
  readonly epoch: number;
  /** The member this notice is about (so a stale incarnation can tell it is not itself). */
  readonly to: MemberRef;
}

/**
 * The coordinator refuses a join: `live`, a member of the view with the joiner's id, is
 * alive at another address, so `to` is a second process with the same id, not a
 * restart of it.
 */
export interface JoinRefusedMsg {
  readonly t: 'join-refused';
  readonly from: MemberRef;
  /** The refused joiner. */
  readonly to: MemberRef;
  /** The live member that holds the id. */
  readonly live: MemberRef;
}

/**
 * Durable groups: the sender has on disk every entry it delivered up to `pos` (and the
 * state of every group it is in at `pos`). Sent to every member of the view after each
 * flush to disk, so that each sender can tell when its message is on disk at a majority
 * (or all) of its group's members.
 */
export interface PersistedMsg {
  readonly t: 'persisted';
  readonly from: MemberRef;
  readonly epoch: number;
  readonly pos: Position;
}

/** A piece of a group's checkpoint, streamed from the provider to a joiner. */
export interface StateChunkMsg {
  readonly t: 'state-chunk';
  readonly from: MemberRef;
  readonly group: string;
  readonly joiner: MemberRef;
  readonly pos: Position;
  readonly offset: number;
  readonly total: number;
  readonly data: Uint8Array;
}

/** The joiner holds the checkpoint up to `offset` bytes. */
export interface StateAckMsg {
  readonly t: 'state-ack';
  readonly from: MemberRef;
  readonly group: string;
  readonly pos: Position;
  readonly offset: number;
}

/**
 * An operator's probe (`cohort status`) asks an endpoint for its status document. Not
 * a protocol message: the `Endpoint` answers it and the core never sees it, so a
 * prober is never a member, never suspected and never in a view. `from` is the
 * prober's own name (not a member of anything).
 */
export interface StatusReqMsg {
  readonly t: 'status-req';
  readonly from: MemberRef;
  /** Chosen by the prober; the reply carries it back. */
  readonly id: number;
}

/** The answer to a `status-req`: the status document as JSON, in UTF-8. */
export interface StatusReplyMsg {
  readonly t: 'status-reply';
  readonly from: MemberRef;
  /** The request's `id`. */
  readonly id: number;
  /** `JSON.stringify` of a `StatusDocument` (`src/ops/status.ts`), at most `STATUS_DOC_BYTES_MAX` bytes. */
  readonly doc: Uint8Array;
}

/** The canonical string key of a member, e.g. `ctl-1#17`. */
export function memberKey(m: MemberRef): string {
  return `${m.id}#${m.inc}`;
}

/** Just the member's identity (`id`, `inc`) of a `MemberInfo` or any other `MemberRef`: what goes on the wire. */
export function memberRef(m: MemberRef): MemberRef {
  return { id: m.id, inc: m.inc };
}

export function sameMember(a: MemberRef, b: MemberRef): boolean {
  return a.id === b.id && a.inc === b.inc;
}

/** Negative, zero or positive as `a` orders before, with or after `b`. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round - b.round;
  return a.proposer < b.proposer ? -1 : a.proposer > b.proposer ? 1 : 0;
}

/** The last position before `p`: the one before it in its epoch, or the end of the epoch before. */
export function positionBefore(p: Position): Position {
  return p.gseq > 0 ? { epoch: p.epoch, gseq: p.gseq - 1 } : { epoch: p.epoch - 1, gseq: Number.MAX_SAFE_INTEGER };
}

export function comparePositions(a: Position, b: Position): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.gseq - b.gseq;
}
