/**
 * The Paxos acceptor of one epoch's view change, at every member.
 *
 * Intuition: a view change is single-decree Paxos per epoch. Promising a ballot
 * *wedges* this member — it stops delivering until the next view is installed — and
 * freezes what it *vouches* for: the held prefix it reports in its promise, which acks
 * and heartbeats never exceed until the next view, since the proposer builds its cut
 * from the promises (an old sequencer that missed the prepare must not count on
 * anything this member came to hold later: it would commit beyond the cut, G2, G6).
 * Accepting a proposal also keeps the entries of the cut that came with it, which this
 * member may have lacked. A lower ballot than the one promised is rejected; a commit
 * (`accept` with `commit`) is the whole decision, taken whatever was promised.
 *
 * A new acceptor is made for every view; the admission checks (who may send what in
 * which phase) and the replies stay with the composition.
 */
import { compareBallots } from '../types.js';
import type { AcceptMsg, Ballot, LogEntry, Proposal } from '../types.js';

/** One epoch's acceptor state (see the module comment). */
export class Acceptor {
  promised: Ballot | null = null;
  acceptedBallot: Ballot | null = null;
  accepted: Proposal | null = null;
  /** Since when a view change holds delivery (null: not wedged). */
  wedgedAt: number | null = null;
  /** When this member last promised or accepted a ballot (null: never this epoch). */
  votedAt: number | null = null;
  /**
   * The held prefix this member vouched for when it first promised or accepted a ballot
   * of this epoch; null before (see the module comment).
   */
  vouched: number | null = null;
  /** Entries of the cut received with an accept (what this member lacked). */
  readonly acceptedLog = new Map<number, LogEntry>();

  /**
   * A prepare of `ballot`, while this member holds `held`: the ballot promised that
   * rejects it, or null when it is promised now.
   */
  onPrepare(now: number, ballot: Ballot, held: number): Ballot | null {
    const promised = this.promised;
    if (promised !== null && compareBallots(ballot, promised) < 0) return promised;
    this.promised = ballot;
    this.vote(now, held);
    return null;
  }

  /**
   * An accept (or a commit), while this member holds `held`: the ballot promised that
   * rejects it, or null when it is accepted now.
   */
  onAccept(now: number, msg: AcceptMsg, held: number): Ballot | null {
    const promised = this.promised;
    if (!msg.commit && promised !== null && compareBallots(msg.ballot, promised) < 0) return promised;
    for (const e of msg.log) if (e.payload !== null) this.acceptedLog.set(e.gseq, e);
    if (promised === null || compareBallots(msg.ballot, promised) > 0) this.promised = msg.ballot;
    this.acceptedBallot = msg.ballot;
    this.accepted = msg.proposal;
    this.vote(now, held);
    return null;
  }

  private vote(now: number, held: number): void {
    this.votedAt = now;
    if (this.wedgedAt === null) this.wedgedAt = now;
    if (this.vouched === null) this.vouched = held;
  }

  /** The proposal accepted with `ballot`, if that is the ballot accepted. */
  acceptedWith(ballot: Ballot): Proposal | null {
    if (this.acceptedBallot === null || compareBallots(this.acceptedBallot, ballot) !== 0) return null;
    return this.accepted;
  }

  /** Not among the founders after all: forget the founding votes (the log and the vouched prefix stay). */
  forgetVotes(): void {
    this.promised = null;
    this.acceptedBallot = null;
    this.accepted = null;
    this.wedgedAt = null;
    this.votedAt = null;
  }
}
