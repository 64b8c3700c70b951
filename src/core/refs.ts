/**
 * The protocol's most basic names: a member (`MemberRef`, with its address
 * `MemberInfo`), a view (`EndpointView`), a ballot, and a position in the ordered
 * stream. Everything else in `types.ts` is built of these.
 */
/** One incarnation of an endpoint. `id` is the user's name; `inc` tells restarts apart. */
export interface MemberRef {
  /** The member's name (`EndpointOptions.id`). */
  readonly id: string;
  /** Incarnation: a non-negative integer below 2^53, new at each (re)start. */
  readonly inc: number;
}

/** A member and the transport address where it can be reached. */
export interface MemberInfo extends MemberRef {
  /** Its transport address (`host:port` over TCP, a name in the simulator). */
  readonly addr: string;
}

/** An endpoint-level view: the heavyweight membership that every group rides on. */
export interface EndpointView {
  /** Strictly increasing; 1 is the founding view of a network. */
  readonly epoch: number;
  /** Rank order, oldest first. `members[0]` is the coordinator and sequencer. */
  readonly members: readonly MemberInfo[];
}

/** Orders competing proposals for the same next view (Paxos ballot). */
export interface Ballot {
  readonly round: number;
  /** `memberKey()` of the proposer; breaks ties between equal rounds. */
  readonly proposer: string;
}

/** A point in the endpoint's ordered stream: the event after which something happens. */
export interface Position {
  readonly epoch: number;
  /** Global sequence number; 0 means "at the installation of `epoch`". */
  readonly gseq: number;
}
