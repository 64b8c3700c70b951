/**
 * The proposer of a view change: run one ballot — prepare, decide, accept, commit —
 * and back off when it fails.
 *
 * Intuition: the coordinator proposes (or the lowest-ranked member it does not
 * suspect, or, when a ballot went nowhere, every member in turn, later by rank): a
 * `prepare` with a ballot higher than any seen. With promises from a quorum (a
 * majority of the view; for a founding, every address of the founding list) it
 * chooses the next view and the cut (`choose.ts`) and sends `accept`s; with a quorum of
 * acceptances it commits: it installs the view, then sends each member the decision
 * it lacks (a commit, the whole accept, or a welcome for new members) and keeps
 * sending it until each says it installed. A failed ballot backs off for a random time
 * (the core's one draw of randomness), so that duelling proposers do not collide for
 * ever. Its own prepare and accept go to this member's acceptor through the host,
 * synchronously.
 */
import { assert } from '../../errors.js';
import type { Rng } from '../../runtime.js';
import type { CoreConfig } from '../config.js';
import type { CoreContext } from '../context.js';
import type { Epoch } from '../epoch.js';
import type { Admission } from '../membership/admission.js';
import type { Bootstrap } from '../membership/bootstrap.js';
import type { FailureDetector } from '../membership/failure-detector.js';
import type { Progress } from '../order/progress.js';
import { majority } from '../quorum.js';
import { compareBallots, memberKey, sameMember } from '../types.js';
import type { AcceptMsg, Ballot, LogEntry, MemberRef, Message, PrepareMsg, PromiseMsg, Proposal, RejectMsg, WelcomeMsg } from '../types.js';
import type { RestartPlan } from '../membership/restart.js';
import { cutEntries, cutOf, floorOf, foundingProposal, gatherCutLog, highestAccepted, keeps, nextView } from './choose.js';

interface ProposerState {
  readonly ballot: Ballot;
  readonly epoch: number;
  phase: 'prepare' | 'accept';
  readonly promises: Map<string, PromiseMsg>;
  readonly accepted: Set<string>;
  deadline: number;
  proposal: Proposal | null;
  /** The old epoch's entries up to the cut, gathered from the promises. */
  cutLog: Map<number, LogEntry>;
  /** For epoch 0: the founding quorum. */
  readonly config: readonly string[];
  /** For epoch 0 of a restart from the logs: the restart (its quorum is `config`). */
  readonly plan: RestartPlan | null;
  lastSentAt: number;
}

/** What a proposer keeps after installing, to retransmit commits and welcomes. */
export interface LastInstall {
  readonly oldEpoch: number;
  readonly ballot: Ballot;
  readonly proposal: Proposal;
  readonly cutLog: Map<number, LogEntry>;
  readonly welcome: WelcomeMsg;
  readonly acceptedBy: Set<string>;
  /** Members still to acknowledge: of the new view, and graceful leavers (who stop on it). */
  readonly waiting: Set<string>;
  /** Addresses of everyone the decision goes to. */
  readonly addrs: Map<string, string>;
  lastSentAt: number;
}

/** What the proposer needs of the composition: the epoch, and the way to its own acceptor and to installing. */
export interface ProposerHost {
  /** The current epoch (a new one after every install). */
  epoch(): Epoch;
  /** This endpoint is bootstrapping: the proposal is a founding. */
  bootstrapping(): boolean;
  /** Our own prepare, to this member's acceptor. */
  prepareSelf(now: number, msg: PrepareMsg): void;
  /** Our own accept, to this member's acceptor. */
  acceptSelf(now: number, msg: AcceptMsg): void;
  /** Install the decided view (deliver to the cut, change the groups, enter the epoch); returns the welcome. */
  install(now: number, ballot: Ballot, proposal: Proposal): WelcomeMsg;
  /** A stop that waited for the decision to be recorded may finish. */
  finishStop(now: number): void;
  /** Whether this member is isolated, looked at again (it may just have learnt it is cut off). */
  watchIsolation(now: number): void;
}

/** The parts the proposer reads. */
export interface ProposerParts {
  readonly detector: FailureDetector;
  readonly admission: Admission;
  readonly progress: Progress;
  readonly bootstrap: Bootstrap;
}

/** The proposer of this member (see the module comment). */
export class Proposer {
  private state: ProposerState | null = null;
  private proposeRetryAt = 0;
  /** The highest round seen in any ballot: a new ballot goes higher. */
  private highestRound = 0;
  private lastInstallValue: LastInstall | null = null;
  private readonly cfg: CoreConfig;
  private readonly self: MemberRef;
  private readonly selfKey: string;
  private readonly addr: string;
  private readonly detector: FailureDetector;
  private readonly admission: Admission;
  private readonly progress: Progress;
  private readonly bootstrap: Bootstrap;

  constructor(
    private readonly ctx: CoreContext,
    parts: ProposerParts,
    private readonly rng: Rng,
    private readonly host: ProposerHost,
  ) {
    this.cfg = ctx.cfg;
    this.self = ctx.self;
    this.selfKey = ctx.selfKey;
    this.addr = ctx.addr;
    this.detector = parts.detector;
    this.admission = parts.admission;
    this.progress = parts.progress;
    this.bootstrap = parts.bootstrap;
  }

  /** What this proposer keeps of its last decision, to send again (null: nothing). */
  get lastInstall(): LastInstall | null {
    return this.lastInstallValue;
  }

  /** The last decision need not be sent again any more. */
  forgetDecision(): void {
    this.lastInstallValue = null;
  }

  /** A ballot of round `round` was seen: ours go higher. */
  seen(round: number): void {
    this.highestRound = Math.max(this.highestRound, round);
  }

  /** A new view: no proposal runs, and one may start at once. */
  reset(): void {
    this.state = null;
    this.proposeRetryAt = 0;
  }

  /** Stop proposing (a network was found: this endpoint joins it instead of founding). */
  drop(): void {
    this.state = null;
  }

  /** Another proposer's higher ballot was promised here: ours cannot win. */
  onHigherBallot(now: number, ballot: Ballot): void {
    if (this.state !== null && compareBallots(this.state.ballot, ballot) < 0) {
      this.abandonProposal(now, `a higher ballot from ${ballot.proposer}`);
    }
  }

  /** An acceptor promised a higher ballot than ours. */
  onReject(now: number, msg: RejectMsg): void {
    this.seen(msg.promised.round);
    if (this.state !== null && compareBallots(msg.ballot, this.state.ballot) === 0) {
      this.abandonProposal(now, `rejected by ${memberKey(msg.from)}`);
    }
  }

  private send(to: string, msg: Message): void {
    this.ctx.out.send(to, msg);
  }

  private log(text: string, level: 'debug' | 'info'): void {
    this.ctx.out.log(text, level);
  }

  /** The lowest-ranked member of the view this member does not suspect. */
  private candidate(): MemberRef | undefined {
    return this.host.epoch().roster.view.members.find((m) => !this.detector.isSuspected(memberKey(m)));
  }

  /** The proposer's timers: retransmit, decide at the deadline, or start a proposal when one is due. */
  tick(now: number, mayStart: boolean): void {
    const p = this.state;
    if (p !== null) {
      if (p.phase === 'prepare') {
        const q = this.quorum(p, p.promises.keys());
        // Decide at the deadline, or as soon as every member not suspected has promised.
        if (now >= p.deadline || (q.rest === 0 && q.have >= q.need)) this.decidePrepare(now);
        else if (now - p.lastSentAt >= this.cfg.retransmitMs) this.sendPrepare(now, p, true);
      } else if (now >= p.deadline) {
        this.abandonProposal(now, 'acceptance timed out');
      } else if (now - p.lastSentAt >= this.cfg.retransmitMs) {
        this.sendAccepts(now, p, true);
      }
      return;
    }
    if (!mayStart || now < this.proposeRetryAt) return;
    if (this.host.bootstrapping()) {
      this.startProposal(now);
      return;
    }
    // Cut off from most of the view: a proposal of ours cannot gather a majority, and
    // would only wedge the members that hear us (see `watchIsolation`).
    if (this.detector.isolatedSince !== null) return;
    const cand = this.candidate();
    const acceptor = this.host.epoch().acceptor;
    const wedgedFor = acceptor.wedgedAt === null ? -1 : now - acceptor.wedgedAt;
    if (cand === undefined || !sameMember(cand, this.self)) {
      // Not the one to propose, but wedged by a ballot that went nowhere (its proposer
      // gave up, or lost track): propose anyway, later than the candidate would, so that
      // the view moves on. Paxos keeps competing proposals safe, but not live: members
      // that all time out together pre-empt each other's ballots. So they take turns,
      // by rank among the members not suspected, each counting from the last ballot it
      // voted for — a proposer still making progress sends accepts and holds them off.
      const quietFor = acceptor.votedAt === null ? -1 : now - acceptor.votedAt;
      if (wedgedFor > this.cfg.flushTimeoutMs * 3 && quietFor > this.cfg.flushTimeoutMs * (3 + this.turnOf())) this.startProposal(now);
      return;
    }
    const joinsDue = this.admission.joinsDue(now);
    const suspected = this.host.epoch().roster.view.members.some((m) => this.detector.isSuspected(memberKey(m))) || this.progress.laggards.size > 0;
    const leaves = this.admission.leaves.size > 0;
    const stuck = wedgedFor > this.cfg.flushTimeoutMs;
    if (joinsDue || suspected || leaves || stuck) this.startProposal(now);
  }

  /** This member's place among the members of the view it does not suspect (0: first). */
  private turnOf(): number {
    let turn = 0;
    for (const k of this.host.epoch().roster.keys) {
      if (k === this.selfKey) return turn;
      if (!this.detector.isSuspected(k)) turn++;
    }
    return turn;
  }

  private startProposal(now: number): void {
    const founding = this.host.epoch().roster.view.epoch === 0;
    const plan = founding ? (this.bootstrap.restart?.mayPropose() ?? null) : null;
    if (founding && this.bootstrap.restart !== null && plan === null) return;
    const round = Math.max(this.highestRound, this.host.epoch().acceptor.promised?.round ?? 0) + 1;
    this.highestRound = round;
    const p: ProposerState = {
      ballot: { round, proposer: this.selfKey },
      epoch: this.host.epoch().roster.view.epoch,
      phase: 'prepare',
      promises: new Map(),
      accepted: new Set(),
      deadline: now + this.cfg.flushTimeoutMs,
      proposal: null,
      cutLog: new Map(),
      config: founding ? (plan?.config ?? this.bootstrap.foundingQuorum) : [],
      plan,
      lastSentAt: now,
    };
    this.state = p;
    this.log(plan !== null ? `propose the restart of epoch ${plan.last.epoch} from the logs with ballot ${round}/${this.selfKey}: ${plan.members.map(memberKey).join(' ')}${plan.restored.map((r) => `; ${r.group} restored by ${plan.members[r.by]?.id}`).join('')}` : `propose epoch ${p.epoch + 1} with ballot ${round}/${this.selfKey}`, 'info');
    this.sendPrepare(now, p, false);
  }

  private sendPrepare(now: number, p: ProposerState, retransmit: boolean): void {
    p.lastSentAt = now;
    const msg: PrepareMsg = { t: 'prepare', from: this.self, epoch: p.epoch, ballot: p.ballot, config: p.config };
    const promisedAddrs = new Set([...p.promises.values()].map((x) => x.addr));
    const targets = p.epoch === 0 ? p.config : this.host.epoch().roster.view.members.map((m) => m.addr);
    for (const a of targets) {
      if (a === this.addr || (retransmit && promisedAddrs.has(a))) continue;
      this.send(a, msg);
    }
    if (!retransmit) this.host.prepareSelf(now, msg);
  }

  /** Promises (or acceptances) that count toward the quorum of the epoch being changed. */
  private quorum(p: ProposerState, keys: Iterable<string>): { have: number; need: number; rest: number } {
    const set = new Set(keys);
    if (p.epoch === 0) {
      const addrs = new Set<string>();
      for (const k of set) {
        const pr = p.promises.get(k);
        if (pr !== undefined) addrs.add(pr.addr);
      }
      // Founding needs every address of the founding list, not a majority: a process
      // restarted without persistence cannot know it was a member, and views shrink
      // legitimately (5 -> 3 -> 2), so a majority of the seed list may be restarted
      // processes while the network lives on at the other seed addresses (paused, or
      // briefly unreachable). Every address must be bootstrapping, so none is in a
      // running network, whose members never promise epoch 0 (Corosync's
      // wait_for_all). See docs/founding.md.
      const have = p.config.filter((a) => addrs.has(a)).length;
      return { have, need: p.config.length, rest: p.config.length - have };
    }
    let have = 0;
    let rest = 0;
    for (const m of this.host.epoch().roster.view.members) {
      const k = memberKey(m);
      if (set.has(k)) have++;
      else if (!this.detector.isSuspected(k)) rest++;
    }
    return { have, need: this.host.epoch().quorumSize(), rest };
  }

  onPromise(now: number, msg: PromiseMsg): void {
    const p = this.state;
    if (p === null || p.phase !== 'prepare' || msg.epoch !== p.epoch || compareBallots(msg.ballot, p.ballot) !== 0) return;
    if (p.epoch > 0 && !this.host.epoch().roster.rank.has(memberKey(msg.from))) return;
    if (p.epoch === 0 && !p.config.includes(msg.addr)) return;
    if (p.plan !== null && !this.bootstrap.restart!.isPeer(msg.from)) return;
    p.promises.set(memberKey(msg.from), msg);
    if (p.epoch > 0) this.detector.heard(now, memberKey(msg.from));
    const q = this.quorum(p, p.promises.keys());
    // Everyone we do not suspect has answered: no need to wait for the deadline.
    if (q.rest === 0 && q.have >= q.need) this.decidePrepare(now);
  }

  private decidePrepare(now: number): void {
    const p = this.state!;
    const q = this.quorum(p, p.promises.keys());
    if (q.have < q.need) {
      this.abandonProposal(now, `only ${q.have} of ${q.need} promises`);
      return;
    }
    // Paxos: a proposal that some acceptor accepted must be proposed again. A founding
    // names its founders, who are its whole quorum: one naming an incarnation that is
    // not the promiser at its address now was never installed by anyone still here
    // (whoever installed it would be a member, not a promiser), and proposing it again
    // could never complete, since that incarnation is gone.
    const best = highestAccepted(p.promises, p.epoch);
    const cutLog = gatherCutLog(p.promises);
    const floor = floorOf(this.host.epoch().stream.stable, p.promises);
    let proposal: Proposal;
    if (best !== null) {
      proposal = best.accepted!;
    } else if (p.plan !== null) {
      const restart = this.bootstrap.restart!.proposal(p.plan, p.promises);
      if (restart === null) {
        this.abandonProposal(now, 'a restarter of the plan did not promise');
        return;
      }
      proposal = restart;
    } else if (p.epoch === 0) {
      proposal = foundingProposal(p.promises);
    } else {
      const alone = this.heardByMajority(p);
      if (alone.length > 0) {
        // A majority hears them; only this member does not: it is the one cut off.
        this.detector.cutOff(alone);
        this.abandonProposal(now, `${alone.join(' ')} heard by a majority but not by this member: it is the one cut off`);
        this.host.watchIsolation(now);
        return;
      }
      proposal = nextView(
        {
          epoch: p.epoch,
          members: this.host.epoch().roster.view.members,
          joiners: this.admission.joiners(),
          leaving: this.admission.leaves,
          promises: p.promises,
          removed: (k) => this.progress.laggards.has(k) || this.detector.saysSo(k),
          failureOf: (m, promised, replaced) => this.detector.failureOf(now, m, promised, replaced),
        },
        cutOf(floor, cutLog),
      );
    }
    for (let g = floor + 1; g <= proposal.cut; g++) {
      // An accepted cut is held by whoever accepted it, so this cannot fail.
      assert(cutLog.has(g), `entry ${g} of the cut ${proposal.cut} is held by no promiser`);
    }
    p.proposal = proposal;
    p.cutLog = cutLog;
    p.phase = 'accept';
    p.deadline = now + this.cfg.flushTimeoutMs;
    this.sendAccepts(now, p, false);
  }

  /**
   * Members this proposal would remove for silence that a majority of the view heard
   * from lately (within half the suspicion timeout), as the promises say: a lone
   * observer must not decide alone. A member that crashed or was cut off from the
   * majority is silent to all of them; one that only this proposer cannot hear is
   * not. (A refusal proves a process gone, and the other causes were observed by the
   * members themselves, so only silence is put to the vote.)
   */
  private heardByMajority(p: ProposerState): string[] {
    if (p.epoch === 0) return [];
    const recentMs = this.cfg.suspectTimeoutMs / 2;
    const need = majority(this.host.epoch().roster.view.members.length);
    const out: string[] = [];
    for (let r = 0; r < this.host.epoch().roster.keys.length; r++) {
      const k = this.host.epoch().roster.keys[r]!;
      if (k === this.selfKey || p.promises.has(k) || this.admission.leaves.has(k) || this.detector.causeOf(k) !== 'silence') continue;
      let heard = 0;
      for (const pr of p.promises.values()) {
        const ago = pr.heardAgoMs[r];
        if (ago !== undefined && ago <= recentMs && !sameMember(pr.from, this.self)) heard++;
      }
      if (heard >= need) out.push(k);
    }
    return out;
  }

  /** Who must accept: the promisers, and old members of the next view that did not promise. */
  private acceptTargets(p: ProposerState): { key: string; addr: string; held: number }[] {
    const out: { key: string; addr: string; held: number }[] = [];
    if (p.epoch === 0) {
      for (const [k, pr] of p.promises) out.push({ key: k, addr: pr.addr, held: 0 });
      return out;
    }
    const floor = floorOf(this.host.epoch().stream.stable, p.promises);
    for (const m of this.host.epoch().roster.view.members) {
      const k = memberKey(m);
      const pr = p.promises.get(k);
      if (pr === undefined && !keeps(p.proposal!, m)) continue;
      out.push({ key: k, addr: m.addr, held: Math.max(pr?.held ?? 0, floor) });
    }
    return out;
  }

  private sendAccepts(now: number, p: ProposerState, retransmit: boolean): void {
    p.lastSentAt = now;
    const proposal = p.proposal!;
    for (const t of this.acceptTargets(p)) {
      if (retransmit && p.accepted.has(t.key)) continue;
      const msg: AcceptMsg = {
        t: 'accept',
        from: this.self,
        epoch: p.epoch,
        ballot: p.ballot,
        proposal,
        log: cutEntries(p.cutLog, proposal.cut, t.held),
        commit: false,
      };
      if (t.key !== this.selfKey) this.send(t.addr, msg);
      else if (!retransmit) this.host.acceptSelf(now, msg);
    }
  }

  onAccepted(now: number, from: MemberRef, epoch: number, ballot: Ballot): void {
    const p = this.state;
    if (p === null || p.phase !== 'accept' || epoch !== p.epoch || compareBallots(ballot, p.ballot) !== 0) return;
    p.accepted.add(memberKey(from));
    const q = this.quorum(p, p.accepted);
    if (q.have >= q.need) this.commitProposal(now, p);
  }

  private commitProposal(now: number, p: ProposerState): void {
    const proposal = p.proposal!;
    this.state = null;
    this.log(`commit epoch ${proposal.view.epoch}: ${proposal.view.members.map(memberKey).join(' ')}`, 'info');
    const oldMembers = this.host.epoch().roster.view.members;
    // While installing, a proposer that removed itself must not finish stopping before
    // it has recorded the decision it is to retransmit.
    const welcome = this.host.install(now, p.ballot, proposal);
    const waiting = new Set<string>();
    const addrs = new Map<string, string>();
    for (const m of [...proposal.view.members, ...oldMembers]) addrs.set(memberKey(m), m.addr);
    for (const m of [...proposal.view.members, ...proposal.left]) if (memberKey(m) !== this.selfKey) waiting.add(memberKey(m));
    this.lastInstallValue = {
      oldEpoch: p.epoch,
      ballot: p.ballot,
      proposal,
      cutLog: p.cutLog,
      welcome,
      acceptedBy: new Set(p.accepted),
      waiting,
      addrs,
      lastSentAt: now,
    };
    // Old members learn the decision (those removed too: they stop and find out why).
    for (const m of oldMembers) if (!sameMember(m, this.self)) this.sendDecision(memberKey(m), m.addr);
    for (const m of proposal.view.members) {
      const k = memberKey(m);
      if (k !== this.selfKey && !oldMembers.some((o) => sameMember(o, m))) this.sendDecision(k, m.addr);
    }
    this.host.finishStop(now);
  }

  /** The decision for one member: a commit, the full accept, or a welcome (new members). */
  private sendDecision(key: string, addr: string): void {
    const li = this.lastInstallValue!;
    const isNew = li.oldEpoch === 0 || li.proposal.joined.some((j) => memberKey(j) === key);
    if (isNew) {
      this.send(addr, li.welcome);
    } else if (li.acceptedBy.has(key)) {
      this.send(addr, { t: 'commit', from: this.self, epoch: li.oldEpoch, ballot: li.ballot });
    } else {
      this.send(addr, {
        t: 'accept',
        from: this.self,
        epoch: li.oldEpoch,
        ballot: li.ballot,
        proposal: li.proposal,
        log: cutEntries(li.cutLog, li.proposal.cut, 0),
        commit: true,
      });
    }
  }

  /** Send the last decision again to those that have not said they installed it. */
  retransmitDecision(now: number): void {
    const li = this.lastInstallValue;
    if (li === null) return;
    // Kept until every member of the new view said it installed (or the next view
    // change replaces it); laggards that never answer are suspected and removed.
    if (li.waiting.size === 0 || li.proposal.view.epoch < this.host.epoch().roster.view.epoch) {
      this.lastInstallValue = null;
      return;
    }
    if (now - li.lastSentAt < this.cfg.retransmitMs) return;
    li.lastSentAt = now;
    for (const k of li.waiting) {
      const addr = li.addrs.get(k);
      if (addr !== undefined) this.sendDecision(k, addr);
    }
  }

  private abandonProposal(now: number, why: string): void {
    const p = this.state;
    if (p === null) return;
    this.log(`proposal ${p.ballot.round}/${p.ballot.proposer} abandoned: ${why}`, 'debug');
    this.state = null;
    // Randomised back-off, so that duelling proposers do not collide forever.
    this.proposeRetryAt = now + this.cfg.flushTimeoutMs / 2 + this.rng.below(Math.max(1, this.cfg.flushTimeoutMs));
  }
}
