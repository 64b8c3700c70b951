/**
 * The sequencer: rank 0 of a view, and only there. It assigns global sequence numbers
 * to the members' data, batches them into order records, passes on data sent to it
 * alone, computes stability from the members' acks, and answers NAKs.
 *
 * Intuition: each sender's data is ordered in its FIFO order, as soon as it arrives,
 * while the order window has room (`orderWindowMax` entries and `orderWindowBytesMax`
 * bytes not yet stable). Under a full window each pass starts after the sender the last
 * full window stopped at, so low ranks cannot take every slot the window frees. Order
 * records go out once per turn (`flush`), to the senders of what they order first.
 * *Stable* is the prefix every member holds; *committed* the prefix a majority holds:
 * agreed delivery waits for committed, since any later majority that changes the view
 * intersects that majority, so its cut covers everything anyone delivered (G2, G9).
 *
 * A new sequencer is made for every view in which this member is rank 0; it keeps the
 * dirty flags that spare the settle loop a rescan of every sender and a sort of every
 * member's holding for each ack.
 */
import { assert } from '../../errors.js';
import type { CoreContext } from '../context.js';
import type { Roster } from '../membership/roster.js';
import { heldByAll, heldByMajority, majority, sortDescending } from '../quorum.js';
import { memberRef, sameMember } from '../types.js';
import type { DataMsg, MemberRef, Message, OrderEntry } from '../types.js';
import type { Progress } from './progress.js';
import type { OrderedStream } from './stream.js';

/** Rank 0's ordering of one epoch (see the module comment). */
export class Sequencer {
  private nextGseq = 1;
  private readonly nextSeqToOrder = new Map<string, number>();
  /** What each member reported holding (acks and heartbeats). */
  private readonly ackHeld = new Map<string, number>();
  /** Something may be orderable: new data arrived, or the window opened. */
  orderDirty = true;
  /** A holding changed since `stable` and `committed` were last computed. */
  stableDirty = true;
  /** Payload bytes ordered and not yet stable. */
  private unstableBytes = 0;
  /** The rank `order` serves first (see there). */
  private orderStart = 0;
  private orderBatch: OrderEntry[] = [];
  private orderBatchFirst = 0;
  /** Data to pass on (`DataMsg.relay`), each to every member but its sender, before the next order. */
  private relayQueue: DataMsg[] = [];
  private relayRanks: number[] = [];
  /** The last safe entry ordered this epoch (0: none). */
  private lastSafeOrdered = 0;
  private stableAnnounced = 0;
  private committedAnnounced = 0;
  /** Scratch for `updateStable`. */
  private readonly heldScratch: number[] = [];
  /** An entry's data was collected, so the order window has room (bound once: per entry). */
  readonly freed = (bytes: number): void => {
    this.unstableBytes -= bytes;
    this.orderDirty = true;
  };

  /**
   * @param selfHeld what this member may report it holds (see the core's `ackable`).
   * @param own called with each of this member's own seqs as it is ordered.
   */
  constructor(
    private readonly ctx: CoreContext,
    private readonly roster: Roster,
    private readonly stream: OrderedStream,
    private readonly progress: Progress,
    private readonly selfHeld: () => number,
    private readonly own: (seq: number) => void,
  ) {}

  /** Entries ordered and not yet stable, and their payload bytes. */
  get window(): { readonly entries: number; readonly bytes: number } {
    return { entries: Math.max(0, this.nextGseq - 1 - this.stream.stable), bytes: this.unstableBytes };
  }

  /** What member `k` reported holding. */
  acked(k: string): number {
    return this.ackHeld.get(k) ?? 0;
  }

  /** Ordering waits for stability (every sender's multicasts wait with it). */
  windowFull(): boolean {
    const cfg = this.ctx.cfg;
    return this.nextGseq - 1 - this.stream.stable >= cfg.orderWindowMax || this.unstableBytes > cfg.orderWindowBytesMax;
  }

  /** New data from the sender of rank `r`: pass it on when it was sent to us alone. */
  onData(msg: DataMsg, r: number): void {
    this.orderDirty = true;
    // Passed on by the sequencer, to every member but its sender, with the next order.
    if (msg.relay && r !== this.roster.selfRank) {
      this.relayQueue.push({ ...msg, from: this.ctx.self, relay: false });
      this.relayRanks.push(r);
    }
  }

  /** Order every sender's data in its FIFO order, within the window. Returns whether anything was ordered. */
  order(wedged: boolean): boolean {
    if (wedged || !this.orderDirty) return false;
    this.orderDirty = false;
    let progress = false;
    const members = this.roster.view.members;
    const keys = this.roster.keys;
    const stream = this.stream;
    const n = members.length;
    // Fair under a full window: each pass starts after the sender the last full window
    // stopped at, so that the senders of lower rank, which always have data waiting
    // under load, cannot take every slot the window frees.
    const start = this.orderStart % n;
    for (let j = 0; j < n; j++) {
      const i = (start + j) % n;
      const m = members[i]!;
      const sk = keys[i]!;
      const first = this.nextSeqToOrder.get(sk) ?? 1;
      let next = first;
      for (;;) {
        if (this.windowFull()) {
          // Next time, the next sender first, unless this one got nothing this time.
          this.progress.sawWindowFull();
          this.orderStart = next > first ? i + 1 : i;
          this.nextSeqToOrder.set(sk, next);
          return progress;
        }
        const d = stream.data[i]!.get(next);
        if (d === undefined) break;
        const gseq = this.nextGseq++;
        stream.records.set(gseq, { sender: memberRef(m), rank: i, seq: next });
        this.unstableBytes += d.payload.length;
        if (d.safe) this.lastSafeOrdered = gseq;
        if (this.orderBatch.length === 0) this.orderBatchFirst = gseq;
        this.orderBatch.push({ rank: i, seq: next });
        stream.orderedMax = gseq;
        if (sk === this.ctx.selfKey) this.own(next);
        next += 1;
        progress = true;
      }
      this.nextSeqToOrder.set(sk, next);
    }
    return progress;
  }

  /** The member of rank `r` holds up to `held`. */
  onAck(r: number, held: number): void {
    const k = this.roster.keys[r]!;
    if (held > (this.ackHeld.get(k) ?? 0)) {
      this.ackHeld.set(k, held);
      this.stableDirty = true;
    }
  }

  /** Compute stable and committed again when a holding changed. Returns whether either moved. */
  updateStable(): boolean {
    if (!this.stableDirty) return false;
    this.stableDirty = false;
    // Runs at every ack: the members' held prefixes, largest first, in a reused array
    // (a fresh array and a sort per ack were the core's largest allocation per message).
    const keys = this.roster.keys;
    const selfKey = this.ctx.selfKey;
    const stream = this.stream;
    const n = keys.length;
    const helds = this.heldScratch;
    helds.length = n;
    for (let i = 0; i < n; i++) helds[i] = keys[i] === selfKey ? this.selfHeld() : (this.ackHeld.get(keys[i]!) ?? 0);
    sortDescending(helds);
    const min = heldByAll(helds, stream.held);
    const maj = heldByMajority(helds, stream.held);
    let progress = false;
    if (min > stream.stable) {
      stream.stable = min;
      this.orderDirty = true;
      progress = true;
    }
    if (maj > stream.committed) {
      stream.committed = maj;
      progress = true;
    }
    return progress;
  }

  /**
   * Nothing new to order: whether a new stable or committed prefix must go out on its
   * own now, or may ride on the next order record or heartbeat. Now when a member waits
   * for it: a safe entry waits for stability, or, in views of more than three, agreed
   * delivery waits for the committed prefix. (In views of up to three a member delivers
   * what it holds; stability then only frees memory.) Under one message at a time this
   * halves the sequencer's writes.
   */
  private announcementDue(): boolean {
    if (this.stream.stable > this.stableAnnounced && this.lastSafeOrdered > this.stableAnnounced) return true;
    if (this.stream.committed > this.committedAnnounced && majority(this.roster.view.members.length) > 2) return true;
    return false;
  }

  /** End of a turn: send the batched order record, with the data passed on, to every member. */
  flush(): void {
    const batch = this.orderBatch;
    const relays = this.relayQueue;
    const relayRanks = this.relayRanks;
    const ordered = batch.length > 0 || this.announcementDue();
    if (!ordered && relays.length === 0) return;
    const stream = this.stream;
    let msg: Message | null = null;
    if (ordered) {
      msg = { t: 'order', from: this.ctx.self, epoch: this.roster.view.epoch, first: batch.length === 0 ? this.nextGseq : this.orderBatchFirst, entries: batch, stable: stream.stable, committed: stream.committed };
      this.orderBatch = [];
      this.stableAnnounced = stream.stable;
      this.committedAnnounced = stream.committed;
    }
    if (relays.length > 0) {
      this.relayQueue = [];
      this.relayRanks = [];
    }
    // The senders of what this batch orders wait for it most (to deliver their own
    // multicasts): they are sent it first, the others after. (A mask: ranks beyond 30
    // simply come after.)
    let senders = 0;
    for (let i = 0; i < batch.length; i++) if (batch[i]!.rank < 31) senders |= 1 << batch[i]!.rank;
    const n = this.roster.view.members.length;
    const selfRank = this.roster.selfRank;
    for (let r = 0; r < n; r++) if (r !== selfRank && r < 31 && (senders & (1 << r)) !== 0) this.sendOrderWithRelays(r, relays, relayRanks, msg);
    for (let r = 0; r < n; r++) if (r !== selfRank && (r >= 31 || (senders & (1 << r)) === 0)) this.sendOrderWithRelays(r, relays, relayRanks, msg);
  }

  /** To the member of rank `r`: the data passed on that it lacks, then the order (one write). */
  private sendOrderWithRelays(r: number, relays: readonly DataMsg[], relayRanks: readonly number[], order: Message | null): void {
    const addr = this.roster.view.members[r]!.addr;
    const out = this.ctx.out;
    for (let i = 0; i < relays.length; i++) if (relayRanks[i] !== r) out.send(addr, relays[i]!);
    if (order !== null) out.send(addr, order);
  }

  /** A member lacks entries `first`..`last`: their order records and data, within `nakBatchMax`. */
  onNak(from: MemberRef, first: number, last: number): void {
    const info = this.roster.view.members.find((m) => sameMember(m, from));
    if (info === undefined) return;
    const { cfg, counters, out, self } = this.ctx;
    const hi = Math.min(last, this.nextGseq - 1, first + cfg.nakBatchMax - 1);
    let start = first;
    let entries: OrderEntry[] = [];
    for (let g = first; g <= hi; g++) {
      const r = this.stream.records.get(g);
      if (r === undefined) {
        // Collected, so stable: the asker holds it already.
        if (entries.length > 0) this.sendOrder(info.addr, start, entries);
        entries = [];
        start = g + 1;
        continue;
      }
      entries.push({ rank: r.rank, seq: r.seq });
      const d = this.stream.dataOf(r);
      if (d !== undefined) {
        out.send(info.addr, { ...d, from: self, relay: false });
        counters.naksAnswered++;
      }
    }
    if (entries.length > 0) this.sendOrder(info.addr, start, entries);
  }

  private sendOrder(to: string, first: number, entries: OrderEntry[]): void {
    const stream = this.stream;
    this.ctx.out.send(to, { t: 'order', from: this.ctx.self, epoch: this.roster.view.epoch, first, entries, stable: stream.stable, committed: stream.committed });
  }

  /**
   * Committed and stable are at most what a majority (all) of the members reported
   * holding, and nothing is ordered while wedged. Throws `AssertionFailure`.
   */
  checkInvariants(wedged: boolean): void {
    const keys = this.roster.keys;
    const n = keys.length;
    const stream = this.stream;
    let atLeastCommitted = 0;
    let atLeastStable = 0;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const h = k === this.ctx.selfKey ? this.selfHeld() : (this.ackHeld.get(k) ?? 0);
      if (h >= stream.committed) atLeastCommitted++;
      if (h >= stream.stable) atLeastStable++;
    }
    assert(atLeastCommitted >= majority(n), `invariant: committed ${stream.committed} held by ${atLeastCommitted} of ${n} members`);
    assert(atLeastStable === n, `invariant: stable ${stream.stable} held by ${atLeastStable} of ${n} members`);
    assert(!wedged || this.orderBatch.length === 0, 'invariant: the sequencer ordered while wedged');
  }
}
