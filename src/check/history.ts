/**
 * What the checker judges: one history per member incarnation, as that member's
 * application saw it. The simulator records these, and `cohort check` builds them
 * from `cohort member` outputs. Everything is plain JSON-able data.
 */

/** One member incarnation's record of a run. */
export interface MemberHistory {
  /** The member's name in views and as a sender (in the simulator `id#inc`). */
  readonly member: string;
  /** The events this member's application received or did, in the order it did them. */
  readonly events: readonly HistoryEvent[];
  /** How the history ended. `up`: still running at the end of the run. */
  readonly end: 'up' | 'crashed' | 'stopped' | 'excluded';
  /** Virtual or real time (ms) of the crash, when `end` is `crashed`. */
  readonly crashedAt?: number;
}

/** Every event carries the time (ms) it happened, when known. */
export type HistoryEvent =
  | ViewEvent
  | StateEvent
  | MessageEvent
  | SendEvent
  | BlockedEvent
  | ExcludedEvent
  | LeftEvent;

/** A group view was installed. */
export interface ViewEvent {
  /** Tag. */
  readonly type: 'view';
  /** The group whose view this is. */
  readonly group: string;
  /** The view's id, strictly increasing per group. */
  readonly viewId: number;
  /** Rank order, oldest first. */
  readonly members: readonly string[];
  /** Members new in this view. */
  readonly joined: readonly string[];
  /** Members that left gracefully since the previous view. */
  readonly left: readonly string[];
  /** Members removed as failed since the previous view. */
  readonly failed: readonly string[];
  /** Why the view changed, as the member reported it (agreed: must be the same at every member). */
  readonly reason?: string;
  /**
   * The network the view belongs to (`View.network`): histories of different networks
   * are separate histories of their groups (a network founded anew after a total
   * failure starts its groups over), which must not be live at the same time (G9).
   */
  readonly network?: string;
  /** When it was installed, ms. */
  readonly time?: number;
  /** The application's state digest after this event, when known. */
  readonly digest?: string;
}

/** The joiner received and applied the group's state. */
export interface StateEvent {
  /** Tag. */
  readonly type: 'state';
  /** The group joined. */
  readonly group: string;
  /** The state's digest after applying it (equal to the provider's at the join point). */
  readonly digest: string;
  /** Messages the state reflects (the provider's running count at the join point), when known. */
  readonly count?: number;
  /** When it was applied, ms. */
  readonly time?: number;
}

/** A message was delivered. */
export interface MessageEvent {
  /** Tag. */
  readonly type: 'message';
  /** The group it was multicast to. */
  readonly group: string;
  /** The group view it was delivered in. */
  readonly viewId: number;
  /** The sender's member name (as in {@link MemberHistory.member}). */
  readonly sender: string;
  /** Unique per multicast in the whole run (e.g. `sender:group:n`). */
  readonly msgId: string;
  /** The sender's count of its multicasts to this group, from 1 (FIFO checks). */
  readonly senderSeq?: number;
  /** Whether it was a safe multicast. */
  readonly safe?: boolean;
  /** When it was delivered, ms. */
  readonly time?: number;
  /** The application's state digest after applying this message, when known. */
  readonly digest?: string;
  /** The application's running count of messages after this one, when known. */
  readonly count?: number;
}

/** This member called multicast (recorded by the sender). */
export interface SendEvent {
  /** Tag. */
  readonly type: 'send';
  /** The group multicast to. */
  readonly group: string;
  /** The multicast's id, as it appears in receivers' {@link MessageEvent.msgId}. */
  readonly msgId: string;
  /** The sender's count of its multicasts to this group, from 1. */
  readonly senderSeq?: number;
  /** Whether it was a safe multicast. */
  readonly safe?: boolean;
  /** When multicast was called, ms. */
  readonly time?: number;
  /** Time its multicast promise resolved, if it did. */
  readonly resolvedAt?: number;
}

/** The member reported that it is in a minority and blocked (G9). */
export interface BlockedEvent {
  /** Tag. */
  readonly type: 'blocked';
  /** The group concerned. */
  readonly group: string;
  /** When, ms. */
  readonly time?: number;
}

/** The member learned that the others excluded it from the group's view. */
export interface ExcludedEvent {
  /** Tag. */
  readonly type: 'excluded';
  /** The group concerned. */
  readonly group: string;
  /** When, ms. */
  readonly time?: number;
}

/** This member left the group gracefully (its leave completed). */
export interface LeftEvent {
  /** Tag. */
  readonly type: 'left';
  /** The group left. */
  readonly group: string;
  /** When the leave completed, ms. */
  readonly time?: number;
}

/** Facts about the run the checker needs for timing and liveness (G7, G8). */
export interface RunFacts {
  /** Suspicion timeout in ms: a crash must be agreed within this plus `detectBoundMs`. */
  readonly suspectTimeoutMs?: number;
  /** Allowed protocol time on top of the suspicion timeout (G8). */
  readonly detectBoundMs?: number;
  /**
   * True when the run ended with every fault healed for long enough that live
   * members must have converged (checks G7 liveness: same last view, everything
   * their live senders sent delivered).
   */
  readonly quiescent?: boolean;
  /** Digest of a new group's empty state (`cohort member`: 64 zeros). */
  readonly initialDigest?: string;
}

/** One broken guarantee. */
export interface Violation {
  /** `G1` … `G11`. */
  readonly guarantee: string;
  /** Which member(s) and where, in words. */
  readonly message: string;
  /** The group concerned, when there is one (machine-readable copy of the words). */
  readonly group?: string;
  /** The view concerned, when there is one. */
  readonly viewId?: number;
  /** The message concerned, when there is one. */
  readonly msgId?: string;
  /** The member(s) concerned (their `member` names), culprit first. */
  readonly members?: readonly string[];
}
