/**
 * This member's own entries on their way into the order: a queue, bundles, and the
 * send window.
 *
 * Intuition: `multicast` only queues; the settle loop moves queued entries into
 * flight while the window has room (`sendWindowMax` entries, `sendWindowBytesMax`
 * payload bytes; one entry always goes, however large). Application messages queued
 * back to back in the same delivery mode leave as one bundle (`bundle.ts`), up to
 * `bundleBytesMax`. An entry in flight is sent to every member (or, alone, to the
 * sequencer to pass on: `DataMsg.relay`), and stays in flight until this member
 * delivers it; an entry the sequencer has not ordered is sent to it again every
 * `retransmitMs`. At a view change, every entry not delivered goes back to the front of
 * the queue, in order (FIFO), and is sent again in the new epoch.
 */
import { assert } from '../../errors.js';
import { BundleBuilder, concatBundles } from '../bundle.js';
import type { CoreContext } from '../context.js';
import type { Roster } from '../membership/roster.js';
import { EntryKind, sameMember } from '../types.js';
import type { DataMsg } from '../types.js';

/** A queued entry. */
export interface Pending {
  /** The ids `submit` returned, one per message: several for a bundle. */
  readonly localIds: number[];
  readonly kind: EntryKind;
  readonly group: string;
  readonly safe: boolean;
  /** For `app`, a bundle (see `bundle.ts`). */
  payload: Uint8Array;
  /** The last queued `app` entry, while later multicasts may still join its bundle. */
  open: BundleBuilder | null;
}

interface Sent extends Pending {
  readonly seq: number;
  /** Sent to the sequencer alone, for it to pass on (see `DataMsg.relay`). */
  readonly relay: boolean;
  lastSentAt: number;
}

/**
 * Largest lone entry a sender hands to the sequencer to pass on: beyond this, the
 * store-and-forward through the sequencer would delay the other members by more than
 * the write it saves.
 */
const RELAY_PAYLOAD_BYTES_MAX = 16 * 1024;

/** Own entries: queued, then in flight until delivered here (see the module comment). */
export class SendWindow {
  private nextLocalIdValue: number;
  private queue: Pending[] = [];
  private sent: Sent[] = [];
  /** Payload bytes of `sent`. */
  private sentBytes = 0;
  /** Messages in `sent` (a bundle counts each of its messages). */
  private sentMessages = 0;
  private sendSeq = 0;
  /** Size of the last bundle of several messages that left, 0 after a lone one: room the next bundle is given. */
  private bundleHint = 0;
  /** Highest own seq seen in an order record this epoch. */
  private ownOrderedSeq = 0;

  constructor(
    private readonly ctx: CoreContext,
    firstLocalId: number,
  ) {
    this.nextLocalIdValue = firstLocalId;
  }

  /** The local id the next queued entry gets. */
  get nextLocalId(): number {
    return this.nextLocalIdValue;
  }

  /** Entries (messages or bundles) waiting for room in the window. */
  get queued(): number {
    return this.queue.length;
  }

  /** Entries in flight, and their payload bytes, and the messages they hold. */
  get inFlight(): { readonly entries: number; readonly bytes: number; readonly messages: number } {
    return { entries: this.sent.length, bytes: this.sentBytes, messages: this.sentMessages };
  }

  /**
   * Queue an entry; returns its local id. An `app` payload joins the last queued
   * bundle when it can (same delivery mode, room left), so it is copied: the caller
   * may reuse it.
   */
  add(kind: EntryKind, group: string, payload: Uint8Array, safe: boolean): number {
    const localId = this.nextLocalIdValue++;
    if (kind !== EntryKind.app) {
      this.queue.push({ localIds: [localId], kind, group, safe, payload, open: null });
      return localId;
    }
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && last.open !== null && last.safe === safe && last.open.add(payload, group, this.ctx.cfg.bundleBytesMax)) {
      last.localIds.push(localId);
      last.payload = last.open.view();
      return localId;
    }
    const open = new BundleBuilder(payload, group, this.bundleHint);
    this.queue.push({ localIds: [localId], kind, group, safe, payload: open.view(), open });
    return localId;
  }

  /** Queue an entry ahead of everything else (a `stateDone`: see `StateJoiner`). */
  addFirst(kind: EntryKind, group: string, payload: Uint8Array): void {
    this.queue.unshift({ localIds: [this.nextLocalIdValue++], kind, group, safe: false, payload, open: null });
  }

  /** A join of ours is in flight (joins go one at a time: see the core's `heldBack`). */
  joinInFlight(): boolean {
    return this.sent.some((x) => x.kind === EntryKind.join);
  }

  /**
   * Move queued entries into flight while the window has room, sending each to the
   * members of `roster` (epoch `epoch`), and handing it to `store` (this member holds
   * its own data at once). An entry `heldBack` says must wait holds back those behind
   * it (FIFO), except a `stateDone`. Returns whether anything moved.
   */
  pump(now: number, roster: Roster, heldBack: (q: Pending) => boolean, store: (msg: DataMsg) => void): boolean {
    const cfg = this.ctx.cfg;
    let progress = false;
    while (this.queue.length > 0 && this.sent.length < cfg.sendWindowMax) {
      // Bytes as well as messages: one message always goes, however large.
      if (this.sent.length > 0 && this.sentBytes + this.queue[0]!.payload.length > cfg.sendWindowBytesMax) break;
      if (heldBack(this.queue[0]!)) {
        // A stateDone never waits behind an entry held back: confirming the state this
        // member received is what lets it provide the states that entry may wait for
        // (both can be in the queue in that order after a view change sends them again).
        const i = this.queue.findIndex((q) => q.kind === EntryKind.stateDone);
        if (i < 0) break;
        this.queue.unshift(...this.queue.splice(i, 1));
      }
      const q = this.take();
      if (q.kind === EntryKind.app) this.bundleHint = q.localIds.length > 1 ? Math.min(cfg.bundleBytesMax, q.payload.length + (q.payload.length >> 3)) : 0;
      // A lone entry (nothing else in flight: not a flood) goes to the sequencer alone,
      // which passes it on with its order record (`DataMsg.relay`).
      const members = roster.view.members;
      const relay = this.sent.length === 0 && roster.selfRank !== 0 && members.length > 2 && q.payload.length <= RELAY_PAYLOAD_BYTES_MAX;
      // Built field by field: a spread copy costs more than the rest of this loop.
      const s: Sent = { localIds: q.localIds, kind: q.kind, group: q.group, safe: q.safe, payload: q.payload, open: null, seq: ++this.sendSeq, relay, lastSentAt: now };
      this.sent.push(s);
      this.sentBytes += s.payload.length;
      this.sentMessages += s.localIds.length;
      const msg = this.dataMsg(s, roster.view.epoch);
      const out = this.ctx.out;
      if (relay) out.send(members[0]!.addr, msg);
      else for (const m of members) if (!sameMember(m, this.ctx.self)) out.send(m.addr, msg);
      store(msg);
      progress = true;
    }
    return progress;
  }

  /**
   * The next queued entry; for `app`, bundled with the application messages queued
   * right behind it in the same delivery mode (to any group), up to `bundleBytesMax`
   * (one message always goes, however large).
   */
  private take(): Pending {
    const first = this.queue.shift()!;
    if (first.kind !== EntryKind.app) return first;
    if (first.open !== null) {
      first.payload = first.open.seal();
      first.open = null;
    }
    let n = 0;
    let bytes = first.payload.length;
    for (; n < this.queue.length; n++) {
      const q = this.queue[n]!;
      if (q.kind !== EntryKind.app || q.safe !== first.safe) break;
      if (bytes + q.payload.length > this.ctx.cfg.bundleBytesMax) break;
      bytes += q.payload.length;
    }
    if (n === 0) return first;
    const taken = [first, ...this.queue.splice(0, n)];
    return {
      localIds: taken.flatMap((p) => p.localIds),
      kind: EntryKind.app,
      group: first.group,
      safe: first.safe,
      payload: concatBundles(
        taken.map((p) => p.payload),
        bytes,
      ),
      open: null,
    };
  }

  private dataMsg(s: Sent, epoch: number): DataMsg {
    const self = this.ctx.self;
    return { t: 'data', from: self, epoch, sender: self, seq: s.seq, kind: s.kind, group: s.group, safe: s.safe, relay: s.relay, payload: s.payload };
  }

  /** An order record (or the sequencer itself) ordered our entry `seq`. */
  ordered(seq: number): void {
    if (seq > this.ownOrderedSeq) this.ownOrderedSeq = seq;
  }

  /** Send again, to the sequencer (`send`), what it has not ordered for `retransmitMs`. */
  onResendTimeout(now: number, epoch: number, send: (msg: DataMsg) => void): void {
    for (const s of this.sent) {
      if (s.seq > this.ownOrderedSeq && now - s.lastSentAt >= this.ctx.cfg.retransmitMs) {
        s.lastSentAt = now;
        send(this.dataMsg(s, epoch));
        this.ctx.counters.dataResent++;
      }
    }
  }

  /** Our entry `seq` is delivered here: it leaves the window. Returns its local ids. */
  onDelivered(seq: number): readonly number[] {
    const s = this.sent.shift();
    assert(s !== undefined && s.seq === seq, `own delivery out of FIFO order at ${this.ctx.selfKey}`);
    this.sentBytes -= s.payload.length;
    this.sentMessages -= s.localIds.length;
    return s.localIds;
  }

  /** A new epoch: own entries not delivered in the old one go again, in order, first (FIFO). */
  requeue(): void {
    this.queue = [...this.sent.map((s) => ({ localIds: s.localIds, kind: s.kind, group: s.group, safe: s.safe, payload: s.payload, open: null })), ...this.queue];
    this.sent = [];
    this.sentBytes = 0;
    this.sentMessages = 0;
    this.sendSeq = 0;
    this.ownOrderedSeq = 0;
  }
}
