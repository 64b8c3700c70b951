/**
 * This member's side of the order: hand its own entries to the stream, hold what the
 * sequencer orders, acknowledge what it holds, and deliver in global order.
 *
 * Intuition: after every input the settle loop runs the order forward until nothing
 * moves — send what the window allows, order (at the sequencer), advance the held
 * prefix, compute stability, deliver what a majority holds (safe entries: what all
 * hold). Looping here instead of calling each other keeps the stack flat however much
 * is queued. What this member reports it holds is `ackable`: frozen at its promise while
 * a view change runs (it vouches for no more), and held back while the application is
 * behind, so that stability — and with it the senders' windows — waits for the slowest
 * application (flow control). Acks are batched (`ackDelayMs`) unless one is urgent.
 */
import { assert } from '../../errors.js';
import type { AppQueue, CoreStats, FlowState } from '../core-api.js';
import type { CoreContext } from '../context.js';
import type { EntryDelivery } from '../groups/entry-delivery.js';
import type { Lifecycle } from '../lifecycle.js';
import type { FailureDetector } from '../membership/failure-detector.js';
import type { StateJoiner } from '../transfer/joiner.js';
import { EntryKind, memberKey, sameMember } from '../types.js';
import type { DataMsg, MemberRef, Message, OrderEntry } from '../types.js';
import type { Progress } from './progress.js';
import type { Pending, SendWindow } from './send-window.js';

/** Most progress rounds one input may cause (a bound, not a tuning knob). */
const settleRoundsMax = 1_000_000;

/** What a heartbeat tells of the order, as this member's order handles it. */
export interface HeartbeatOrder {
  readonly from: MemberRef;
  readonly ordered: number;
  readonly stable: number;
  readonly committed: number;
  readonly held: number;
}

/** The parts this member's order drives. */
export interface MemberOrderParts {
  readonly life: Lifecycle;
  readonly sender: SendWindow;
  readonly delivery: EntryDelivery;
  readonly joiner: StateJoiner;
  readonly progress: Progress;
  readonly detector: FailureDetector;
}

/** This member's order (see the module comment). */
export class MemberOrder {
  private settling = false;
  /**
   * How the application's queues of undelivered events stand (see `setAppQueue`):
   * unless `ok`, acks claim no more than `ackCap`, so that stability, and with it the
   * order window, waits for the application — flow control reaches the senders; `over`,
   * heartbeats say so too.
   */
  private appQueue: AppQueue = 'ok';
  /** While the application is behind: the most this member acks in this epoch. */
  private ackCap = Infinity;
  private nextNakAt = 0;
  private readonly life: Lifecycle;
  private readonly sender: SendWindow;
  private readonly delivery: EntryDelivery;
  private readonly joiner: StateJoiner;
  private readonly progress: Progress;
  private readonly detector: FailureDetector;
  /** Hands own data to the ordered stream (bound once: it runs per entry sent). */
  private readonly storeOwn = (msg: DataMsg): void => this.onData(msg, this.life.epoch.roster.selfRank);
  private readonly heldBackFn = (q: Pending): boolean => this.heldBack(q);
  /** Own entries ordered: the send window stops resending them. */
  readonly ownOrdered = (seq: number): void => this.sender.ordered(seq);
  /** What this member may report it holds (for the sequencer's own holding). */
  readonly selfHeld = (): number => this.ackable();

  /** @param sendToCoordinator sends to the sequencer of the current view (handled at once when that is this member). */
  constructor(
    private readonly ctx: CoreContext,
    parts: MemberOrderParts,
    private readonly sendToCoordinator: (msg: Message) => void,
  ) {
    this.life = parts.life;
    this.sender = parts.sender;
    this.delivery = parts.delivery;
    this.joiner = parts.joiner;
    this.progress = parts.progress;
    this.detector = parts.detector;
  }

  /** The application is so far behind that its heartbeats say so. */
  get behind(): boolean {
    return this.appQueue === 'over';
  }

  /** A new epoch: what this member holds is told afresh, within its application's hold. */
  enter(): void {
    this.ackSent();
    this.ackCap = this.appQueue !== 'ok' ? 0 : Infinity;
  }

  /**
   * The progress loop, run at the end of every input: send what the window allows,
   * order (sequencer), advance the held prefix, announce stability, deliver; then drop
   * what is done and acknowledge. Re-entered (a delivery that queues an entry), it
   * returns at once: the running loop picks the new work up.
   */
  settle(now: number): void {
    if (this.settling) return;
    this.settling = true;
    try {
      for (let round = 0; ; round++) {
        assert(round < settleRoundsMax, 'settle does not converge');
        if (this.life.phase !== 'member') break;
        if (!this.progressRound(now)) break;
      }
      this.collect();
      this.acknowledge(now);
    } finally {
      this.settling = false;
    }
  }

  /** One round of the settle loop; whether anything moved. */
  private progressRound(now: number): boolean {
    let progress = this.pumpSends(now);
    const seq = this.life.isCoordinator() ? this.life.epoch.sequencer : null;
    if (seq !== null) progress = seq.order(this.life.wedged) || progress;
    progress = this.advanceHeld() || progress;
    if (seq !== null) progress = seq.updateStable() || progress;
    progress = this.tryDeliver() || progress;
    return progress;
  }

  /** Tell the sequencer what this member holds, now if urgent, else within `ackDelayMs`. */
  private acknowledge(now: number): void {
    const epoch = this.life.epoch;
    if (this.life.phase !== 'member' || this.life.isCoordinator()) this.ackSent();
    else if (this.ackable() > epoch.stream.lastAckSent) {
      const roster = epoch.roster;
      if (epoch.stream.ackUrgent(now, this.ctx.cfg, roster.selfRank, roster.view.members.length)) {
        this.sendToCoordinator({ t: 'ack', from: this.ctx.self, epoch: roster.view.epoch, held: this.ackable() });
        this.ackSent();
      } else if (epoch.stream.ackDueAt === Infinity) epoch.stream.ackDueAt = now + this.ctx.cfg.ackDelayMs;
    }
  }

  /**
   * What this member may report it holds: `held`, frozen at the promise while a view
   * change runs, and at `ackCap` while the application is behind.
   */
  ackable(): number {
    const epoch = this.life.epoch;
    const held = epoch.stream.held < this.ackCap ? epoch.stream.held : this.ackCap;
    return epoch.acceptor.vouched === null || held < epoch.acceptor.vouched ? held : epoch.acceptor.vouched;
  }

  /** What this member holds was just told to the sequencer (an ack or a heartbeat). */
  ackSent(): void {
    this.life.epoch.stream.ackSent(this.ackable());
  }

  /** Whether a queued entry must wait (and what follows it, FIFO). */
  private heldBack(q: Pending): boolean {
    // One state at a time: a join waits while this member still waits for the state of
    // a group it joined, so that it is never asked to provide a checkpoint from behind
    // its own wait.
    if (q.kind === EntryKind.join) return this.joiner.awaiting() || this.sender.joinInFlight() || this.delivery.restore.holds(q.group, this.ctx.self);
    // A provider leaves a group only once it owes nobody there a state (the joiner's
    // stateDone is delivered, or the joiner departed): leaving earlier would leave the
    // joiner with nobody to take over, and the group's state lost.
    if (q.kind === EntryKind.leave) return this.delivery.table.owes(q.group, this.ctx.self) && !this.delivery.abandons(q.group);
    return false;
  }

  /** Move queued entries into flight, within the window, when not wedged. */
  private pumpSends(now: number): boolean {
    if (this.life.wedged) return false;
    return this.sender.pump(now, this.life.epoch.roster, this.heldBackFn, this.storeOwn);
  }

  /** Data of the sender of rank `r` (-1: not a member). */
  onData(msg: DataMsg, r: number): void {
    const epoch = this.life.epoch;
    if (r < 0 || !epoch.stream.store(msg, r)) return;
    if (this.life.isCoordinator()) epoch.sequencer!.onData(msg, r);
  }

  /** The sequencer's order records (and what it says is stable and committed). */
  onOrder(first: number, entries: readonly OrderEntry[], stable: number, committed: number): void {
    const epoch = this.life.epoch;
    epoch.stream.onOrder(first, entries, epoch.roster, this.ownOrdered);
    epoch.stream.learnStable(stable, committed);
  }

  /** A member's acknowledgement of how far it holds (the sequencer counts it). */
  onAck(r: number, held: number): void {
    if (this.life.isCoordinator()) this.life.epoch.sequencer!.onAck(r, held);
  }

  /** What a heartbeat says of the order: the coordinator's progress, or a member's holding. */
  onHeartbeat(msg: HeartbeatOrder): void {
    const epoch = this.life.epoch;
    const c = epoch.roster.view.members[0];
    if (c !== undefined && sameMember(c, msg.from)) {
      if (msg.ordered > epoch.stream.orderedMax) epoch.stream.orderedMax = msg.ordered;
      epoch.stream.learnStable(msg.stable, msg.committed);
    }
    const r = epoch.roster.rank.get(memberKey(msg.from));
    if (r !== undefined) this.onAck(r, msg.held);
  }

  /** A member asks the sequencer for ordered entries it lacks. */
  onNak(from: MemberRef, first: number, last: number): void {
    if (this.life.isCoordinator()) this.life.epoch.sequencer!.onNak(from, first, last);
  }

  /** Advance the contiguous prefix for which both the record and the data are here. */
  private advanceHeld(): boolean {
    const epoch = this.life.epoch;
    if (!epoch.stream.advanceHeld()) return false;
    if (epoch.sequencer !== null) epoch.sequencer.stableDirty = true;
    return true;
  }

  private deliverable(): number {
    return this.life.epoch.stream.deliverable(this.life.isCoordinator(), this.life.epoch.roster.view.members.length);
  }

  /** Deliver what is held, in order, up to what a majority holds (safe entries: up to stable). */
  private tryDeliver(): boolean {
    if (this.life.wedged) return false;
    const stream = this.life.epoch.stream;
    const before = stream.delivered;
    const committed = this.deliverable();
    while (stream.delivered < stream.held && this.life.phase === 'member') {
      const g = stream.delivered + 1;
      const r = stream.records.get(g)!;
      const d = stream.dataOf(r)!;
      if (g > committed || (d.safe && g > stream.stable)) break;
      this.deliverEntry(g, d);
    }
    return stream.delivered > before;
  }

  /** Drop what every member holds and this one delivered. */
  private collect(): void {
    const epoch = this.life.epoch;
    epoch.stream.collect(this.life.isCoordinator() ? epoch.sequencer!.freed : null);
  }

  /** Deliver global sequence number `gseq` of the current epoch. */
  private deliverEntry(gseq: number, d: DataMsg): void {
    const epoch = this.life.epoch;
    assert(gseq === epoch.stream.delivered + 1, 'delivery out of order');
    epoch.stream.delivered = gseq;
    const localIds = sameMember(d.sender, this.ctx.self) ? this.sender.onDelivered(d.seq) : null;
    const pos = { epoch: epoch.roster.view.epoch, gseq };
    // Straight to the output, never held behind a state marker: the disk takes entries in order.
    if (this.ctx.persist) this.ctx.out.emit({ type: 'persist', pos, entry: d, localIds });
    this.delivery.deliver(d, pos, localIds);
  }

  /** The end of the old epoch: take the cut's entries that came with the accept, and deliver up to the cut. */
  deliverToCut(now: number, cut: number): void {
    const epoch = this.life.epoch;
    const acceptor = epoch.acceptor;
    if (acceptor.wedgedAt !== null) {
      this.ctx.counters.flushes++;
      this.ctx.counters.flushMsLast = now - acceptor.wedgedAt;
    }
    acceptor.wedgedAt = null;
    const stream = epoch.stream;
    stream.adopt(acceptor.acceptedLog, epoch.roster);
    while (stream.delivered < cut) {
      const g = stream.delivered + 1;
      const r = stream.records.get(g);
      assert(r !== undefined, `entry ${g} of the cut ${cut} is missing at ${this.ctx.selfKey}`);
      const d = stream.dataOf(r);
      assert(d !== undefined, `data of entry ${g} is missing at ${this.ctx.selfKey}`);
      this.deliverEntry(g, d);
    }
  }

  /**
   * How the application's queues of undelivered events stand, as the shell sees them
   * (see `EndpointCore.setAppQueue`); whether that changed.
   */
  setAppQueue(q: AppQueue): boolean {
    if (q === this.appQueue) return false;
    const held = this.appQueue !== 'ok';
    this.appQueue = q;
    if (held !== (q !== 'ok')) {
      const epoch = this.life.epoch;
      this.ackCap = q !== 'ok' ? Math.min(epoch.stream.lastAckSent, this.ackable()) : Infinity;
      // The sequencer's own hold counts in stability, which it must now compute again.
      if (epoch.sequencer !== null) epoch.sequencer.stableDirty = true;
      this.ctx.out.log(q !== 'ok' ? 'the application is behind: acknowledgements wait for it' : 'the application caught up', 'debug');
    }
    return true;
  }

  /** Ask the sequencer for ordered entries this member lacks, at most `nakBatchMax` per `retransmitMs`. */
  onNakTimeout(now: number): void {
    const epoch = this.life.epoch;
    const stream = epoch.stream;
    if (stream.orderedMax > stream.held && now >= this.nextNakAt && !this.life.isCoordinator() && !this.life.wedged) {
      this.nextNakAt = now + this.ctx.cfg.retransmitMs;
      const first = stream.held + 1;
      const last = Math.min(stream.orderedMax, stream.held + this.ctx.cfg.nakBatchMax);
      this.sendToCoordinator({ t: 'nak', from: this.ctx.self, epoch: epoch.roster.view.epoch, first, last });
      this.ctx.counters.naksSent++;
    }
  }

  /** The sequencer looks for laggards (see `Progress`). */
  onLagTimeout(now: number): void {
    const epoch = this.life.epoch;
    const seq = this.life.isCoordinator() ? epoch.sequencer : null;
    this.progress.onLagTimeout(now, {
      windowFull: epoch.sequencer !== null && epoch.sequencer.windowFull(),
      sequencer: seq !== null,
      wedged: this.life.wedged,
      roster: epoch.roster,
      committed: epoch.stream.committed,
      acked: (k) => seq!.acked(k),
      detector: this.detector,
    });
  }

  /** Counters for status and tests (see `EndpointCore.stats`). */
  stats(): CoreStats {
    const epoch = this.life.epoch;
    return {
      epoch: epoch.roster.view.epoch,
      delivered: epoch.stream.delivered,
      held: epoch.stream.held,
      stable: epoch.stream.stable,
      queued: this.sender.queued,
      inFlight: this.sender.inFlight.messages,
    };
  }

  /** Flow control as it stands (see `EndpointCore.flowState`). */
  flowState(): FlowState {
    const cfg = this.ctx.cfg;
    const flight = this.sender.inFlight;
    const seq = this.life.epoch.sequencer;
    return {
      sendWindow: flight.entries,
      sendWindowMax: cfg.sendWindowMax,
      sendWindowBytes: flight.bytes,
      sendWindowBytesMax: cfg.sendWindowBytesMax,
      sequencer: this.life.phase === 'member' && this.life.isCoordinator(),
      orderWindow: seq === null ? 0 : seq.window.entries,
      orderWindowMax: cfg.orderWindowMax,
      orderWindowBytes: seq === null ? 0 : seq.window.bytes,
      orderWindowBytesMax: cfg.orderWindowBytesMax,
      orderWindowFull: seq !== null && seq.windowFull(),
      wedged: this.life.wedged,
      blocked: this.life.epoch.blockedReported,
    };
  }

  /**
   * The order's safety invariants; throws `AssertionFailure` naming the first one
   * broken. O(members), allocates nothing.
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
    if (this.life.phase !== 'member') return;
    const epoch = this.life.epoch;
    const stream = epoch.stream;
    assert(stream.delivered <= stream.held, `invariant: delivered ${stream.delivered} > held ${stream.held}`);
    assert(stream.held <= stream.orderedMax, `invariant: held ${stream.held} > ordered ${stream.orderedMax}`);
    assert(stream.delivered <= this.deliverable(), `invariant: delivered ${stream.delivered} beyond what a majority holds (${this.deliverable()})`);
    assert(stream.stable <= stream.committed, `invariant: stable ${stream.stable} > committed ${stream.committed}`);
    if (epoch.acceptor.vouched !== null) assert(stream.lastAckSent <= epoch.acceptor.vouched, `invariant: reported holding ${stream.lastAckSent} after promising at ${epoch.acceptor.vouched}`);
    if (this.life.isCoordinator()) epoch.sequencer!.checkInvariants(this.life.wedged);
  }
}
