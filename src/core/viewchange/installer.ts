/**
 * This member as acceptor and learner of view changes: answer `prepare` and `accept`,
 * and install a decided view — from a commit, a whole accept, or a welcome.
 *
 * Intuition: a `prepare` of a ballot at least as high as any promised wedges this
 * member (it delivers and sends nothing more of the old epoch) and is answered with a
 * promise: what it holds beyond the stable prefix, and any proposal it accepted. An
 * `accept` is recorded and acknowledged (or, with `commit`, installed at once). To
 * install is to deliver the old epoch up to the agreed cut, remove the departed from
 * every group, and enter the new epoch (`Epoch`); a member not in the decided view
 * instead joins the network founded without it, stops after its leave, or learns it
 * is excluded. A new member enters from the welcome: the view, the group table and the
 * network's identity. Every member keeps the decision until each other member is heard
 * in the new epoch, to hand it to one that missed it (see `Epoch.decision`).
 */
import { assert } from '../../errors.js';
import type { CoreContext } from '../context.js';
import { Epoch } from '../epoch.js';
import type { EpochDeps } from '../epoch.js';
import type { EntryDelivery } from '../groups/entry-delivery.js';
import { GroupTable } from '../groups/group-table.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Admission } from '../membership/admission.js';
import type { Bootstrap } from '../membership/bootstrap.js';
import type { FailureDetector } from '../membership/failure-detector.js';
import type { Membership } from '../membership/membership.js';
import type { Replies } from '../membership/replies.js';
import type { MemberOrder } from '../order/member-order.js';
import type { Progress } from '../order/progress.js';
import type { SendWindow } from '../order/send-window.js';
import { memberKey, sameMember } from '../types.js';
import type { AcceptMsg, Ballot, EndpointView, Failure, InstalledMsg, MemberRef, Message, PrepareMsg, PromiseMsg, Proposal, Restored, WelcomeMsg } from '../types.js';
import type { Proposer } from './proposer.js';

/** The parts installing a view reads and resets. */
export interface InstallerParts {
  readonly life: Lifecycle;
  readonly order: MemberOrder;
  readonly membership: Membership;
  readonly sender: SendWindow;
  readonly proposer: Proposer;
  readonly progress: Progress;
  readonly detector: FailureDetector;
  readonly bootstrap: Bootstrap;
  readonly admission: Admission;
  readonly delivery: EntryDelivery;
  readonly replies: Replies;
  /** What each new epoch's sequencer needs. */
  readonly epochDeps: EpochDeps;
}

/** What installing needs of the composition. */
export interface InstallerHost {
  /** Send to `addr`; to this endpoint's own address, handle it at once. */
  sendTo(now: number, addr: string, msg: Message): void;
}

/** This member's acceptor and learner (see the module comment). */
export class Installer {
  private readonly life: Lifecycle;
  private readonly parts: InstallerParts;

  constructor(
    private readonly ctx: CoreContext,
    parts: InstallerParts,
    private readonly host: InstallerHost,
  ) {
    this.life = parts.life;
    this.parts = parts;
  }

  private get epoch(): Epoch {
    return this.life.epoch;
  }

  // ----------------------------------------------------------------- acceptor

  /** Whether a prepare or accept of `epoch` from `from` reaches this member's acceptor; answers the stale. */
  private admits(now: number, from: MemberRef, epoch: number, addr: string): boolean {
    if (this.life.phase !== 'member') return false;
    const k = memberKey(from);
    const roster = this.epoch.roster;
    if (epoch < roster.view.epoch) {
      if (!roster.rank.has(k)) this.parts.replies.notMember(now, this.epoch, from, addr);
      else if (epoch + 1 === roster.view.epoch) this.parts.replies.resendCommit(now, this.epoch, from, addr);
      return false;
    }
    if (epoch > roster.view.epoch || !roster.rank.has(k)) return false;
    this.parts.detector.heard(now, k);
    return true;
  }

  onPrepare(now: number, from: string, msg: PrepareMsg): void {
    if (msg.epoch === 0) {
      if (this.life.phase !== 'bootstrapping') {
        this.parts.membership.answerProbe(from);
        return;
      }
      // A restarting member takes part only in the restart of its network (restart.ts).
      const restart = this.parts.bootstrap.restart;
      if (restart !== null ? !restart.admitsPrepare(msg.from, msg.config) : !this.parts.bootstrap.sameQuorum(msg.config)) return;
    } else if (!this.admits(now, msg.from, msg.epoch, from)) return;
    const epoch = this.epoch;
    const promised = epoch.acceptor.onPrepare(now, msg.ballot, epoch.stream.held);
    if (promised !== null) {
      this.host.sendTo(now, from, { t: 'reject', from: this.ctx.self, epoch: msg.epoch, ballot: msg.ballot, promised });
      return;
    }
    this.parts.proposer.seen(msg.ballot.round);
    this.parts.proposer.onHigherBallot(now, msg.ballot);
    if (this.life.isCoordinator()) epoch.sequencer!.flush();
    this.host.sendTo(now, from, this.promise(now, msg));
  }

  /** The promise this member gives `msg`'s ballot: what it holds beyond the stable prefix, and what it accepted. */
  private promise(now: number, msg: PrepareMsg): PromiseMsg {
    const { acceptor, stream, roster } = this.epoch;
    const detector = this.parts.detector;
    return {
      t: 'promise',
      from: this.ctx.self,
      addr: this.ctx.addr,
      epoch: msg.epoch,
      ballot: msg.ballot,
      acceptedBallot: acceptor.acceptedBallot,
      accepted: acceptor.accepted,
      held: stream.held,
      stable: stream.stable,
      log: stream.holdings(acceptor.acceptedLog),
      heardAgoMs: this.life.phase === 'member' ? roster.keys.map((k) => (k === this.ctx.selfKey ? 0 : detector.heardAgoMs(now, k))) : [],
    };
  }

  onAccept(now: number, msg: AcceptMsg): void {
    const k = memberKey(msg.from);
    if (msg.epoch === 0) {
      if (this.life.phase !== 'bootstrapping') return;
      // A founding that does not name this incarnation was prepared with an earlier
      // one (restarted since). Accepting it would make every later founding proposer
      // propose it again (Paxos), founding a network of processes that are gone.
      if (!msg.proposal.view.members.some((m) => sameMember(m, this.ctx.self))) return;
    } else {
      if (this.life.phase !== 'member') return;
      if (msg.epoch !== this.epoch.roster.view.epoch || !this.epoch.roster.rank.has(k)) {
        if (msg.epoch + 1 === this.epoch.roster.view.epoch && msg.commit) this.sayInstalled(msg.from, msg.proposal);
        return;
      }
      this.parts.detector.heard(now, k);
    }
    const promised = this.epoch.acceptor.onAccept(now, msg, this.epoch.stream.held);
    if (promised !== null) {
      this.sendToMember(msg.from, msg.proposal, { t: 'reject', from: this.ctx.self, epoch: msg.epoch, ballot: msg.ballot, promised });
      return;
    }
    this.parts.proposer.seen(msg.ballot.round);
    // Durable groups: the vote is on disk before the answer (or the install) goes out.
    if (this.ctx.persist) this.ctx.out.emit({ type: 'vote', epoch: msg.epoch, ballot: msg.ballot, view: msg.proposal.view });
    if (msg.commit) {
      this.install(now, msg.ballot, msg.proposal);
      return;
    }
    if (sameMember(msg.from, this.ctx.self)) this.parts.proposer.onAccepted(now, this.ctx.self, msg.epoch, msg.ballot);
    else this.sendToMember(msg.from, msg.proposal, { t: 'accepted', from: this.ctx.self, epoch: msg.epoch, ballot: msg.ballot });
  }

  onCommit(now: number, from: MemberRef, epoch: number, ballot: Ballot): void {
    if (this.life.phase !== 'member') return;
    if (epoch !== this.epoch.roster.view.epoch) {
      if (epoch + 1 === this.epoch.roster.view.epoch) this.sayInstalled(from, null);
      return;
    }
    const proposal = this.epoch.acceptor.acceptedWith(ballot);
    if (proposal !== null) this.install(now, ballot, proposal);
  }

  /** A member says it installed epoch `msg.epoch`: the proposer need not send it the decision again. */
  onInstalled(now: number, msg: InstalledMsg): void {
    const last = this.parts.proposer.lastInstall;
    if (last !== null && msg.epoch === last.proposal.view.epoch) last.waiting.delete(memberKey(msg.from));
    if (this.life.phase === 'member' && msg.epoch === this.epoch.roster.view.epoch && this.epoch.roster.rank.has(memberKey(msg.from))) {
      this.parts.detector.heard(now, memberKey(msg.from));
    }
  }

  /** Member `k` was heard in this epoch: it needs the decision that began it no more. */
  heardInEpoch(k: string): void {
    const decision = this.epoch.decision;
    if (decision !== null && decision.waiting.delete(k) && decision.waiting.size === 0) this.epoch.decision = null;
  }

  private sayInstalled(to: MemberRef, proposal: Proposal | null): void {
    this.sendToMember(to, proposal, { t: 'installed', from: this.ctx.self, epoch: this.epoch.roster.view.epoch });
  }

  /** Send to a member known from the current or previous view, a proposal, or bootstrap. */
  private sendToMember(to: MemberRef, proposal: Proposal | null, msg: Message): void {
    if (sameMember(to, this.ctx.self)) return;
    const info =
      this.epoch.roster.view.members.find((m) => sameMember(m, to)) ??
      this.epoch.previousMembers.find((m) => sameMember(m, to)) ??
      proposal?.view.members.find((m) => sameMember(m, to));
    const addr = info?.addr ?? this.parts.bootstrap.addrOf(memberKey(to));
    if (addr !== undefined) this.ctx.out.send(addr, msg);
  }

  // ----------------------------------------------------------------- learner

  /**
   * Install a decided view: deliver the old epoch up to the cut, change every group,
   * then enter the new epoch — or, not in the view, join the network founded without
   * us, stop (a graceful leave), or learn we are excluded. Returns the welcome a
   * proposer sends to new members.
   */
  install(now: number, ballot: Ballot, proposal: Proposal): WelcomeMsg {
    const oldEpoch = this.epoch.roster.view.epoch;
    // A restart from the logs founds the epoch after the last one of its network.
    assert(proposal.view.epoch === oldEpoch + 1 || (oldEpoch === 0 && proposal.view.epoch > 1), `install of epoch ${proposal.view.epoch} at epoch ${oldEpoch}`);
    // 1. The agreed end of the old epoch: deliver up to the cut, even if wedged.
    this.parts.order.deliverToCut(now, proposal.cut);
    const decidedLog = oldEpoch === 0 ? [] : this.epoch.stream.holdings(this.epoch.acceptor.acceptedLog).filter((e) => e.gseq <= proposal.cut);
    // 2. The membership change, in every group.
    const departed = new Map<string, 'left' | 'failed'>();
    for (const m of proposal.left) departed.set(memberKey(m), 'left');
    for (const m of proposal.failed) departed.set(memberKey(m), 'failed');
    const delivery = this.parts.delivery;
    const changes = delivery.table.removeEndpoints(departed, { epoch: proposal.view.epoch, gseq: 0 });
    const restoreLost = delivery.restore.onRemoved(new Set(departed.keys()));
    if (restoreLost !== null) this.ctx.out.log(restoreLost, 'error');
    if (oldEpoch === 0) this.life.network = `${ballot.proposer}/${ballot.round}`;
    const welcome = this.welcomeOf(proposal);
    if (!proposal.view.members.some((m) => sameMember(m, this.ctx.self))) {
      this.leaveDecided(now, ballot, proposal, oldEpoch);
      return welcome;
    }
    // 3. A new epoch begins.
    if (oldEpoch === 0) delivery.restore.begin(proposal.view.members, proposal.restored);
    this.enterView(now, proposal.view, proposal.joined, proposal.left, proposal.failed, proposal.failures, ballot, proposal.restored);
    const waiting = new Set(this.epoch.roster.keys.filter((k) => k !== this.ctx.selfKey));
    this.epoch.decision = waiting.size === 0 ? null : { oldEpoch, ballot, proposal, log: decidedLog, welcome, waiting };
    for (const c of changes) delivery.onGroupChange(c);
    if (oldEpoch > 0) {
      const proposer = [...proposal.view.members, ...this.epoch.previousMembers].find((m) => memberKey(m) === ballot.proposer);
      const c0 = proposal.view.members[0]!;
      for (const to of new Set([c0.addr, proposer?.addr])) {
        if (to !== undefined && to !== this.ctx.addr) this.ctx.out.send(to, { t: 'installed', from: this.ctx.self, epoch: proposal.view.epoch });
      }
    }
    return welcome;
  }

  /** What a new member of `proposal`'s view is told: the view, the group table, the network. */
  private welcomeOf(proposal: Proposal): WelcomeMsg {
    const table = this.parts.delivery.table;
    return {
      t: 'welcome',
      from: this.ctx.self,
      view: proposal.view,
      joined: proposal.joined,
      left: proposal.left,
      failed: proposal.failed,
      failures: proposal.failures,
      groups: table.snapshot(),
      groupViewIdFloor: table.viewIdFloor,
      network: this.life.network,
      // A restart's groups (at the restart), or those that still await their restorer.
      restored: proposal.restored.length > 0 ? proposal.restored : this.parts.delivery.restore.told(proposal.view.members),
    };
  }

  /** Not in the decided view: join the network founded without us, stop after our leave, or learn we are excluded. */
  private leaveDecided(now: number, ballot: Ballot, proposal: Proposal, oldEpoch: number): void {
    if (oldEpoch === 0) {
      // Not among the founders after all: join the network they founded.
      this.life.become('joining');
      this.parts.bootstrap.joinFounded(now, proposal.view);
      this.epoch.acceptor.forgetVotes();
    } else if (this.parts.membership.leaving) {
      this.ctx.out.log(`left the network at epoch ${proposal.view.epoch}`, 'info');
      // Tell the proposer we have it, so that it need not wait for us.
      const proposer = this.epoch.roster.view.members.find((m) => memberKey(m) === ballot.proposer);
      if (proposer !== undefined && !sameMember(proposer, this.ctx.self)) {
        this.ctx.out.send(proposer.addr, { t: 'installed', from: this.ctx.self, epoch: proposal.view.epoch });
      }
      this.life.stop(now);
    } else {
      this.life.exclude(`not in the view of epoch ${proposal.view.epoch}`);
    }
  }

  onWelcome(now: number, msg: WelcomeMsg): void {
    const phase = this.life.phase;
    if (phase === 'member') {
      if (msg.view.epoch === this.epoch.roster.view.epoch) this.sayInstalled(msg.from, null);
      return;
    }
    if (phase !== 'joining' && phase !== 'bootstrapping') return;
    if (!msg.view.members.some((m) => sameMember(m, this.ctx.self))) return;
    this.parts.delivery.adopt(GroupTable.from(msg.groups, msg.groupViewIdFloor));
    // A founder of a restart from the logs that learns the decision from its welcome.
    this.parts.delivery.restore.begin(msg.view.members, msg.restored);
    this.life.network = msg.network;
    this.enterView(now, msg.view, msg.joined, msg.left, msg.failed, msg.failures, null, msg.restored);
    this.sayInstalled(msg.from, null);
  }

  /** Start a fresh epoch: sequencing state resets, own unfinished entries go again. */
  private enterView(
    now: number,
    view: EndpointView,
    joined: readonly MemberRef[],
    left: readonly MemberRef[],
    failed: readonly MemberRef[],
    failures: readonly Failure[],
    ballot: Ballot | null,
    restored: readonly Restored[],
  ): void {
    assert(new Set(view.members.map((m) => m.id)).size === view.members.length, `invariant: the view of epoch ${view.epoch} holds an id twice`);
    assert(new Set(view.members.map((m) => m.addr)).size === view.members.length, `invariant: the view of epoch ${view.epoch} holds an address twice`);
    const p = this.parts;
    this.life.enter(new Epoch(view, this.ctx.selfKey, { previousMembers: this.epoch.roster.view.members, failures, ballot }, p.epochDeps));
    const roster = this.epoch.roster;
    // Own entries not delivered in the old epoch are sent again, in order, first (FIFO).
    p.sender.requeue();
    p.proposer.reset();
    p.order.enter();
    p.progress.enter();
    p.detector.enter(now, roster.keys, roster.rank);
    p.bootstrap.onMember();
    p.admission.enter(now, roster, this.life.isCoordinator());
    p.membership.enter(now);
    this.ctx.out.emit({ type: 'installed', view, joined, left, failed, failures, restored });
    if (p.membership.leaving) p.membership.requestLeave(now);
  }
}
