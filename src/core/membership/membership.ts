/**
 * The membership protocol's messages and timers, outside the view change: who speaks
 * in this view, probes and their answers, join and leave requests, heartbeats, and the
 * watch for a view that is blocked for good.
 *
 * Intuition: a message counts only if it comes from a member of this view, of this
 * epoch, at the member's own address (`fromMember`); a member of an older view that is
 * not in this one learns it is excluded. Heartbeats go to every member each
 * `heartbeatMs` and carry what this member holds; the coordinator also tells the seed
 * addresses that hold no member that the network lives. The coordinator batches join
 * and leave requests (`Admission`) for its next view change; a leaver asks until a
 * view without it is decided, or gives up and stops. A member that cannot hear a
 * majority reports `blocked` once, looks for a later view at the seeds, and leaves a
 * view that can never change again.
 */
import type { AppStream } from '../app-stream.js';
import type { CoreContext } from '../context.js';
import type { Epoch } from '../epoch.js';
import type { Lifecycle } from '../lifecycle.js';
import type { MemberOrder } from '../order/member-order.js';
import { majority } from '../quorum.js';
import { memberKey, memberRef, sameMember } from '../types.js';
import type { EndpointView, MemberRef, Message, ProbeMsg, ProbeReplyMsg, RestartMsg } from '../types.js';
import type { LastInstall } from '../viewchange/proposer.js';
import type { Admission } from './admission.js';
import type { Bootstrap } from './bootstrap.js';
import type { FailureDetector } from './failure-detector.js';
import type { Replies } from './replies.js';

/** The view a non-member reports: none. */
const NO_VIEW: EndpointView = { epoch: 0, members: [] };

/** The parts the membership protocol reads and drives. */
export interface MembershipParts {
  readonly life: Lifecycle;
  readonly app: AppStream;
  readonly detector: FailureDetector;
  readonly bootstrap: Bootstrap;
  readonly replies: Replies;
  readonly admission: Admission;
  readonly order: MemberOrder;
}

/** What the membership protocol needs of the composition. */
export interface MembershipHost {
  /** The proposer's last decision, kept to send again (null: none). */
  lastInstall(): LastInstall | null;
  /** Forget the founding this member was proposing (it joins a network instead). */
  dropProposal(): void;
  /** Send to the sequencer of the current view (handled at once when that is this member). */
  sendToCoordinator(msg: Message): void;
}

/** The membership protocol of this endpoint (see the module comment). */
export class Membership {
  private leavingValue = false;
  private leavingSince = 0;
  /** Member: when to ask the coordinator again to let us leave. */
  private nextLeaveRequestAt = 0;
  private nextHeartbeatAt = 0;
  private readonly life: Lifecycle;
  private readonly app: AppStream;
  private readonly detector: FailureDetector;
  private readonly bootstrap: Bootstrap;
  private readonly replies: Replies;
  private readonly admission: Admission;
  private readonly order: MemberOrder;

  constructor(
    private readonly ctx: CoreContext,
    parts: MembershipParts,
    private readonly host: MembershipHost,
  ) {
    this.life = parts.life;
    this.app = parts.app;
    this.detector = parts.detector;
    this.bootstrap = parts.bootstrap;
    this.replies = parts.replies;
    this.admission = parts.admission;
    this.order = parts.order;
  }

  private get epoch(): Epoch {
    return this.life.epoch;
  }

  /** This member asked to leave the network (see `leave`). */
  get leaving(): boolean {
    return this.leavingValue;
  }

  /** Leave the network gracefully: ask the coordinator, until a view without us is decided. */
  leave(now: number): void {
    this.leavingValue = true;
    this.leavingSince = now;
    this.requestLeave(now);
  }

  /** A new epoch: heartbeats go out at once. */
  enter(now: number): void {
    this.nextHeartbeatAt = now;
  }

  /**
   * Accept a message of the current epoch from a member of the current view: its rank,
   * or -1. A member of an older epoch that is not in this view learns it is excluded.
   */
  fromMember(now: number, from: MemberRef, epoch: number, addr: string): number {
    if (this.life.phase !== 'member') return -1;
    const roster = this.epoch.roster;
    if (epoch === roster.view.epoch) {
      // The common case, without building a key: the member at the address it speaks
      // from (the transport hands over the same address string every time).
      const r = roster.rankAt(addr, from);
      if (r >= 0) {
        this.detector.heard(now, roster.keys[r]!);
        return r;
      }
    }
    const k = memberKey(from);
    if (epoch < roster.view.epoch) {
      if (!roster.rank.has(k)) this.replies.notMember(now, this.epoch, from, addr);
      else if (epoch + 1 === roster.view.epoch) this.replies.resendCommit(now, this.epoch, from, addr);
      return -1;
    }
    if (epoch !== roster.view.epoch) return -1;
    const r = roster.rank.get(k);
    // A member speaks only from its own address: the transport authenticates that
    // address (with a network secret), so nobody can speak in another member's name.
    if (r === undefined || roster.view.members[r]!.addr !== addr) return -1;
    this.detector.heard(now, k);
    return r;
  }

  /**
   * The transport says `addr` refused a connection: nothing listens there, so the
   * member of our view at that address is gone. Suspected now, not after the timeout
   * (option `suspectRefused`); the view change that follows still needs a majority.
   * Whether the timers must run at once.
   */
  onRefused(addr: string): boolean {
    const phase = this.life.phase;
    if (phase === 'joining' || phase === 'bootstrapping') this.bootstrap.refused(addr);
    if (phase !== 'member' || !this.ctx.cfg.suspectRefused) return false;
    const m = this.epoch.roster.memberAt(addr);
    return m !== undefined && this.detector.onRefused(memberKey(m), addr);
  }

  // ----------------------------------------------------------------- probes

  /** A probe: a restarted member of ours, a missed welcome, or a starting endpoint. */
  onProbe(now: number, msg: ProbeMsg): void {
    const member = this.life.phase === 'member';
    if (member && this.replies.resendWelcome(now, this.epoch, msg.from, msg.addr)) return;
    this.noteRestart(msg.from, msg.addr);
    if (!member) this.bootstrap.answered(msg.addr, msg.from);
    this.answerProbe(msg.addr);
  }

  /**
   * Tell a prober where we are: in a network (and its whole view), joining one, or
   * bootstrapping. A joining endpoint names no network: what it knows of one is
   * hearsay (its contact may be gone, or be the prober itself, restarted), and passing
   * it on could send every restarted process to wait on a network that is no more.
   */
  answerProbe(replyTo: string): void {
    const phase = this.life.phase;
    const view: EndpointView = phase === 'member' ? this.epoch.roster.view : NO_VIEW;
    this.ctx.out.send(replyTo, { t: 'probe-reply', from: this.ctx.self, addr: this.ctx.addr, config: this.bootstrap.foundingQuorum, view, joining: phase === 'joining' || (phase === 'bootstrapping' && this.bootstrap.restart !== null) });
  }

  /**
   * A probe, or an answer to ours, from a new incarnation of a member of our view, at
   * its address: the old one is gone for good (a process restarted without
   * persistence). Counted to know when this view can never change again (see
   * `onBlockedTimeout`).
   */
  private noteRestart(from: MemberRef, addr: string): void {
    if (this.life.phase !== 'member') return;
    const m = this.epoch.roster.memberAt(addr);
    if (m !== undefined && m.id === from.id && m.inc !== from.inc) this.epoch.restarted.add(memberKey(m));
  }

  onProbeReply(now: number, msg: ProbeReplyMsg): void {
    const phase = this.life.phase;
    if (phase === 'member') {
      this.noteRestart(msg.from, msg.addr);
      // A blocked member's probe found a later view: our heartbeat, of our epoch, makes
      // its member tell us `not-member` if we are not in it (or resend its decision).
      if ((this.epoch.blockedReported || this.detector.isolatedSince !== null) && msg.view.epoch > this.epoch.roster.view.epoch && !sameMember(msg.from, this.ctx.self)) {
        this.ctx.out.send(msg.addr, this.heartbeat());
      }
      return;
    }
    if (phase !== 'bootstrapping' && phase !== 'joining') return;
    if (this.bootstrap.onProbeReply(now, msg, phase === 'bootstrapping')) {
      this.life.become('joining');
      this.host.dropProposal();
    }
  }

  /** Durable groups: a member restarting from its log (see `membership/restart.ts`). */
  onRestart(now: number, msg: RestartMsg): void {
    if (this.life.phase === 'bootstrapping') this.bootstrap.restart?.onRestart(now, msg);
  }

  // ----------------------------------------------------------------- joins and leaves

  onJoinReq(now: number, msg: { from: MemberRef; addr: string }): void {
    if (this.life.phase !== 'member') {
      if (this.life.phase === 'joining') this.answerProbe(msg.addr);
      return;
    }
    if (this.replies.resendWelcome(now, this.epoch, msg.from, msg.addr)) return;
    if (!this.life.isCoordinator()) {
      this.answerProbe(msg.addr);
      return;
    }
    const k = memberKey(msg.from);
    const members = this.epoch.roster.view.members;
    if (this.epoch.roster.rank.has(k)) {
      // Already in: the welcome was lost. Send it again if it is still current.
      const last = this.host.lastInstall();
      if (last !== null && last.waiting.has(k) && last.proposal.view.epoch === this.epoch.roster.view.epoch) this.ctx.out.send(msg.addr, last.welcome);
      return;
    }
    // Bounded: a flood of join requests cannot grow the next view without end.
    if (!this.admission.mayJoin(now, msg.from, members.length)) return;
    // One process listens at an address, and an id names one process: the earlier
    // one's process is gone, so its request goes (see `noteRestart` for why it matters).
    this.admission.replaceEarlier(msg.from, msg.addr);
    // Another incarnation of this id is a member, at another address, and alive: this
    // is a second process with the same id, not its restart (a restart listens at the
    // same address, or comes after the old one fell silent). Refuse it; never evict.
    const holder = members.find((m) => m.id === msg.from.id && m.inc !== msg.from.inc);
    if (holder !== undefined && holder.addr !== msg.addr && this.detector.alive(now, memberKey(holder))) {
      if (this.replies.due(now, `refused:${k}`)) this.ctx.out.send(msg.addr, { t: 'join-refused', from: this.ctx.self, to: memberRef(msg.from), live: memberRef(holder) });
      return;
    }
    this.admission.addJoin(now, msg.from, msg.addr);
  }

  /**
   * The coordinator refused our join: a live member holds our id elsewhere. A crashed
   * predecessor elsewhere is suspected within the timeout and then replaced, so only
   * a refusal that lasts two timeouts means a second live process: stop.
   */
  onJoinRefused(now: number, msg: { to: MemberRef; live: MemberRef }): void {
    if (this.life.phase !== 'joining' || !this.bootstrap.onJoinRefused(now, msg)) return;
    this.life.become('excluded');
    this.ctx.out.emit({ type: 'duplicate', live: memberRef(msg.live) });
  }

  onLeaveReq(now: number, from: MemberRef, addr: string): void {
    if (this.life.phase !== 'member') return;
    const k = memberKey(from);
    if (!this.epoch.roster.rank.has(k)) {
      this.replies.notMember(now, this.epoch, from, addr);
      return;
    }
    this.admission.addLeave(k);
  }

  /** Ask the coordinator to let us leave (the coordinator adds its own leave). */
  requestLeave(now: number): void {
    this.nextLeaveRequestAt = now + this.ctx.cfg.retransmitMs;
    if (this.life.isCoordinator()) this.admission.addLeave(this.ctx.selfKey);
    else this.host.sendToCoordinator({ t: 'leave-req', from: this.ctx.self, epoch: this.epoch.roster.view.epoch });
  }

  /** A member of a later view says this member is not in it. */
  onNotMember(now: number, epoch: number, to: MemberRef): void {
    if (!sameMember(to, this.ctx.self) || this.life.phase !== 'member' || epoch <= this.epoch.roster.view.epoch) return;
    if (this.leavingValue) this.life.stop(now);
    else this.life.exclude(`a view of epoch ${epoch} exists without this member`);
  }

  // ----------------------------------------------------------------- timers

  /** What this member tells every member each `heartbeatMs`: it lives, hears, and how far it holds. */
  heartbeat(): Message {
    const stream = this.epoch.stream;
    return {
      t: 'heartbeat',
      from: this.ctx.self,
      epoch: this.epoch.roster.view.epoch,
      ordered: stream.orderedMax,
      stable: stream.stable,
      committed: stream.committed,
      held: this.order.ackable(),
      hears: this.detector.isolatedSince === null,
      behind: this.order.behind,
    };
  }

  /** Heartbeats to every member (they carry this member's holding: an ack); the coordinator announces the network. */
  onHeartbeatTimeout(now: number): void {
    if (now < this.nextHeartbeatAt) return;
    this.nextHeartbeatAt = now + this.ctx.cfg.heartbeatMs;
    const hb = this.heartbeat();
    for (const m of this.epoch.roster.view.members) if (!sameMember(m, this.ctx.self)) this.ctx.out.send(m.addr, hb);
    this.order.ackSent();
    if (this.life.isCoordinator() && !this.epoch.blockedReported && this.detector.isolatedSince === null) this.announce();
  }

  /**
   * Coordinator: tell the seed addresses that hold no member of this view that the
   * network lives, with its view. A process starting there (every seed host may have
   * restarted while the network lived on in members that joined later) then knows of
   * it and joins it, instead of founding a second network with the other seeds.
   */
  private announce(): void {
    let reply: Message | null = null;
    for (const a of this.bootstrap.foundingQuorum) {
      if (a === this.ctx.addr || this.epoch.roster.rankByAddr.has(a)) continue;
      reply ??= { t: 'probe-reply', from: this.ctx.self, addr: this.ctx.addr, config: this.bootstrap.foundingQuorum, view: this.epoch.roster.view, joining: false };
      this.ctx.out.send(a, reply);
    }
  }

  /** Our graceful leave: ask again; stop anyway when nobody answers. */
  onLeaveTimeout(now: number): void {
    if (this.leavingValue && now >= this.nextLeaveRequestAt) this.requestLeave(now);
    if (this.leavingValue && now - this.leavingSince > this.ctx.cfg.suspectTimeoutMs * 3) {
      // Nobody answers our leave (the others are gone, or cut off): stop anyway; the
      // survivors remove us as they would remove a crashed member.
      this.ctx.out.log('leave not acknowledged; stopping', 'warn');
      this.life.stop(now);
    }
  }

  /**
   * Blocked: this side cannot hear a majority (G9), and a view change to fix it was
   * tried and went nowhere, or was not tried because this member is isolated (then the
   * others, which may hear it, have had the time to remove it). Then look for a later
   * view at the seeds; and leave a view that can never change.
   */
  onBlockedTimeout(now: number): void {
    const epoch = this.epoch;
    const cfg = this.ctx.cfg;
    const wedgedLong = epoch.acceptor.wedgedAt !== null && now - epoch.acceptor.wedgedAt > cfg.flushTimeoutMs;
    const isolatedLong = this.detector.isolatedSince !== null && now - this.detector.isolatedSince > cfg.suspectTimeoutMs + cfg.flushTimeoutMs;
    const members = epoch.roster.view.members;
    if ((wedgedLong || isolatedLong) && !epoch.blockedReported) {
      const heard = members.filter((m) => !this.detector.isSuspected(memberKey(m))).length;
      if (heard < epoch.quorumSize()) {
        epoch.blockedReported = true;
        this.ctx.out.log(`blocked: hears ${heard} of ${members.length} members`, 'warn');
        // In the application's stream, after what was delivered before it.
        this.app.emit({ type: 'blocked' });
      }
    }
    if ((epoch.blockedReported || this.detector.isolatedSince !== null) && now >= epoch.nextSeekAt) this.seekLaterView(now);
    // Blocked for good: a majority of the view restarted, so it may have decided
    // anything before, and none of it can ever promise again. This view is over; leave
    // it as if excluded (the endpoint starts over as a new incarnation, which joins or,
    // if every seed is starting too, founds a network). It never delivered anything
    // the others did not, and it can deliver nothing more, so nothing is lost (G9).
    if (epoch.blockedReported && epoch.restarted.size >= majority(members.length)) {
      if (this.leavingValue) {
        this.ctx.out.log('leaving a view that can never change: stopping', 'warn');
        this.life.stop(now);
        return;
      }
      this.life.exclude(`the view of epoch ${epoch.roster.view.epoch} can never change: ${epoch.restarted.size} of ${members.length} members restarted`);
    }
  }

  /**
   * Blocked: the members of this view that could unblock it may all be gone for good
   * (they left, or removed this member while it was cut off and then stopped), while
   * live members of the network answer at the seed addresses. Probe them: one in a
   * later view answers with its epoch, and a heartbeat of ours then tells it to say
   * whether this member is still in (see `onProbeReply`, `fromMember`).
   */
  private seekLaterView(now: number): void {
    this.epoch.nextSeekAt = now + this.ctx.cfg.suspectTimeoutMs;
    this.bootstrap.probeAll();
  }
}
