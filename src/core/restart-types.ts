/**
 * Durable groups: what a restart from the logs says on the wire (`restart`, and the
 * restored groups of a restart's proposal and welcome). See `membership/restart.ts`.
 */
import type { Ballot, EndpointView, MemberRef, Position } from './refs.js';

/** A group a restart from the logs restores, and which member of the view restores it (its rank). */
export interface Restored {
  readonly group: string;
  readonly by: number;
}

/** A view a restarting member accepted after the last it installed. */
export interface RestartVote {
  readonly view: EndpointView;
  readonly ballot: Ballot;
  /** Accepted as a founding (a restart's), which every member of `view` must accept. */
  readonly founding: boolean;
}

/** One group as a restarting member's log ends with it: its members then. */
export interface RestartGroup {
  readonly name: string;
  readonly members: readonly MemberRef[];
  /**
   * Its members are those before an earlier restart from the logs: nobody joined it
   * since, and it awaits the member of that restart that restores it (whose log holds
   * all of it).
   */
  readonly carried: boolean;
}

/**
 * Durable groups: a member restarting from its log, to the members of its last view
 * and the seeds, while no network runs. With a majority of that view (and of each
 * group's last view) restarting alike, the smallest id among them proposes the
 * restart: a founding of the next view, whose first member — the longest log —
 * restores the groups' state (docs/design.md, "Restart after a total failure").
 */
export interface RestartMsg {
  readonly t: 'restart';
  readonly from: MemberRef;
  readonly addr: string;
  /** Its incarnation in the network it restarts. */
  readonly was: MemberRef;
  /** The last view it installed (its log says so). */
  readonly last: EndpointView;
  /** A later view it accepted (its vote file says so), or null. */
  readonly vote: RestartVote | null;
  /** How far its log holds the total order. */
  readonly end: Position;
  /** Each group at the end of its log. */
  readonly groups: readonly RestartGroup[];
  /** The groups whose state its log holds. */
  readonly restorable: readonly string[];
}
