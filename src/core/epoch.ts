/**
 * Everything that lives exactly as long as one installed view: its roster, its ordered
 * stream, its Paxos acceptor, its sequencer (rank 0 only), and what this member has
 * learnt about the view since (members restarted, blocked).
 *
 * Intuition: a view change ends an epoch and begins the next with nothing carried over
 * but what the protocol carries on purpose (own undelivered entries, sent again; the
 * group table, changed at the cut; timers and suspicions that outlive views, kept by
 * their own parts). Making a new `Epoch` per view turns "reset every per-epoch field"
 * from a list someone must keep complete into a single assignment.
 */
import type { CoreContext } from './context.js';
import { Roster } from './membership/roster.js';
import type { Progress } from './order/progress.js';
import { Sequencer } from './order/sequencer.js';
import { quorumSize } from './quorum.js';
import { OrderedStream } from './order/stream.js';
import { sameMember } from './types.js';
import type { Ballot, EndpointView, Failure, LogEntry, MemberInfo, Position, Proposal, WelcomeMsg } from './types.js';

/** The decision that began an epoch, kept to hand to members that missed it (see `Epoch.decision`). */
export interface Decision {
  readonly oldEpoch: number;
  readonly ballot: Ballot;
  readonly proposal: Proposal;
  /** The entries of the old epoch up to the cut beyond its stable prefix. */
  readonly log: LogEntry[];
  readonly welcome: WelcomeMsg;
  /** Members not yet heard in this epoch. */
  readonly waiting: Set<string>;
}
import { Acceptor } from './viewchange/acceptor.js';

/** What a new epoch's sequencer needs from the composition (see `Sequencer`). */
export interface EpochDeps {
  readonly ctx: CoreContext;
  readonly progress: Progress;
  /** What this member may report it holds. */
  readonly selfHeld: () => number;
  /** Called with each own seq as it is ordered. */
  readonly ownOrdered: (seq: number) => void;
}

/** One installed view and the state that lives as long as it (see the module comment). */
export class Epoch {
  readonly roster: Roster;
  readonly stream: OrderedStream;
  readonly acceptor = new Acceptor();
  /** This epoch's sequencer: rank 0 only. */
  readonly sequencer: Sequencer | null;
  /**
   * Members of this view whose process restarted (a new incarnation spoke to us from
   * its address): they are gone for good, and never promise or accept again.
   */
  readonly restarted = new Set<string>();
  /** A view change found no majority: this side delivers nothing (G9), reported once. */
  blockedReported = false;
  /** While blocked: when to look for a later view at the seed addresses next. */
  nextSeekAt = 0;
  /**
   * The decision that began this epoch, kept by every member that installed it until
   * each other member of the view is heard in the epoch. One that missed it (while the
   * proposer, who alone sent it, is gone, or removed itself) gets it from any of them:
   * an old member the accept — the proposal, and the entries up to the cut beyond the
   * stable prefix, which it may lack — and a new member the welcome (still current:
   * nothing of this epoch is stable before every member holds it). Without it, that
   * member never enters the epoch while the others need its promise for the next view
   * change, and a joiner that is the new coordinator waits on itself.
   */
  decision: Decision | null = null;
  /** The members of the view before (for replies to them). */
  readonly previousMembers: readonly MemberInfo[];
  /** Why the members removed by this view were removed (for group views). */
  readonly failures: readonly Failure[];
  /** The ballot whose proposal made this view (null for a welcomed joiner, and epoch 0). */
  readonly ballot: Ballot | null;

  /**
   * How many members of the view must promise (and accept) to change it: a majority —
   * or, when some members are known to be gone for good (restarted, see `restarted`)
   * and they are fewer than a majority, every member that is not (see `quorumSize` in
   * quorum.ts). So a view of two whose other member restarted can still change (it
   * removes the old incarnation, and the new one joins with state) instead of blocking.
   */
  quorumSize(): number {
    return quorumSize(this.roster.view.members.length, this.restarted.size);
  }

  /** This member's place in the order: the epoch and the last entry it delivered. */
  position(): Position {
    return { epoch: this.roster.view.epoch, gseq: this.stream.delivered };
  }

  /** The empty epoch 0 of an endpoint that is in no network yet. */
  static none(selfKey: string): Epoch {
    return new Epoch({ epoch: 0, members: [] }, selfKey, { previousMembers: [], failures: [], ballot: null }, null);
  }

  /**
   * @param how what came before and made this view (see the fields).
   * @param deps for the sequencer, when this member is rank 0.
   */
  constructor(
    view: EndpointView,
    selfKey: string,
    how: { readonly previousMembers: readonly MemberInfo[]; readonly failures: readonly Failure[]; readonly ballot: Ballot | null },
    deps: EpochDeps | null,
  ) {
    this.previousMembers = how.previousMembers;
    this.failures = how.failures;
    this.ballot = how.ballot;
    this.roster = new Roster(view, selfKey);
    this.stream = new OrderedStream(view.members.length);
    const first = view.members[0];
    this.sequencer =
      deps !== null && first !== undefined && sameMember(first, deps.ctx.self)
        ? new Sequencer(deps.ctx, this.roster, this.stream, deps.progress, deps.selfHeld, deps.ownOrdered)
        : null;
  }
}
