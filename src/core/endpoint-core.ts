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
 * This class routes each input to the part that owns it, runs the settle loop after
 * every input, ticks the timers in a fixed order, and changes the phase. The parts,
 * bottom to top, each opening with its intuition:
 *
 * - `outbox.ts`, `app-stream.ts`: the ordered output of a turn; the application's one
 *   stream, where a joiner's first view and state wait for the state to arrive.
 * - **Views** (`membership/roster.ts`, `epoch.ts`): a view is an epoch and its members
 *   in rank order; `members[0]` is the coordinator and the sequencer. Everything that
 *   lives as long as one view is an `Epoch`, made new at every install.
 * - **Failure detection** (`membership/failure-detector.ts`): silence longer than
 *   `suspectTimeoutMs`, a refused connection, or a member's own word (isolated, a slow
 *   consumer) is a suspicion; a long gap between this endpoint's own inputs means it
 *   was paused itself, and every peer gets a fresh timeout.
 * - **Founding and joining** (`membership/bootstrap.ts`, `membership/admission.ts`):
 *   epoch 0 is the seed list; the first view is chosen by the same Paxos round with
 *   *every* seed address as the quorum, so members started together never found two
 *   networks, and members restarted while the network lives on join it (see
 *   docs/founding.md). The coordinator batches joins and leaves for the next view.
 * - **Order** (`order/send-window.ts`, `order/stream.ts`, `order/sequencer.ts`,
 *   `order/progress.ts`): a sender sends each multicast (`data`) to every member; the
 *   sequencer assigns global sequence numbers in arrival order, keeping each sender's
 *   FIFO, and broadcasts small batched `order` records. A member delivers in global
 *   order once it holds both, asks for what it lacks (`nak`), and acknowledges how far
 *   it holds; what every member holds is *stable*, what a majority holds *committed*
 *   (`quorum.ts`). Windows bound what is in flight; laggards are removed.
 * - **Groups** (`groups/group-table.ts`, `groups/entry-delivery.ts`): joins and leaves
 *   are entries of the same order, so every endpoint sees them at the same position,
 *   and order is consistent across overlapping groups (G2).
 * - **State transfer** (`transfer/provider.ts`, `transfer/joiner.ts`): the provider's
 *   checkpoint is taken at exactly the join position (`state-request` event) and
 *   streamed in chunks within a window; the joiner holds its later events until the
 *   state is complete, then says so in order (`stateDone`).
 * - **View change = single-decree Paxos per epoch** (`viewchange/proposer.ts`,
 *   `viewchange/acceptor.ts`, `viewchange/choose.ts`): a proposer sends `prepare`;
 *   acceptors stop delivering (*wedged*) and answer with what they hold beyond the
 *   stable prefix and any proposal they accepted. With promises from a majority (G9)
 *   the proposer picks the next view and the cut — or the highest accepted proposal,
 *   as Paxos requires — acceptors accept, the proposer commits, and every member
 *   delivers up to the cut and installs the view (`install` below; G5, G6). Multicasts
 *   of survivors beyond the cut are sent again in the new view.
 * - **Exclusion** (`membership/replies.ts`): a member of a later view that hears from
 *   a member not in it says `not-member`; the excluded one reports `excluded` and
 *   comes back as a new incarnation (G8).
 */
import { assert, assertNever } from '../errors.js';
import type { AppQueue, CoreOptions, FlowState, Phase } from './core-api.js';
import type { CoreConfig } from './config.js';
import { CoreCounters } from './counters.js';
import { GroupAccess } from './access.js';
import { EntryDelivery, leavePayload } from './groups/entry-delivery.js';
import { GroupTable } from './groups/group-table.js';
import { AppStream } from './app-stream.js';
import type { CoreContext } from './context.js';
import { Outbox } from './outbox.js';
import { Proposer } from './viewchange/proposer.js';
import { Progress } from './order/progress.js';
import { SendWindow } from './order/send-window.js';
import type { Pending } from './order/send-window.js';
import { Replies } from './membership/replies.js';
import { Admission } from './membership/admission.js';
import { Bootstrap } from './membership/bootstrap.js';
import { Epoch } from './epoch.js';
import type { EpochDeps } from './epoch.js';
import { FailureDetector } from './membership/failure-detector.js';
import { StateJoiner, encodePos } from './transfer/joiner.js';
import { StateProvider } from './transfer/provider.js';
import type { CoreEvent, CoreLogLevel, CoreOutput } from './outbox.js';
import { majority } from './quorum.js';
import { EntryKind, comparePositions, memberKey, memberRef, sameMember } from './types.js';
import type {
  AcceptMsg,
  Ballot,
  DataMsg,
  EndpointView,
  ProbeReplyMsg,
  Failure,
  MemberRef,
  Message,
  OrderEntry,
  Position,
  PrepareMsg,
  PromiseMsg,
  Proposal,
  WelcomeMsg,
} from './types.js';

export type { CoreEvent, CoreLogLevel, CoreOutput, GroupView } from './outbox.js';
export { leavePayload } from './groups/entry-delivery.js';

export type { AppQueue, CoreOptions, FlowState, Phase } from './core-api.js';

/** The view a non-member reports: none. */
const NO_VIEW: EndpointView = { epoch: 0, members: [] };

/**
 * The phases an endpoint may move to from each phase: found or join, become a member
 * (again at every view), and end excluded or stopped. A joiner whose network is proven
 * gone bootstraps again; an excluded endpoint may still be stopped; a stopped one is done.
 */
const LEGAL_PHASE_CHANGES: Readonly<Record<Phase, readonly Phase[]>> = {
  bootstrapping: ['joining', 'member', 'stopped'],
  joining: ['bootstrapping', 'member', 'excluded', 'stopped'],
  member: ['member', 'excluded', 'stopped'],
  excluded: ['stopped'],
  stopped: [],
};

/** Most progress rounds one input may cause (a bound, not a tuning knob). */
const settleRoundsMax = 1_000_000;

export class EndpointCore {
  readonly self: MemberRef;
  readonly selfKey: string;
  readonly addr: string;
  private readonly cfg: CoreConfig;
  /** Counted for metrics; the protocol never reads them. */
  readonly counters: CoreCounters;
  private readonly access: GroupAccess;
  /** Member: when to ask the coordinator again to let us leave. */
  private nextLeaveRequestAt = 0;

  private phaseValue: Phase = 'bootstrapping';
  /**
   * The network's identity: its founder and founding ballot (`id#inc/round`), fixed
   * when epoch 1 is installed and passed to every joiner in its welcome. A network
   * founded anew after a total failure has a new one, and its groups start over, so a
   * checker tells a re-founding from a split (two networks live at once) by it.
   */
  private networkValue = '';
  /** The installed view and everything that lives as long as it (a new one per view). */
  private epoch: Epoch;
  private readonly out = new Outbox();
  /** The application's ordered stream, held behind state markers. */
  private readonly app = new AppStream(this.out);
  private lastNow = 0;
  private settling = false;
  private committing = false;
  private stopPending = false;

  // --- sending ---
  /** Hands own data to the ordered stream (bound once: it runs per entry sent). */
  private readonly storeOwn = (msg: DataMsg): void => this.onData(msg, this.epoch.roster.selfRank);
  private readonly heldBackFn = (q: Pending): boolean => this.heldBack(q);

  // --- ordering (this epoch) ---
  /** Own entries ordered: the send window stops resending them. */
  private readonly ownOrdered = (seq: number): void => this.sender.ordered(seq);
  /** What this member may report it holds (for the sequencer's own holding). */
  private readonly selfHeld = (): number => this.ackable();
  private nextNakAt = 0;
  // --- failure detection ---
  private nextHeartbeatAt = 0;
  /**
   * How the application's queues of undelivered events stand (see `setAppQueue`):
   * unless `ok`, acks claim no more than `ackCap`, so that stability, and with it the
   * order window, waits for the application — flow control reaches the senders; `over`,
   * heartbeats say so too.
   */
  private appQueue: AppQueue = 'ok';
  /** While the application is behind: the most this member acks in this epoch. */
  private ackCap = Infinity;

  // --- membership changes ---
  /** The view change's proposer (its ballot, its last decision to resend). */
  private readonly proposer: Proposer;
  private leaving = false;
  private leavingSince = 0;
  private lingerUntil = 0;

  // --- the parts, bottom to top (the outbox and the application's stream are above) ---
  /** Silence, refusal, isolation, slow consumers; pause awareness. */
  private readonly detector: FailureDetector;
  /** Before membership: probes, the founding quorum, the contact of a network to join. */
  private readonly bootstrap: Bootstrap;
  /** Rate-limited answers to members that are behind (excluded, or missing a decision). */
  private readonly replies: Replies;
  /** The coordinator's pending joins and leaves. */
  private readonly admission: Admission;
  /** Own entries: queued, bundled, in flight within the send window. */
  private readonly sender: SendWindow;
  /** The sequencer's laggards (outlives epochs). */
  private readonly progress: Progress;
  /** What each new epoch's sequencer needs. */
  private readonly epochDeps: EpochDeps;
  /** The group table, and delivering each ordered entry into it and to the application. */
  private readonly delivery: EntryDelivery;
  /** State transfer: streaming checkpoints to joiners, and receiving our own. */
  private readonly provider: StateProvider;
  private readonly joiner: StateJoiner;

  constructor(opts: CoreOptions) {
    this.self = memberRef(opts.self);
    this.selfKey = memberKey(opts.self);
    this.addr = opts.addr;
    this.epoch = Epoch.none(this.selfKey);
    this.cfg = opts.config;
    this.counters = opts.counters ?? new CoreCounters();
    this.access = opts.access ?? GroupAccess.open;
    const ctx: CoreContext = { self: this.self, selfKey: this.selfKey, addr: this.addr, cfg: this.cfg, counters: this.counters, out: this.out };
    this.detector = new FailureDetector(ctx);
    this.bootstrap = new Bootstrap(ctx, opts.seeds);
    this.replies = new Replies(ctx);
    this.admission = new Admission(ctx);
    this.sender = new SendWindow(ctx, opts.firstLocalId ?? 1);
    this.progress = new Progress(ctx);
    this.epochDeps = { ctx, progress: this.progress, selfHeld: this.selfHeld, ownOrdered: this.ownOrdered };
    this.provider = new StateProvider(ctx);
    this.proposer = new Proposer(ctx, { detector: this.detector, admission: this.admission, progress: this.progress, bootstrap: this.bootstrap }, opts.rng, {
      epoch: () => this.epoch,
      bootstrapping: () => this.phaseValue === 'bootstrapping',
      prepareSelf: (now, msg) => this.onPrepare(now, this.addr, msg),
      acceptSelf: (now, msg) => this.onAccept(now, msg),
      install: (now, ballot, proposal) => {
        // While installing, a proposer that removed itself must not finish stopping
        // before it has recorded the decision it is to retransmit.
        this.committing = true;
        const welcome = this.install(now, ballot, proposal);
        this.committing = false;
        return welcome;
      },
      finishStop: (now) => this.finishStop(now),
      watchIsolation: (now) => this.detector.watchIsolation(now, this.epoch.roster.keys, this.quorumSize()),
    });
    this.joiner = new StateJoiner(ctx, this.app, (now, group, pos) => this.queueStateDone(now, group, pos));
    this.delivery = new EntryDelivery(ctx, { app: this.app, access: this.access, joiner: this.joiner, provider: this.provider }, {
      epoch: () => this.epoch,
      network: () => this.networkValue,
      now: () => this.lastNow,
    });
    if (opts.lastView !== undefined) {
      this.bootstrap.learnNetwork(opts.lastView);
      this.become('joining');
    }
  }

  // ===================================================================== accessors

  get phase(): Phase {
    return this.phaseValue;
  }

  /** The network's identity ('' before the first view): see `networkValue`. */
  get network(): string {
    return this.networkValue;
  }

  /**
   * Not yet a member: the seed addresses heard starting alongside this one (a founding
   * needs all of them), and the coordinator of a network heard of (joining), if any.
   */
  get startProgress(): { readonly bootstrapping: readonly string[]; readonly contact: string | null; readonly known: EndpointView | null } {
    return this.bootstrap.progress;
  }

  /** The installed endpoint view (epoch 0 before the first install). */
  get currentView(): EndpointView {
    return this.epoch.roster.view;
  }

  /** True while a view change holds delivery. */
  get wedged(): boolean {
    return this.epoch.acceptor.wedgedAt !== null;
  }

  /** The replicated group table, as this endpoint's order has delivered it (read-only: for tests and diagnostics). */
  get groupTable(): GroupTable {
    return this.delivery.table;
  }

  /** The group's current members as this endpoint's order has delivered them. */
  groupMembers(group: string): readonly MemberRef[] {
    return this.delivery.table.members(group);
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
  stats(): {
    /** Epoch of the endpoint's current network view. */
    epoch: number;
    /** Global sequence number of the last entry delivered here. */
    delivered: number;
    /** Highest global sequence number held here without a gap. */
    held: number;
    /** Highest global sequence number every member holds (stable). */
    stable: number;
    /** Own entries (messages or bundles of them) waiting for room in the send window. */
    queued: number;
    /** Own messages sent and not yet delivered here (a bundle counts each of its messages). */
    inFlight: number;
  } {
    return {
      epoch: this.epoch.roster.view.epoch,
      delivered: this.epoch.stream.delivered,
      held: this.epoch.stream.held,
      stable: this.epoch.stream.stable,
      queued: this.sender.queued,
      inFlight: this.sender.inFlight.messages,
    };
  }

  /**
   * Flow control as it stands, for status displays: each window's use against its
   * limit. The order window is the sequencer's (zero elsewhere); `blocked` is set
   * once a view change found no majority (G9), until the next view.
   */
  flowState(): FlowState {
    const flight = this.sender.inFlight;
    const seq = this.epoch.sequencer;
    return {
      sendWindow: flight.entries,
      sendWindowMax: this.cfg.sendWindowMax,
      sendWindowBytes: flight.bytes,
      sendWindowBytesMax: this.cfg.sendWindowBytesMax,
      sequencer: this.phaseValue === 'member' && this.isCoordinator(),
      orderWindow: seq === null ? 0 : seq.window.entries,
      orderWindowMax: this.cfg.orderWindowMax,
      orderWindowBytes: seq === null ? 0 : seq.window.bytes,
      orderWindowBytesMax: this.cfg.orderWindowBytesMax,
      orderWindowFull: seq !== null && seq.windowFull(),
      wedged: this.wedged,
      blocked: this.epoch.blockedReported,
    };
  }

  /**
   * Check the safety invariants of this endpoint's state; throws `AssertionFailure`
   * naming the first one broken. The simulator calls it after every step; it is
   * O(members) and allocates nothing, cheap enough for production too (the Endpoint
   * runs it when its world asks, see `EndpointWorld.checkInvariants`).
   *
   * - delivered ≤ held ≤ ordered: nothing is delivered that is not held, in order;
   * - delivered ≤ what a majority holds (committed), except in views of at most three,
   *   where this member and the sequencer are that majority (see `deliverable`);
   * - stable ≤ committed: what every member holds a majority holds;
   * - a promise freezes what this member vouches for: no ack or heartbeat since
   *   reported more than it held when it first promised or accepted in this epoch;
   * - at the sequencer, committed and stable are at most what a majority (all) of
   *   the members reported holding, and it orders nothing while wedged.
   */
  checkInvariants(): void {
    if (this.phaseValue !== 'member') return;
    assert(this.epoch.stream.delivered <= this.epoch.stream.held, `invariant: delivered ${this.epoch.stream.delivered} > held ${this.epoch.stream.held}`);
    assert(this.epoch.stream.held <= this.epoch.stream.orderedMax, `invariant: held ${this.epoch.stream.held} > ordered ${this.epoch.stream.orderedMax}`);
    assert(this.epoch.stream.delivered <= this.deliverable(), `invariant: delivered ${this.epoch.stream.delivered} beyond what a majority holds (${this.deliverable()})`);
    assert(this.epoch.stream.stable <= this.epoch.stream.committed, `invariant: stable ${this.epoch.stream.stable} > committed ${this.epoch.stream.committed}`);
    if (this.epoch.acceptor.vouched !== null) assert(this.epoch.stream.lastAckSent <= this.epoch.acceptor.vouched, `invariant: reported holding ${this.epoch.stream.lastAckSent} after promising at ${this.epoch.acceptor.vouched}`);
    if (this.isCoordinator()) this.epoch.sequencer!.checkInvariants(this.wedged);
  }

  /** Everything to send and deliver since the last call, in order. */
  takeOutput(): CoreOutput {
    if (this.isCoordinator()) this.epoch.sequencer!.flush();
    return this.out.take();
  }

  /** When the caller must call `tick` next, at the latest (ms, same clock as `now`). */
  nextWakeAt(): number {
    return Math.min(this.epoch.stream.ackDueAt, this.lastNow + Math.max(1, Math.floor(Math.min(this.cfg.heartbeatMs, this.cfg.retransmitMs) / 2)));
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
    this.settle(now);
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
    this.settle(now);
  }

  /**
   * How the application's queues of undelivered events stand, as the shell sees them:
   * `full`, this member acks nothing beyond what it had acked (the senders wait for it,
   * within the order window); `over`, the same, and its heartbeats say it is behind —
   * the others remove it as a slow consumer once it has said so for `lagTimeoutMs`.
   */
  setAppQueue(now: number, q: AppQueue): void {
    this.observe(now);
    if (q === this.appQueue) return;
    const held = this.appQueue !== 'ok';
    this.appQueue = q;
    if (held !== (q !== 'ok')) {
      this.ackCap = q !== 'ok' ? Math.min(this.epoch.stream.lastAckSent, this.ackable()) : Infinity;
      // The sequencer's own hold counts in stability, which it must now compute again.
      if (this.epoch.sequencer !== null) this.epoch.sequencer.stableDirty = true;
      this.log(q !== 'ok' ? 'the application is behind: acknowledgements wait for it' : 'the application caught up', 'debug');
    }
    this.settle(now);
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
    this.settle(now);
  }

  /** The application's checkpoint, answering a `state-request` event. */
  provideState(now: number, group: string, joiner: MemberRef, pos: Position, data: Uint8Array): void {
    this.observe(now);
    if (this.phaseValue !== 'member') return;
    const info = this.epoch.roster.view.members.find((m) => sameMember(m, joiner));
    const aw = this.delivery.table.awaiting(group, joiner);
    if (info === undefined || aw === undefined || comparePositions(aw.pos, pos) !== 0) return;
    this.provider.start(now, group, info, pos, data);
    this.pumpTransfers(now);
  }

  /** Leave the network gracefully (the caller leaves its groups first). */
  leave(now: number): void {
    this.observe(now);
    if (this.phaseValue !== 'member' || this.epoch.roster.view.members.length === 1) {
      this.stop(now);
      return;
    }
    this.leaving = true;
    this.leavingSince = now;
    this.requestLeave(now);
    this.settle(now);
  }

  // ===================================================================== time

  tick(now: number): void {
    this.observe(now);
    switch (this.phaseValue) {
      case 'bootstrapping':
        this.tickBootstrap(now);
        break;
      case 'joining':
        this.tickJoining(now);
        break;
      case 'member':
        this.tickMember(now);
        break;
      case 'stopped':
        this.proposer.retransmitDecision(now);
        this.finishStop(now);
        break;
      case 'excluded':
        break;
      default:
        assertNever(this.phaseValue);
    }
    this.settle(now);
  }

  /** Pause awareness: a long gap between our own inputs is our silence, not theirs. */
  private observe(now: number): void {
    if (now - this.lastNow > this.cfg.pauseThresholdMs && this.phaseValue === 'member') {
      this.detector.onPause(now, now - this.lastNow);
    }
    if (now > this.lastNow) this.lastNow = now;
  }

  private tickBootstrap(now: number): void {
    this.proposer.tick(now, this.bootstrap.onBootstrapTimeout(now));
  }

  private tickJoining(now: number): void {
    if (this.bootstrap.onJoiningTimeout(now)) this.become('bootstrapping');
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
      if (a === this.addr || this.epoch.roster.rankByAddr.has(a)) continue;
      reply ??= { t: 'probe-reply', from: this.self, addr: this.addr, config: this.bootstrap.foundingQuorum, view: this.epoch.roster.view, joining: false };
      this.send(a, reply);
    }
  }

  private heartbeat(): Message {
    return {
      t: 'heartbeat',
      from: this.self,
      epoch: this.epoch.roster.view.epoch,
      ordered: this.epoch.stream.orderedMax,
      stable: this.epoch.stream.stable,
      committed: this.epoch.stream.committed,
      held: this.ackable(),
      hears: this.detector.isolatedSince === null,
      behind: this.appQueue === 'over',
    };
  }

  /**
   * A member's timers, in a fixed order (the order is behaviour: each may send, and a
   * leave that gives up stops this member, after which the rest still run as before).
   */
  private tickMember(now: number): void {
    this.onHeartbeatTimeout(now);
    this.detector.onSuspectTimeout(now, this.epoch.roster.keys, this.progress.laggards);
    this.detector.watchIsolation(now, this.epoch.roster.keys, this.quorumSize());
    this.onLagTimeout(now);
    this.onNakTimeout(now);
    if (!this.wedged && !this.isCoordinator()) this.sender.onResendTimeout(now, this.epoch.roster.view.epoch, (msg) => this.sendToCoordinator(msg));
    this.onLeaveTimeout(now);
    this.proposer.tick(now, true);
    this.proposer.retransmitDecision(now);
    this.pumpTransfers(now);
    this.joiner.onAckTimeout(now);
    this.onBlockedTimeout(now);
  }

  /** Heartbeats to every member (they carry this member's holding: an ack); the coordinator announces the network. */
  private onHeartbeatTimeout(now: number): void {
    if (now < this.nextHeartbeatAt) return;
    this.nextHeartbeatAt = now + this.cfg.heartbeatMs;
    const hb = this.heartbeat();
    for (const m of this.epoch.roster.view.members) if (!sameMember(m, this.self)) this.send(m.addr, hb);
    this.ackSent();
    if (this.isCoordinator() && !this.epoch.blockedReported && this.detector.isolatedSince === null) this.announce();
  }

  /** The sequencer looks for laggards (see `Progress`). */
  private onLagTimeout(now: number): void {
    const seq = this.isCoordinator() ? this.epoch.sequencer : null;
    this.progress.onLagTimeout(now, {
      windowFull: this.epoch.sequencer !== null && this.epoch.sequencer.windowFull(),
      sequencer: seq !== null,
      wedged: this.wedged,
      roster: this.epoch.roster,
      committed: this.epoch.stream.committed,
      acked: (k) => seq!.acked(k),
      detector: this.detector,
    });
  }

  /** Ask the sequencer for ordered entries this member lacks, at most `nakBatchMax` per `retransmitMs`. */
  private onNakTimeout(now: number): void {
    const stream = this.epoch.stream;
    if (stream.orderedMax > stream.held && now >= this.nextNakAt && !this.isCoordinator() && !this.wedged) {
      this.nextNakAt = now + this.cfg.retransmitMs;
      const first = stream.held + 1;
      const last = Math.min(stream.orderedMax, stream.held + this.cfg.nakBatchMax);
      this.sendToCoordinator({ t: 'nak', from: this.self, epoch: this.epoch.roster.view.epoch, first, last });
      this.counters.naksSent++;
    }
  }

  /** Our graceful leave: ask again; stop anyway when nobody answers. */
  private onLeaveTimeout(now: number): void {
    if (this.leaving && now >= this.nextLeaveRequestAt) this.requestLeave(now);
    if (this.leaving && now - this.leavingSince > this.cfg.suspectTimeoutMs * 3) {
      // Nobody answers our leave (the others are gone, or cut off): stop anyway; the
      // survivors remove us as they would remove a crashed member.
      this.log('leave not acknowledged; stopping', 'warn');
      this.stop(now);
    }
  }

  /**
   * Blocked: this side cannot hear a majority (G9), and a view change to fix it was
   * tried and went nowhere, or was not tried because this member is isolated (then the
   * others, which may hear it, have had the time to remove it). Then look for a later
   * view at the seeds; and leave a view that can never change.
   */
  private onBlockedTimeout(now: number): void {
    const wedgedLong = this.epoch.acceptor.wedgedAt !== null && now - this.epoch.acceptor.wedgedAt > this.cfg.flushTimeoutMs;
    const isolatedLong = this.detector.isolatedSince !== null && now - this.detector.isolatedSince > this.cfg.suspectTimeoutMs + this.cfg.flushTimeoutMs;
    if ((wedgedLong || isolatedLong) && !this.epoch.blockedReported) {
      const heard = this.epoch.roster.view.members.filter((m) => !this.detector.isSuspected(memberKey(m))).length;
      if (heard < this.quorumSize()) {
        this.epoch.blockedReported = true;
        this.log(`blocked: hears ${heard} of ${this.epoch.roster.view.members.length} members`, 'warn');
        // In the application's stream, after what was delivered before it.
        this.app.emit({ type: 'blocked' });
      }
    }
    if ((this.epoch.blockedReported || this.detector.isolatedSince !== null) && now >= this.epoch.nextSeekAt) this.seekLaterView(now);
    // Blocked for good: a majority of the view restarted, so it may have decided
    // anything before, and none of it can ever promise again. This view is over; leave
    // it as if excluded (the endpoint starts over as a new incarnation, which joins or,
    // if every seed is starting too, founds a network). It never delivered anything
    // the others did not, and it can deliver nothing more, so nothing is lost (G9).
    if (this.epoch.blockedReported && this.epoch.restarted.size >= majority(this.epoch.roster.view.members.length)) {
      if (this.leaving) {
        this.log('leaving a view that can never change: stopping', 'warn');
        this.stop(now);
        return;
      }
      this.exclude(`the view of epoch ${this.epoch.roster.view.epoch} can never change: ${this.epoch.restarted.size} of ${this.epoch.roster.view.members.length} members restarted`);
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
    this.epoch.nextSeekAt = now + this.cfg.suspectTimeoutMs;
    this.bootstrap.probeAll();
  }

  /**
   * The transport says `addr` refused a connection: nothing listens there, so the
   * member of our view at that address is gone. Suspected now, not after the timeout
   * (option `suspectRefused`); the view change that follows still needs a majority.
   */
  refused(now: number, addr: string): void {
    this.observe(now);
    if (this.phaseValue === 'joining' || this.phaseValue === 'bootstrapping') this.bootstrap.refused(addr);
    if (this.phaseValue !== 'member' || !this.cfg.suspectRefused) return;
    const m = this.epoch.roster.view.members.find((x) => x.addr === addr);
    if (m === undefined) return;
    const k = memberKey(m);
    if (this.detector.onRefused(k, addr)) this.tick(now);
  }

  // ===================================================================== receive

  receive(now: number, from: string, msg: Message): void {
    this.observe(now);
    this.dispatch(now, from, msg);
    this.settle(now);
  }

  private dispatch(now: number, from: string, msg: Message): void {
    if (this.phaseValue === 'excluded') return;
    if (this.phaseValue === 'stopped') {
      if (msg.t === 'installed' && this.proposer.lastInstall !== null && msg.epoch === this.proposer.lastInstall.proposal.view.epoch) {
        this.proposer.lastInstall.waiting.delete(memberKey(msg.from));
        this.finishStop(now);
      }
      return;
    }
    switch (msg.t) {
      case 'probe':
        if (this.phaseValue === 'member' && this.replies.resendWelcome(now, this.epoch, msg.from, msg.addr)) return;
        this.noteRestart(msg.from, msg.addr);
        if (this.phaseValue !== 'member') this.bootstrap.answered(msg.addr, msg.from);
        return this.onProbe(msg.addr);
      case 'probe-reply':
        return this.onProbeReply(now, msg);
      case 'join-req':
        return this.onJoinReq(now, msg);
      case 'leave-req':
        return this.onLeaveReq(now, msg.from, from);
      case 'heartbeat':
        if (this.fromMember(now, msg.from, msg.epoch, from) >= 0) this.onHeartbeat(now, msg);
        return;
      case 'ack': {
        const r = this.fromMember(now, msg.from, msg.epoch, from);
        if (r >= 0 && this.isCoordinator()) this.epoch.sequencer!.onAck(r, msg.held);
        return;
      }
      case 'data': {
        const r = this.fromMember(now, msg.from, msg.epoch, from);
        // Its sender's rank: the member that sent it, unless it answers a NAK.
        if (r >= 0) this.onData(msg, sameMember(msg.sender, msg.from) ? r : (this.epoch.roster.rank.get(memberKey(msg.sender)) ?? -1));
        return;
      }
      case 'order':
        if (this.fromMember(now, msg.from, msg.epoch, from) >= 0) this.onOrder(msg.first, msg.entries, msg.stable, msg.committed);
        return;
      case 'nak':
        if (this.fromMember(now, msg.from, msg.epoch, from) >= 0 && this.isCoordinator()) this.epoch.sequencer!.onNak(msg.from, msg.first, msg.last);
        return;
      case 'prepare':
        return this.onPrepare(now, from, msg);
      case 'promise':
        return this.proposer.onPromise(now, msg);
      case 'reject':
        return this.proposer.onReject(now, msg);
      case 'accept':
        return this.onAccept(now, msg);
      case 'accepted':
        return this.proposer.onAccepted(now, msg.from, msg.epoch, msg.ballot);
      case 'commit':
        return this.onCommit(now, msg.from, msg.epoch, msg.ballot);
      case 'installed':
        if (this.proposer.lastInstall !== null && msg.epoch === this.proposer.lastInstall.proposal.view.epoch) {
          this.proposer.lastInstall.waiting.delete(memberKey(msg.from));
        }
        if (this.phaseValue === 'member' && msg.epoch === this.epoch.roster.view.epoch && this.epoch.roster.rank.has(memberKey(msg.from))) {
          this.heard(now, memberKey(msg.from));
        }
        return;
      case 'welcome':
        return this.onWelcome(now, msg);
      case 'not-member':
        return this.onNotMember(now, msg.epoch, msg.to);
      case 'join-refused':
        return this.onJoinRefused(now, msg);
      case 'state-chunk':
        return this.joiner.onStateChunk(now, from, msg, this.epoch.position());
      case 'state-ack':
        if (this.provider.onStateAck(now, msg.from, msg.group, msg.pos, msg.offset)) this.pumpTransfers(now);
        return;
      case 'status-req':
      case 'status-reply':
        // An operator's probe: the Endpoint answers it; it never concerns the protocol.
        return;
      default:
        assertNever(msg);
    }
  }

  /**
   * Accept a message of the current epoch from a member of the current view. A
   * member of an older epoch that is not in this view learns it is excluded.
   */
  private fromMember(now: number, from: MemberRef, epoch: number, addr: string): number {
    if (this.phaseValue !== 'member') return -1;
    const roster = this.epoch.roster;
    if (epoch === roster.view.epoch) {
      // The common case, without building a key: the member at the address it speaks
      // from (the transport hands over the same address string every time).
      const r = roster.rankAt(addr, from);
      if (r >= 0) {
        this.heard(now, roster.keys[r]!);
        return r;
      }
    }
    const k = memberKey(from);
    if (epoch < this.epoch.roster.view.epoch) {
      if (!this.epoch.roster.rank.has(k)) this.replies.notMember(now, this.epoch, from, addr);
      else if (epoch + 1 === this.epoch.roster.view.epoch) this.replies.resendCommit(now, this.epoch, from, addr);
      return -1;
    }
    if (epoch !== this.epoch.roster.view.epoch) return -1;
    const r = this.epoch.roster.rank.get(k);
    // A member speaks only from its own address: the transport authenticates that
    // address (with a network secret), so nobody can speak in another member's name.
    if (r === undefined || this.epoch.roster.view.members[r]!.addr !== addr) return -1;
    this.heard(now, k);
    return r;
  }

  private heard(now: number, k: string): void {
    this.detector.heard(now, k);
  }

  // ===================================================================== bootstrap and join

  /**
   * Tell a prober where we are: in a network (and its whole view), joining one, or
   * bootstrapping. A joining endpoint names no network: what it knows of one is
   * hearsay (its contact may be gone, or be the prober itself, restarted), and passing
   * it on could send every restarted process to wait on a network that is no more.
   */
  private onProbe(replyTo: string): void {
    const member = this.phaseValue === 'member';
    const view: EndpointView = member ? this.epoch.roster.view : NO_VIEW;
    this.send(replyTo, { t: 'probe-reply', from: this.self, addr: this.addr, config: this.bootstrap.foundingQuorum, view, joining: this.phaseValue === 'joining' });
  }

  /**
   * A probe, or an answer to ours, from a new incarnation of a member of our view, at
   * its address: the old
   * one is gone for good (a process restarted without persistence). Counted to know
   * when this view can never change again (see `tickMember`).
   */
  private noteRestart(from: MemberRef, addr: string): void {
    if (this.phaseValue !== 'member') return;
    const m = this.epoch.roster.memberAt(addr);
    if (m !== undefined && m.id === from.id && m.inc !== from.inc) this.epoch.restarted.add(memberKey(m));
  }

  private onProbeReply(now: number, msg: ProbeReplyMsg): void {
    const epoch = msg.view.epoch;
    if (this.phaseValue === 'member') {
      this.noteRestart(msg.from, msg.addr);
      // A blocked member's probe found a later view: our heartbeat, of our epoch, makes
      // its member tell us `not-member` if we are not in it (or resend its decision).
      if ((this.epoch.blockedReported || this.detector.isolatedSince !== null) && epoch > this.epoch.roster.view.epoch && !sameMember(msg.from, this.self)) {
        this.send(msg.addr, this.heartbeat());
      }
      return;
    }
    if (this.phaseValue !== 'bootstrapping' && this.phaseValue !== 'joining') return;
    if (this.bootstrap.onProbeReply(now, msg, this.phaseValue === 'bootstrapping')) {
      this.become('joining');
      this.proposer.drop();
    }
  }

  private onJoinReq(now: number, msg: { from: MemberRef; addr: string }): void {
    if (this.phaseValue !== 'member') {
      if (this.phaseValue === 'joining') this.onProbe(msg.addr);
      return;
    }
    if (this.replies.resendWelcome(now, this.epoch, msg.from, msg.addr)) return;
    if (!this.isCoordinator()) {
      this.onProbe(msg.addr);
      return;
    }
    const k = memberKey(msg.from);
    if (this.epoch.roster.rank.has(k)) {
      // Already in: the welcome was lost. Send it again if it is still current.
      if (this.proposer.lastInstall !== null && this.proposer.lastInstall.waiting.has(k) && this.proposer.lastInstall.proposal.view.epoch === this.epoch.roster.view.epoch) {
        this.send(msg.addr, this.proposer.lastInstall.welcome);
      }
      return;
    }
    // Bounded: a flood of join requests cannot grow the next view without end.
    if (!this.admission.mayJoin(now, msg.from, this.epoch.roster.view.members.length)) return;
    // One process listens at an address, and an id names one process: the earlier
    // one's process is gone, so its request goes (see `noteRestart` for why it matters).
    this.admission.replaceEarlier(msg.from, msg.addr);
    // Another incarnation of this id is a member, at another address, and alive: this
    // is a second process with the same id, not its restart (a restart listens at the
    // same address, or comes after the old one fell silent). Refuse it; never evict.
    const holder = this.epoch.roster.view.members.find((m) => m.id === msg.from.id && m.inc !== msg.from.inc);
    if (holder !== undefined && holder.addr !== msg.addr && this.detector.alive(now, memberKey(holder))) {
      if (this.replies.due(now, `refused:${k}`)) this.send(msg.addr, { t: 'join-refused', from: this.self, to: memberRef(msg.from), live: memberRef(holder) });
      return;
    }
    this.admission.addJoin(now, msg.from, msg.addr);
  }

  /**
   * The coordinator refused our join: a live member holds our id elsewhere. A crashed
   * predecessor elsewhere is suspected within the timeout and then replaced, so only
   * a refusal that lasts two timeouts means a second live process: stop.
   */
  private onJoinRefused(now: number, msg: { to: MemberRef; live: MemberRef }): void {
    if (this.phaseValue !== 'joining' || !this.bootstrap.onJoinRefused(now, msg)) return;
    this.become('excluded');
    this.emit({ type: 'duplicate', live: memberRef(msg.live) });
  }

  private onLeaveReq(now: number, from: MemberRef, addr: string): void {
    if (this.phaseValue !== 'member') return;
    const k = memberKey(from);
    if (!this.epoch.roster.rank.has(k)) {
      this.replies.notMember(now, this.epoch, from, addr);
      return;
    }
    this.admission.addLeave(k);
  }

  private requestLeave(now: number): void {
    this.nextLeaveRequestAt = now + this.cfg.retransmitMs;
    if (this.isCoordinator()) this.admission.addLeave(this.selfKey);
    else this.sendToCoordinator({ t: 'leave-req', from: this.self, epoch: this.epoch.roster.view.epoch });
  }

  // ===================================================================== ordering

  /** This member is the sequencer of the current view (rank 0, and a member still). */
  private isCoordinator(): boolean {
    return this.phaseValue === 'member' && this.epoch.sequencer !== null;
  }

  /** Send to the coordinator; to ourselves, handle it at once. */
  private sendToCoordinator(msg: Message): void {
    const c = this.epoch.roster.view.members[0];
    if (c === undefined) return;
    if (sameMember(c, this.self)) this.dispatch(this.lastNow, this.addr, msg);
    else this.send(c.addr, msg);
  }

  /**
   * The progress loop, run at the end of every input: send what the window allows,
   * order (sequencer), advance the held prefix, announce stability, deliver. Looping
   * here instead of calling each other keeps the stack flat however much is queued.
   */
  private settle(now: number): void {
    if (this.settling) return;
    this.settling = true;
    try {
      for (let round = 0; ; round++) {
        assert(round < settleRoundsMax, 'settle does not converge');
        if (this.phaseValue !== 'member') break;
        let progress = this.pumpSends(now);
        const seq = this.isCoordinator() ? this.epoch.sequencer : null;
        if (seq !== null) progress = seq.order(this.wedged) || progress;
        progress = this.advanceHeld() || progress;
        if (seq !== null) progress = seq.updateStable() || progress;
        progress = this.tryDeliver() || progress;
        if (!progress) break;
      }
      this.collect();
      if (this.phaseValue !== 'member' || this.isCoordinator()) this.ackSent();
      else if (this.ackable() > this.epoch.stream.lastAckSent) {
        const roster = this.epoch.roster;
        if (this.epoch.stream.ackUrgent(now, this.cfg, roster.selfRank, roster.view.members.length)) {
          this.sendToCoordinator({ t: 'ack', from: this.self, epoch: this.epoch.roster.view.epoch, held: this.ackable() });
          this.ackSent();
        } else if (this.epoch.stream.ackDueAt === Infinity) this.epoch.stream.ackDueAt = now + this.cfg.ackDelayMs;
      }
    } finally {
      this.settling = false;
    }
  }

  /**
   * What this member may report it holds: `held`, frozen at the promise while a view
   * change runs, and at `ackCap` while the application is behind.
   */
  private ackable(): number {
    const held = this.epoch.stream.held < this.ackCap ? this.epoch.stream.held : this.ackCap;
    return this.epoch.acceptor.vouched === null || held < this.epoch.acceptor.vouched ? held : this.epoch.acceptor.vouched;
  }

  /** What this member holds was just told to the sequencer (an ack or a heartbeat). */
  private ackSent(): void {
    this.epoch.stream.ackSent(this.ackable());
  }

  /** Whether a queued entry must wait (and what follows it, FIFO). */
  private heldBack(q: Pending): boolean {
    // One state at a time: a join waits while this member still waits for the state of
    // a group it joined, so that it is never asked to provide a checkpoint from behind
    // its own wait.
    if (q.kind === EntryKind.join) return this.joiner.awaiting() || this.sender.joinInFlight();
    // A provider leaves a group only once it owes nobody there a state (the joiner's
    // stateDone is delivered, or the joiner departed): leaving earlier would leave the
    // joiner with nobody to take over, and the group's state lost.
    if (q.kind === EntryKind.leave) return this.delivery.table.owes(q.group, this.self) && !this.delivery.abandons(q.group);
    return false;
  }

  /** Move queued entries into flight, within the window, when not wedged. */
  private pumpSends(now: number): boolean {
    if (this.wedged) return false;
    return this.sender.pump(now, this.epoch.roster, this.heldBackFn, this.storeOwn);
  }

  /** Data of the sender of rank `r` (-1: not a member). */
  private onData(msg: DataMsg, r: number): void {
    if (r < 0 || !this.epoch.stream.store(msg, r)) return;
    if (this.isCoordinator()) this.epoch.sequencer!.onData(msg, r);
  }

  private onOrder(first: number, entries: readonly OrderEntry[], stable: number, committed: number): void {
    this.epoch.stream.onOrder(first, entries, this.epoch.roster, this.ownOrdered);
    this.epoch.stream.learnStable(stable, committed);
  }

  private onHeartbeat(now: number, msg: { from: MemberRef; ordered: number; stable: number; committed: number; held: number; hears: boolean; behind: boolean }): void {
    const k = memberKey(msg.from);
    this.detector.onHeartbeat(now, k, msg.hears, msg.behind);
    const c = this.epoch.roster.view.members[0];
    if (c !== undefined && sameMember(c, msg.from)) {
      if (msg.ordered > this.epoch.stream.orderedMax) this.epoch.stream.orderedMax = msg.ordered;
      this.epoch.stream.learnStable(msg.stable, msg.committed);
    }
    const r = this.epoch.roster.rank.get(memberKey(msg.from));
    if (r !== undefined && this.isCoordinator()) this.epoch.sequencer!.onAck(r, msg.held);
    // It is in this epoch: it needs the decision that began it no more.
    if (this.epoch.decision !== null && this.epoch.decision.waiting.delete(k) && this.epoch.decision.waiting.size === 0) this.epoch.decision = null;
  }

  /** Advance the contiguous prefix for which both the record and the data are here. */
  private advanceHeld(): boolean {
    if (!this.epoch.stream.advanceHeld()) return false;
    if (this.epoch.sequencer !== null) this.epoch.sequencer.stableDirty = true;
    return true;
  }

  private deliverable(): number {
    return this.epoch.stream.deliverable(this.isCoordinator(), this.epoch.roster.view.members.length);
  }

  /** Deliver what is held, in order, up to what a majority holds (safe entries: up to stable). */
  private tryDeliver(): boolean {
    if (this.wedged) return false;
    const before = this.epoch.stream.delivered;
    const committed = this.deliverable();
    while (this.epoch.stream.delivered < this.epoch.stream.held && this.phaseValue === 'member') {
      const g = this.epoch.stream.delivered + 1;
      const r = this.epoch.stream.records.get(g)!;
      const d = this.epoch.stream.dataOf(r)!;
      if (g > committed || (d.safe && g > this.epoch.stream.stable)) break;
      this.deliverEntry(g, d);
    }
    return this.epoch.stream.delivered > before;
  }

  /** Drop what every member holds and this one delivered. */
  private collect(): void {
    this.epoch.stream.collect(this.isCoordinator() ? this.epoch.sequencer!.freed : null);
  }

  /** Deliver global sequence number `gseq` of the current epoch. */
  private deliverEntry(gseq: number, d: DataMsg): void {
    assert(gseq === this.epoch.stream.delivered + 1, 'delivery out of order');
    this.epoch.stream.delivered = gseq;
    const localIds = sameMember(d.sender, this.self) ? this.sender.onDelivered(d.seq) : null;
    this.delivery.deliver(d, { epoch: this.epoch.roster.view.epoch, gseq }, localIds);
  }

  /**
   * A state arrived whole: its `stateDone` goes first in the queue — nothing of ours
   * waits behind it for a reason, and a join queued before it would otherwise wait for
   * it (one state at a time).
   */
  private queueStateDone(now: number, group: string, pos: Position): void {
    this.sender.addFirst(EntryKind.stateDone, group, encodePos(pos));
    this.settle(now);
  }

  private pumpTransfers(now: number): void {
    if (this.phaseValue === 'member') this.provider.pump(now, this.epoch.roster.rank);
  }

  // ===================================================================== view change: proposer

  /**
   * How many members of the view must promise (and accept) to change it: a majority —
   * or, when some members are known to be gone for good (restarted, see `restarted`)
   * and they are fewer than a majority, every member that is not. Paxos needs the
   * promisers to meet every quorum that may have accepted a value; a quorum that
   * accepted is a majority, and fewer than a majority of gone members cannot make one
   * alone, so it holds a member that is not gone — and all of those promise. Gone
   * members accept nothing any more either. So a view of two whose other member
   * restarted can still change (it removes the old incarnation, and the new one joins
   * with state) instead of blocking for good.
   */
  private quorumSize(): number {
    return this.epoch.quorumSize();
  }

  // ===================================================================== view change: acceptor

  private onPrepare(now: number, from: string, msg: PrepareMsg): void {
    if (msg.epoch === 0) {
      if (this.phaseValue !== 'bootstrapping') {
        this.onProbe(from);
        return;
      }
      if (!this.bootstrap.sameQuorum(msg.config)) return;
    } else {
      if (this.phaseValue !== 'member') return;
      const k = memberKey(msg.from);
      if (msg.epoch < this.epoch.roster.view.epoch) {
        if (!this.epoch.roster.rank.has(k)) this.replies.notMember(now, this.epoch, msg.from, from);
        else if (msg.epoch + 1 === this.epoch.roster.view.epoch) this.replies.resendCommit(now, this.epoch, msg.from, from);
        return;
      }
      if (msg.epoch > this.epoch.roster.view.epoch || !this.epoch.roster.rank.has(k)) return;
      this.heard(now, k);
    }
    const promised = this.epoch.acceptor.onPrepare(now, msg.ballot, this.epoch.stream.held);
    if (promised !== null) {
      this.sendTo(now, from, { t: 'reject', from: this.self, epoch: msg.epoch, ballot: msg.ballot, promised });
      return;
    }
    this.proposer.seen(msg.ballot.round);
    this.proposer.onHigherBallot(now, msg.ballot);
    if (this.isCoordinator()) this.epoch.sequencer!.flush();
    const reply: PromiseMsg = {
      t: 'promise',
      from: this.self,
      addr: this.addr,
      epoch: msg.epoch,
      ballot: msg.ballot,
      acceptedBallot: this.epoch.acceptor.acceptedBallot,
      accepted: this.epoch.acceptor.accepted,
      held: this.epoch.stream.held,
      stable: this.epoch.stream.stable,
      log: this.epoch.stream.holdings(this.epoch.acceptor.acceptedLog),
      heardAgoMs: this.phaseValue === 'member' ? this.epoch.roster.keys.map((k) => (k === this.selfKey ? 0 : this.detector.heardAgoMs(now, k))) : [],
    };
    this.sendTo(now, from, reply);
  }

  private onAccept(now: number, msg: AcceptMsg): void {
    const k = memberKey(msg.from);
    if (msg.epoch === 0) {
      if (this.phaseValue !== 'bootstrapping') return;
      // A founding that does not name this incarnation was prepared with an earlier
      // one (restarted since). Accepting it would make every later founding proposer
      // propose it again (Paxos), founding a network of processes that are gone.
      if (!msg.proposal.view.members.some((m) => sameMember(m, this.self))) return;
    } else {
      if (this.phaseValue !== 'member') return;
      if (msg.epoch !== this.epoch.roster.view.epoch || !this.epoch.roster.rank.has(k)) {
        if (msg.epoch + 1 === this.epoch.roster.view.epoch && msg.commit) this.sayInstalled(msg.from, msg.proposal);
        return;
      }
      this.heard(now, k);
    }
    const promised = this.epoch.acceptor.onAccept(now, msg, this.epoch.stream.held);
    if (promised !== null) {
      this.sendToMember(msg.from, msg.proposal, { t: 'reject', from: this.self, epoch: msg.epoch, ballot: msg.ballot, promised });
      return;
    }
    this.proposer.seen(msg.ballot.round);
    if (msg.commit) {
      this.install(now, msg.ballot, msg.proposal);
      return;
    }
    if (sameMember(msg.from, this.self)) this.proposer.onAccepted(now, this.self, msg.epoch, msg.ballot);
    else this.sendToMember(msg.from, msg.proposal, { t: 'accepted', from: this.self, epoch: msg.epoch, ballot: msg.ballot });
  }

  private sayInstalled(to: MemberRef, proposal: Proposal | null): void {
    this.sendToMember(to, proposal, { t: 'installed', from: this.self, epoch: this.epoch.roster.view.epoch });
  }

  /** Send to a member known from the current or previous view, a proposal, or bootstrap. */
  private sendToMember(to: MemberRef, proposal: Proposal | null, msg: Message): void {
    if (sameMember(to, this.self)) return;
    const info =
      this.epoch.roster.view.members.find((m) => sameMember(m, to)) ??
      this.epoch.previousMembers.find((m) => sameMember(m, to)) ??
      proposal?.view.members.find((m) => sameMember(m, to));
    const addr = info?.addr ?? this.bootstrap.addrOf(memberKey(to));
    if (addr !== undefined) this.send(addr, msg);
  }

  private sendTo(now: number, addr: string, msg: Message): void {
    if (addr === this.addr) this.dispatch(now, addr, msg);
    else this.send(addr, msg);
  }

  private onCommit(now: number, from: MemberRef, epoch: number, ballot: Ballot): void {
    if (this.phaseValue !== 'member') return;
    if (epoch !== this.epoch.roster.view.epoch) {
      if (epoch + 1 === this.epoch.roster.view.epoch) this.sayInstalled(from, null);
      return;
    }
    const proposal = this.epoch.acceptor.acceptedWith(ballot);
    if (proposal !== null) this.install(now, ballot, proposal);
  }

  /**
   * Install a decided view: deliver the old epoch up to the cut, change every group,
   * then enter the new epoch — or, not in the view, join the network founded without
   * us, stop (a graceful leave), or learn we are excluded. Returns the welcome a
   * proposer sends to new members.
   */
  private install(now: number, ballot: Ballot, proposal: Proposal): WelcomeMsg {
    const oldEpoch = this.epoch.roster.view.epoch;
    assert(proposal.view.epoch === oldEpoch + 1, `install of epoch ${proposal.view.epoch} at epoch ${oldEpoch}`);
    // 1. The agreed end of the old epoch: deliver up to the cut, even if wedged.
    this.deliverToCut(now, proposal.cut);
    const decidedLog = oldEpoch === 0 ? [] : this.epoch.stream.holdings(this.epoch.acceptor.acceptedLog).filter((e) => e.gseq <= proposal.cut);
    // 2. The membership change, in every group.
    const departed = new Map<string, 'left' | 'failed'>();
    for (const m of proposal.left) departed.set(memberKey(m), 'left');
    for (const m of proposal.failed) departed.set(memberKey(m), 'failed');
    const changes = this.delivery.table.removeEndpoints(departed, { epoch: proposal.view.epoch, gseq: 0 });
    if (oldEpoch === 0) this.networkValue = `${ballot.proposer}/${ballot.round}`;
    const welcome = this.welcomeOf(proposal);
    if (!proposal.view.members.some((m) => sameMember(m, this.self))) {
      this.leaveDecided(now, ballot, proposal, oldEpoch);
      return welcome;
    }
    // 3. A new epoch begins.
    this.enterView(now, proposal.view, proposal.joined, proposal.left, proposal.failed, proposal.failures, ballot);
    const waiting = new Set(this.epoch.roster.keys.filter((k) => k !== this.selfKey));
    this.epoch.decision = waiting.size === 0 ? null : { oldEpoch, ballot, proposal, log: decidedLog, welcome, waiting };
    for (const c of changes) this.delivery.onGroupChange(c);
    if (oldEpoch > 0) {
      const proposer = [...proposal.view.members, ...this.epoch.previousMembers].find((m) => memberKey(m) === ballot.proposer);
      const c0 = proposal.view.members[0]!;
      for (const to of new Set([c0.addr, proposer?.addr])) {
        if (to !== undefined && to !== this.addr) this.send(to, { t: 'installed', from: this.self, epoch: proposal.view.epoch });
      }
    }
    return welcome;
  }

  /** The end of the old epoch: take the cut's entries that came with the accept, and deliver up to the cut. */
  private deliverToCut(now: number, cut: number): void {
    const acceptor = this.epoch.acceptor;
    if (acceptor.wedgedAt !== null) {
      this.counters.flushes++;
      this.counters.flushMsLast = now - acceptor.wedgedAt;
    }
    acceptor.wedgedAt = null;
    const stream = this.epoch.stream;
    stream.adopt(acceptor.acceptedLog, this.epoch.roster);
    while (stream.delivered < cut) {
      const g = stream.delivered + 1;
      const r = stream.records.get(g);
      assert(r !== undefined, `entry ${g} of the cut ${cut} is missing at ${this.selfKey}`);
      const d = stream.dataOf(r);
      assert(d !== undefined, `data of entry ${g} is missing at ${this.selfKey}`);
      this.deliverEntry(g, d);
    }
  }

  /** What a new member of `proposal`'s view is told: the view, the group table, the network. */
  private welcomeOf(proposal: Proposal): WelcomeMsg {
    return {
      t: 'welcome',
      from: this.self,
      view: proposal.view,
      joined: proposal.joined,
      left: proposal.left,
      failed: proposal.failed,
      failures: proposal.failures,
      groups: this.delivery.table.snapshot(),
      groupViewIdFloor: this.delivery.table.viewIdFloor,
      network: this.networkValue,
    };
  }

  /** Not in the decided view: join the network founded without us, stop after our leave, or learn we are excluded. */
  private leaveDecided(now: number, ballot: Ballot, proposal: Proposal, oldEpoch: number): void {
    if (oldEpoch === 0) {
      // Not among the founders after all: join the network they founded.
      this.become('joining');
      this.bootstrap.joinFounded(now, proposal.view);
      this.epoch.acceptor.forgetVotes();
    } else if (this.leaving) {
      this.log(`left the network at epoch ${proposal.view.epoch}`, 'info');
      // Tell the proposer we have it, so that it need not wait for us.
      const proposer = this.epoch.roster.view.members.find((m) => memberKey(m) === ballot.proposer);
      if (proposer !== undefined && !sameMember(proposer, this.self)) {
        this.send(proposer.addr, { t: 'installed', from: this.self, epoch: proposal.view.epoch });
      }
      this.stop(now);
    } else {
      this.exclude(`not in the view of epoch ${proposal.view.epoch}`);
    }
  }

  private onWelcome(now: number, msg: WelcomeMsg): void {
    if (this.phaseValue === 'member') {
      if (msg.view.epoch === this.epoch.roster.view.epoch) this.sayInstalled(msg.from, null);
      return;
    }
    if (this.phaseValue !== 'joining' && this.phaseValue !== 'bootstrapping') return;
    if (!msg.view.members.some((m) => sameMember(m, this.self))) return;
    this.delivery.adopt(GroupTable.from(msg.groups, msg.groupViewIdFloor));
    this.networkValue = msg.network;
    this.enterView(now, msg.view, msg.joined, msg.left, msg.failed, msg.failures, null);
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
  ): void {
    assert(new Set(view.members.map((m) => m.id)).size === view.members.length, `invariant: the view of epoch ${view.epoch} holds an id twice`);
    assert(new Set(view.members.map((m) => m.addr)).size === view.members.length, `invariant: the view of epoch ${view.epoch} holds an address twice`);
    this.become('member');
    this.epoch = new Epoch(view, this.selfKey, { previousMembers: this.epoch.roster.view.members, failures, ballot }, this.epochDeps);
    // Own entries not delivered in the old epoch are sent again, in order, first (FIFO).
    this.sender.requeue();
    this.ackSent();
    this.proposer.reset();
    this.ackCap = this.appQueue !== 'ok' ? 0 : Infinity;
    this.progress.enter();
    this.detector.enter(now, this.epoch.roster.keys, this.epoch.roster.rank);
    this.bootstrap.onMember();
    this.admission.enter(now, this.epoch.roster, this.isCoordinator());
    this.nextHeartbeatAt = now;
    this.emit({ type: 'installed', view, joined, left, failed, failures });
    if (this.leaving) this.requestLeave(now);
  }

  private onNotMember(now: number, epoch: number, to: MemberRef): void {
    if (!sameMember(to, this.self) || this.phaseValue !== 'member' || epoch <= this.epoch.roster.view.epoch) return;
    if (this.leaving) this.stop(now);
    else this.exclude(`a view of epoch ${epoch} exists without this member`);
  }

  private exclude(why: string): void {
    this.log(`excluded: ${why}`, 'warn');
    this.become('excluded');
    this.app.clear();
    this.emit({ type: 'excluded' });
  }

  /** Stop; a proposer that removed itself first lingers to retransmit its decision. */
  private stop(now: number): void {
    if (this.phaseValue === 'stopped') return;
    this.become('stopped');
    this.stopPending = true;
    this.lingerUntil = now + this.cfg.flushTimeoutMs;
    this.finishStop(now);
  }

  private finishStop(now: number): void {
    if (!this.stopPending || this.committing) return;
    const waiting = this.proposer.lastInstall !== null && this.proposer.lastInstall.waiting.size > 0;
    if (waiting && now < this.lingerUntil) return;
    this.stopPending = false;
    this.proposer.forgetDecision();
    this.emit({ type: 'stopped' });
  }

  // ===================================================================== output helpers

  /** Move to phase `to`; only the transitions in `LEGAL_PHASE_CHANGES` exist. */
  private become(to: Phase): void {
    assert(LEGAL_PHASE_CHANGES[this.phaseValue].includes(to), `phase change ${this.phaseValue} -> ${to} at ${this.selfKey}`);
    this.phaseValue = to;
  }

  private send(to: string, msg: Message): void {
    this.out.send(to, msg);
  }

  private emit(e: CoreEvent): void {
    this.out.emit(e);
  }

  private log(text: string, level: CoreLogLevel): void {
    this.out.log(text, level);
  }
}
