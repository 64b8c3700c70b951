/**
 * The protocol core of one endpoint: a deterministic state machine with no I/O, and
 * the composition of the core's parts.
 *
 * Inputs are `receive(now, from, msg)`, `tick(now)` and the API calls (`submit`,
 * `queue`/`flush`, `provideState`, `abandonProvision`, `setAppQueue`, `leave`,
 * `refused`). Outputs are drained with `takeOutput()`: messages to send and events to
 * deliver, in order. Time comes only from the `now` arguments and randomness only from
 * the injected `Rng`, so a simulator can replay any run from its seed.
 *
 * This class builds the parts, routes each input to the part that owns it (one
 * handler per message type), runs the settle loop after every input and ticks the
 * timers in a fixed order. The parts, bottom to top, each opening with its intuition:
 *
 * - `outbox.ts`, `app-stream.ts`, `context.ts`, `core-api.ts`: the ordered output of a
 *   turn; the application's one stream, where a joiner's first view and state wait for
 *   the state to arrive; what every part shares; the types at the shell's boundary.
 *   `types.ts`, `config.ts`, `counters.ts`, `access.ts`: the messages, the settings,
 *   what is counted for metrics, who may be in which group.
 * - **Views** (`membership/roster.ts`, `epoch.ts`, `lifecycle.ts`): a view is an epoch
 *   and its members in rank order; `members[0]` is the coordinator and the sequencer.
 *   Everything that lives as long as one view is an `Epoch`, made new at every install;
 *   the `Lifecycle` holds the phase, the current epoch, and how the endpoint's life ends.
 * - **Failure detection** (`membership/failure-detector.ts`): silence longer than
 *   `suspectTimeoutMs`, a refused connection, or a member's own word (isolated, a slow
 *   consumer) is a suspicion; a long gap between this endpoint's own inputs means it
 *   was paused itself, and every peer gets a fresh timeout.
 * - **Founding, joining, leaving** (`membership/bootstrap.ts`, `known-network.ts`,
 *   `membership/admission.ts`, `membership/membership.ts`): epoch 0 is the seed list; the first view is chosen by the same Paxos round with
 *   *every* seed address as the quorum, so members started together never found two
 *   networks, and members restarted while the network lives on join it (see
 *   docs/founding.md). The coordinator batches joins and leaves for the next view.
 *   `Membership` accepts messages only from members of this view and epoch, answers
 *   probes and join and leave requests, sends heartbeats, and watches for a blocked view.
 * - **Order** (`order/send-window.ts`, `order/stream.ts`, `order/sequencer.ts`,
 *   `order/progress.ts`; `order/member-order.ts`, this member's side, runs the settle
 *   loop; `bundle.ts`): a sender sends each multicast (`data`; under load, a bundle)
 *   to every member; the sequencer assigns global sequence numbers in arrival order,
 *   keeping each sender's FIFO, and broadcasts small batched `order` records. A member
 *   delivers in global order once it holds both, asks for what it lacks (`nak`), and
 *   acknowledges how far it holds; what every member holds is *stable*, what a
 *   majority holds *committed* (`quorum.ts`). Windows bound what is in flight;
 *   laggards are removed.
 * - **Groups** (`groups/group-table.ts`, `groups/entry-delivery.ts`): joins and leaves
 *   are entries of the same order, so every endpoint sees them at the same position,
 *   and order is consistent across overlapping groups (G2).
 * - **State transfer** (`transfer/provider.ts`, `transfer/joiner.ts`): the provider's
 *   checkpoint is taken at exactly the join position (`state-request` event) and
 *   streamed in chunks within a window; the joiner holds its later events until the
 *   state is complete, then says so in order (`stateDone`).
 * - **View change = single-decree Paxos per epoch** (`viewchange/proposer.ts`,
 *   `viewchange/acceptor.ts`, `viewchange/choose.ts`, `viewchange/installer.ts`): a
 *   proposer sends `prepare`; acceptors stop delivering (*wedged*) and answer with
 *   what they hold beyond the stable prefix and any proposal they accepted. With
 *   promises from a majority (G9) the proposer picks the next view and the cut — or
 *   the highest accepted proposal, as Paxos requires — acceptors accept, the proposer
 *   commits, and every member delivers up to the cut and installs the view
 *   (`Installer`; G5, G6). Multicasts of survivors beyond the cut are sent again.
 * - **Exclusion** (`membership/replies.ts`): a member of a later view that hears from
 *   a member not in it says `not-member`; the excluded one reports `excluded` and
 *   comes back as a new incarnation (G8).
 */
import { assertNever } from '../errors.js';
import type { AppQueue, CoreOptions, CoreStats, FlowState, Phase } from './core-api.js';
import type { CoreConfig } from './config.js';
import { CoreCounters } from './counters.js';
import { GroupAccess } from './access.js';
import { EntryDelivery, leavePayload } from './groups/entry-delivery.js';
import type { GroupTable } from './groups/group-table.js';
import { AppStream } from './app-stream.js';
import type { CoreContext } from './context.js';
import { Lifecycle } from './lifecycle.js';
import { Outbox } from './outbox.js';
import { Installer } from './viewchange/installer.js';
import { Proposer } from './viewchange/proposer.js';
import { MemberOrder } from './order/member-order.js';
import { Progress } from './order/progress.js';
import { SendWindow } from './order/send-window.js';
import { Replies } from './membership/replies.js';
import { Admission } from './membership/admission.js';
import { Bootstrap } from './membership/bootstrap.js';
import { Membership } from './membership/membership.js';
import { FailureDetector } from './membership/failure-detector.js';
import { StateJoiner, encodePos } from './transfer/joiner.js';
import { StateProvider } from './transfer/provider.js';
import type { CoreOutput } from './outbox.js';
import { EntryKind, comparePositions, memberKey, memberRef, sameMember } from './types.js';
import { PersistReports } from './persist-reports.js';
import type { EndpointView, MemberRef, Message, Position } from './types.js';

export type { CoreEvent, CoreLogLevel, CoreOutput, GroupView } from './outbox.js';
export { leavePayload } from './groups/entry-delivery.js';
export type { AppQueue, CoreOptions, CoreStats, FlowState, Phase } from './core-api.js';

export class EndpointCore {
  readonly self: MemberRef;
  readonly selfKey: string;
  readonly addr: string;
  private readonly cfg: CoreConfig;
  readonly counters: CoreCounters; // counted for metrics; the protocol never reads them
  private lastNow = 0;

  // --- the parts, bottom to top ---
  private readonly out = new Outbox();
  /** The application's ordered stream, held behind state markers. */
  private readonly app = new AppStream(this.out);
  /** Phase, current epoch, network identity. */
  private readonly life: Lifecycle;
  /** Silence, refusal, isolation, slow consumers; pause awareness. */
  private readonly detector: FailureDetector;
  /** Before membership: probes, the founding quorum, the contact of a network to join. */
  private readonly bootstrap: Bootstrap;
  /** Own entries: queued, bundled, in flight within the send window. */
  private readonly sender: SendWindow;
  /** The sequencer's laggards (outlives epochs). */
  private readonly progress: Progress;
  /** State transfer: streaming checkpoints to joiners, and receiving our own. */
  private readonly provider: StateProvider;
  private readonly joiner: StateJoiner;
  /** The group table, and delivering each ordered entry into it and to the application. */
  private readonly delivery: EntryDelivery;
  /** This member's side of the order: settle loop, acks, delivery, flow from the application. */
  private readonly order: MemberOrder;
  /** Probes, joins, leaves, heartbeats, the blocked watch. */
  private readonly membership: Membership;
  /** The view change's proposer (its ballot, its last decision to resend). */
  private readonly proposer: Proposer;
  /** The view change's acceptor and learner: promise, accept, install. */
  private readonly installer: Installer;
  /** Durable groups: this member's disk, and the view's, reported. */
  private readonly reports: PersistReports;

  constructor(opts: CoreOptions) {
    this.self = memberRef(opts.self);
    this.selfKey = memberKey(opts.self);
    this.addr = opts.addr;
    this.cfg = opts.config;
    this.counters = opts.counters ?? new CoreCounters();
    const ctx: CoreContext = { self: this.self, selfKey: this.selfKey, addr: this.addr, cfg: this.cfg, counters: this.counters, out: this.out, persist: opts.persist === true };
    this.reports = new PersistReports(ctx);
    const life = (this.life = new Lifecycle(ctx, this.app, {
      unacknowledged: () => this.proposer.lastInstall !== null && this.proposer.lastInstall.waiting.size > 0,
      forget: () => this.proposer.forgetDecision(),
    }));
    const detector = (this.detector = new FailureDetector(ctx));
    const bootstrap = (this.bootstrap = new Bootstrap(ctx, opts.seeds, opts.restart ?? null));
    const replies = new Replies(ctx);
    const admission = new Admission(ctx);
    const sender = (this.sender = new SendWindow(ctx, opts.firstLocalId ?? 1));
    const progress = (this.progress = new Progress(ctx));
    const provider = (this.provider = new StateProvider(ctx));
    const joiner = (this.joiner = new StateJoiner(ctx, this.app, (now, group, pos) => this.queueStateDone(now, group, pos)));
    const delivery = (this.delivery = new EntryDelivery(ctx, { app: this.app, access: opts.access ?? GroupAccess.open, joiner, provider }, {
      epoch: () => life.epoch,
      network: () => life.network,
      now: () => this.lastNow,
    }));
    const order = (this.order = new MemberOrder(ctx, { life, sender, delivery, joiner, progress, detector }, (msg) => this.sendToCoordinator(msg)));
    const proposer = (this.proposer = new Proposer(ctx, { detector, admission, progress, bootstrap }, opts.rng, {
      epoch: () => life.epoch,
      bootstrapping: () => life.phase === 'bootstrapping',
      prepareSelf: (now, msg) => this.installer.onPrepare(now, this.addr, msg),
      acceptSelf: (now, msg) => this.installer.onAccept(now, msg),
      install: (now, ballot, proposal) => life.installing(() => this.installer.install(now, ballot, proposal)),
      finishStop: (now) => life.finishStop(now),
      watchIsolation: (now) => detector.watchIsolation(now, life.epoch.roster.keys, life.epoch.quorumSize()),
    }));
    const membership = (this.membership = new Membership(ctx, { life, app: this.app, detector, bootstrap, replies, admission, order }, {
      lastInstall: () => proposer.lastInstall,
      dropProposal: () => proposer.drop(),
      sendToCoordinator: (msg) => this.sendToCoordinator(msg),
    }));
    const epochDeps = { ctx, progress, selfHeld: order.selfHeld, ownOrdered: order.ownOrdered };
    this.installer = new Installer(ctx, { life, order, membership, sender, proposer, progress, detector, bootstrap, admission, delivery, replies, epochDeps }, { sendTo: (now, addr, msg) => this.sendTo(now, addr, msg) });
    if (opts.lastView !== undefined) {
      this.bootstrap.learnNetwork(opts.lastView);
      this.life.become('joining');
    }
  }

  // ===================================================================== accessors

  get phase(): Phase {
    return this.life.phase;
  }

  /** The network's identity ('' before the first view): see `Lifecycle.network`. */
  get network(): string {
    return this.life.network;
  }

  /**
   * Not yet a member: the seed addresses heard starting alongside this one (a founding
   * needs all of them), and the coordinator of a network heard of (joining), if any.
   */
  get startProgress(): Bootstrap['progress'] {
    return this.bootstrap.progress;
  }

  /** The installed endpoint view (epoch 0 before the first install). */
  get currentView(): EndpointView {
    return this.life.epoch.roster.view;
  }

  /** After a restart from the logs: the groups this member restores, until it joins each of them. */
  get restoring(): readonly string[] {
    return this.delivery.restore.restoredBy(this.self);
  }

  /** A group's state this member joined for is awaited (its later events wait for it). */
  get stateAwaited(): boolean {
    return this.joiner.awaitedFrom() !== null;
  }

  /** True while a view change holds delivery. */
  get wedged(): boolean {
    return this.life.wedged;
  }

  /** The replicated group table, as this endpoint's order has delivered it (read-only: for tests and diagnostics). */
  get groupTable(): GroupTable {
    return this.delivery.table;
  }

  /** Members this endpoint currently suspects (keys). */
  suspected(): string[] {
    return this.detector.suspected();
  }

  /** The local id the next `submit` returns. */
  get nextLocalIdValue(): number {
    return this.sender.nextLocalId;
  }

  /** Counters for status and tests. */
  stats(): CoreStats {
    return this.order.stats();
  }

  /**
   * Flow control as it stands, for status displays: each window's use against its
   * limit. The order window is the sequencer's (zero elsewhere); `blocked` is set
   * once a view change found no majority (G9), until the next view.
   */
  flowState(): FlowState {
    return this.order.flowState();
  }

  /**
   * Check the safety invariants of this endpoint's state (see `MemberOrder.checkInvariants`);
   * throws `AssertionFailure` naming the first one broken. The simulator calls it after
   * every step; cheap enough for production too (see `EndpointWorld.checkInvariants`).
   */
  checkInvariants(): void {
    this.order.checkInvariants();
  }

  /** Everything to send and deliver since the last call, in order. */
  takeOutput(): CoreOutput {
    if (this.life.isCoordinator()) this.life.epoch.sequencer!.flush();
    return this.out.take();
  }

  /** When the caller must call `tick` next, at the latest (ms, same clock as `now`). */
  nextWakeAt(): number {
    return Math.min(this.life.epoch.stream.ackDueAt, this.lastNow + Math.max(1, Math.floor(Math.min(this.cfg.heartbeatMs, this.cfg.retransmitMs) / 2)));
  }

  // ===================================================================== API inputs

  /** Begin: found a network, or find one through the seeds. */
  start(now: number): void {
    this.lastNow = now;
    this.bootstrap.start(now);
    this.tick(now);
  }

  /**
   * Queue an entry for the ordered stream: an application message (`kind` app) or a
   * group join, leave or state acknowledgement. Returns the local id its delivery
   * event will carry.
   */
  submit(now: number, kind: EntryKind, group: string, payload: Uint8Array, safe: boolean): number {
    const localId = this.queue(now, kind, group, payload, safe);
    this.order.settle(now);
    return localId;
  }

  /**
   * `submit` without the progress that follows it: the entry waits for `flush` (or any
   * other input). A caller that queues several multicasts in one go and then flushes
   * lets them leave as bundles. An `app` payload is copied; the caller may reuse it.
   */
  queue(now: number, kind: EntryKind, group: string, payload: Uint8Array, safe: boolean): number {
    this.observe(now);
    return this.sender.add(kind, group, payload, safe);
  }

  /** Send what `queue` left waiting, as far as the windows allow. */
  flush(now: number): void {
    this.observe(now);
    this.order.settle(now);
  }

  /**
   * How the application's queues of undelivered events stand, as the shell sees them:
   * `full`, this member acks nothing beyond what it had acked (the senders wait for it,
   * within the order window); `over`, the same, and its heartbeats say it is behind —
   * the others remove it as a slow consumer once it has said so for `lagTimeoutMs`.
   */
  setAppQueue(now: number, q: AppQueue): void {
    this.observe(now);
    if (this.order.setAppQueue(q)) this.order.settle(now);
  }

  /**
   * The application cannot provide `group`'s state (its checkpoint failed): leave the
   * group now, although this member owes joiners their state, saying why. Their
   * obligations move to another member that has the state, or, if none, the joiners
   * learn the state is lost (`state-lost`) rather than start empty.
   */
  abandonProvision(now: number, group: string): void {
    this.observe(now);
    if (!this.delivery.abandon(group)) return;
    this.queue(now, EntryKind.leave, group, leavePayload('checkpoint-failed'), false);
    this.order.settle(now);
  }

  /** The application's checkpoint, answering a `state-request` event. */
  provideState(now: number, group: string, joiner: MemberRef, pos: Position, data: Uint8Array): void {
    this.observe(now);
    if (this.life.phase !== 'member') return;
    const info = this.life.epoch.roster.view.members.find((m) => sameMember(m, joiner));
    const aw = this.delivery.table.awaiting(group, joiner);
    if (info === undefined || aw === undefined || comparePositions(aw.pos, pos) !== 0) return;
    this.provider.start(now, group, info, pos, data);
    this.pumpTransfers(now);
  }

  /** Durable groups: everything delivered up to `pos` is on this endpoint's disk (see `PersistReports`). */
  persisted(now: number, pos: Position): void {
    this.observe(now);
    if (this.life.phase === 'member') this.reports.tell(pos, this.life.epoch.roster.view, this.joiner.awaitedFrom());
  }

  /** Leave the network gracefully (the caller leaves its groups first). */
  leave(now: number): void {
    this.observe(now);
    if (this.life.phase !== 'member' || this.life.epoch.roster.view.members.length === 1) {
      this.life.stop(now);
      return;
    }
    this.membership.leave(now);
    this.order.settle(now);
  }

  /** The transport says `addr` refused a connection (see `Membership.onRefused`). */
  refused(now: number, addr: string): void {
    this.observe(now);
    if (this.membership.onRefused(addr)) this.tick(now);
  }

  // ===================================================================== time

  tick(now: number): void {
    this.observe(now);
    const phase = this.life.phase;
    switch (phase) {
      case 'bootstrapping':
        this.proposer.tick(now, this.bootstrap.onBootstrapTimeout(now));
        break;
      case 'joining':
        if (this.bootstrap.onJoiningTimeout(now)) this.life.become('bootstrapping');
        break;
      case 'member':
        this.tickMember(now);
        break;
      case 'stopped':
        this.proposer.retransmitDecision(now);
        this.life.finishStop(now);
        break;
      case 'excluded':
        break;
      default:
        assertNever(phase);
    }
    this.order.settle(now);
  }

  /** Pause awareness: a long gap between our own inputs is our silence, not theirs. */
  private observe(now: number): void {
    if (now - this.lastNow > this.cfg.pauseThresholdMs && this.life.phase === 'member') {
      this.detector.onPause(now, now - this.lastNow);
    }
    if (now > this.lastNow) this.lastNow = now;
  }

  /**
   * A member's timers, in a fixed order (the order is behaviour: each may send, and a
   * leave that gives up stops this member, after which the rest still run as before).
   */
  private tickMember(now: number): void {
    const roster = this.life.epoch.roster;
    this.membership.onHeartbeatTimeout(now);
    this.detector.onSuspectTimeout(now, roster.keys, this.progress.laggards);
    this.detector.watchIsolation(now, roster.keys, this.life.epoch.quorumSize());
    this.order.onLagTimeout(now);
    this.order.onNakTimeout(now);
    if (!this.life.wedged && !this.life.isCoordinator()) this.sender.onResendTimeout(now, roster.view.epoch, (msg) => this.sendToCoordinator(msg));
    this.membership.onLeaveTimeout(now);
    this.proposer.tick(now, true);
    this.proposer.retransmitDecision(now);
    this.pumpTransfers(now);
    this.joiner.onAckTimeout(now);
    this.membership.onBlockedTimeout(now);
  }

  // ===================================================================== receive

  receive(now: number, from: string, msg: Message): void {
    this.observe(now);
    this.dispatch(now, from, msg);
    this.order.settle(now);
  }

  /** One handler per message type, in the part that owns it. */
  private dispatch(now: number, from: string, msg: Message): void {
    const phase = this.life.phase;
    if (phase === 'excluded') return;
    if (phase === 'stopped') {
      const last = this.proposer.lastInstall;
      if (msg.t === 'installed' && last !== null && msg.epoch === last.proposal.view.epoch) {
        last.waiting.delete(memberKey(msg.from));
        this.life.finishStop(now);
      }
      return;
    }
    switch (msg.t) {
      case 'probe':
        return this.membership.onProbe(now, msg);
      case 'probe-reply':
        return this.membership.onProbeReply(now, msg);
      case 'join-req':
        return this.membership.onJoinReq(now, msg);
      case 'leave-req':
        return this.membership.onLeaveReq(now, msg.from, from);
      case 'heartbeat':
        if (this.membership.fromMember(now, msg.from, msg.epoch, from) >= 0) {
          this.detector.onHeartbeat(now, memberKey(msg.from), msg.hears, msg.behind);
          this.order.onHeartbeat(msg);
          this.installer.heardInEpoch(memberKey(msg.from));
        }
        return;
      case 'ack': {
        const r = this.membership.fromMember(now, msg.from, msg.epoch, from);
        if (r >= 0) this.order.onAck(r, msg.held);
        return;
      }
      case 'data': {
        const r = this.membership.fromMember(now, msg.from, msg.epoch, from);
        // Its sender's rank: the member that sent it, unless it answers a NAK.
        if (r >= 0) this.order.onData(msg, sameMember(msg.sender, msg.from) ? r : (this.life.epoch.roster.rank.get(memberKey(msg.sender)) ?? -1));
        return;
      }
      case 'order':
        if (this.membership.fromMember(now, msg.from, msg.epoch, from) >= 0) this.order.onOrder(msg.first, msg.entries, msg.stable, msg.committed);
        return;
      case 'nak':
        if (this.membership.fromMember(now, msg.from, msg.epoch, from) >= 0) this.order.onNak(msg.from, msg.first, msg.last);
        return;
      case 'prepare':
        return this.installer.onPrepare(now, from, msg);
      case 'promise':
        return this.proposer.onPromise(now, msg);
      case 'reject':
        return this.proposer.onReject(now, msg);
      case 'accept':
        return this.installer.onAccept(now, msg);
      case 'accepted':
        return this.proposer.onAccepted(now, msg.from, msg.epoch, msg.ballot);
      case 'commit':
        return this.installer.onCommit(now, msg.from, msg.epoch, msg.ballot);
      case 'installed':
        return this.installer.onInstalled(now, msg);
      case 'welcome':
        return this.installer.onWelcome(now, msg);
      case 'not-member':
        return this.membership.onNotMember(now, msg.epoch, msg.to);
      case 'join-refused':
        return this.membership.onJoinRefused(now, msg);
      case 'state-chunk':
        return this.joiner.onStateChunk(now, from, msg, this.life.epoch.position());
      case 'state-ack':
        if (this.provider.onStateAck(now, msg.from, msg.group, msg.pos, msg.offset)) this.pumpTransfers(now);
        return;
      case 'persisted':
        if (this.membership.fromMember(now, msg.from, msg.epoch, from) >= 0) this.reports.onReport(msg.from, msg.pos);
        return;
      case 'restart':
        return this.membership.onRestart(now, msg);
      case 'status-req':
      case 'status-reply':
        // An operator's probe: the Endpoint answers it; it never concerns the protocol.
        return;
      default:
        assertNever(msg);
    }
  }

  // ===================================================================== between the parts

  /** Send to the coordinator; to ourselves, handle it at once. */
  private sendToCoordinator(msg: Message): void {
    const c = this.life.epoch.roster.view.members[0];
    if (c === undefined) return;
    if (sameMember(c, this.self)) this.dispatch(this.lastNow, this.addr, msg);
    else this.out.send(c.addr, msg);
  }

  /** Send to `addr`; to ourselves, handle it at once. */
  private sendTo(now: number, addr: string, msg: Message): void {
    if (addr === this.addr) this.dispatch(now, addr, msg);
    else this.out.send(addr, msg);
  }

  /**
   * A state arrived whole: its `stateDone` goes first in the queue — nothing of ours
   * waits behind it for a reason, and a join queued before it would otherwise wait for
   * it (one state at a time).
   */
  private queueStateDone(now: number, group: string, pos: Position): void {
    this.sender.addFirst(EntryKind.stateDone, group, encodePos(pos));
    this.order.settle(now);
  }

  private pumpTransfers(now: number): void {
    if (this.life.phase === 'member') this.provider.pump(now, this.life.epoch.roster.rank);
  }
}
