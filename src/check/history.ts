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
  readonly type: 'view';
  readonly group: string;
  readonly viewId: number;
  /** Rank order, oldest first. */
  readonly members: readonly string[];
  readonly joined: readonly string[];
  readonly left: readonly string[];
  readonly failed: readonly string[];
  /** Why the view changed, as the member reported it (agreed: must be the same at every member). */
  readonly reason?: string;
  readonly time?: number;
  /** The application's state digest after this event, when known. */
  readonly digest?: string;
}

/** The joiner received and applied the group's state. */
export interface StateEvent {
  readonly type: 'state';
  readonly group: string;
  /** The state's digest after applying it (equal to the provider's at the join point). */
  readonly digest: string;
  readonly count?: number;
  readonly time?: number;
}

/** A message was delivered. */
export interface MessageEvent {
  readonly type: 'message';
  readonly group: string;
  /** The group view it was delivered in. */
  readonly viewId: number;
  readonly sender: string;
  /** Unique per multicast in the whole run (e.g. `sender:group:n`). */
  readonly msgId: string;
  /** The sender's count of its multicasts to this group, from 1 (FIFO checks). */
  readonly senderSeq?: number;
  readonly safe?: boolean;
  readonly time?: number;
  /** The application's state digest after applying this message, when known. */
  readonly digest?: string;
  readonly count?: number;
}

/** This member called multicast (recorded by the sender). */
export interface SendEvent {
  readonly type: 'send';
  readonly group: string;
  readonly msgId: string;
  readonly senderSeq?: number;
  readonly safe?: boolean;
  readonly time?: number;
  /** Time its multicast promise resolved, if it did. */
  readonly resolvedAt?: number;
}

export interface BlockedEvent {
  readonly type: 'blocked';
  readonly group: string;
  readonly time?: number;
}

export interface ExcludedEvent {
  readonly type: 'excluded';
  readonly group: string;
  readonly time?: number;
}

/** This member left the group gracefully (its leave completed). */
export interface LeftEvent {
  readonly type: 'left';
  readonly group: string;
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
