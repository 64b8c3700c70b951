/**
 * One epoch's ordered stream, as every member holds it: the data received, the
 * sequencer's order records, and how far this member holds, delivered and collected.
 *
 * Intuition: data and order travel apart. A sender sends its data to every member; the
 * sequencer sends small order records (global sequence number → sender's rank and
 * seq). A member *holds* the contiguous prefix for which it has both; it delivers
 * agreed entries up to what a majority holds (*committed*) and safe entries up to what
 * every member holds (*stable*), and drops (*collects*) what is stable and delivered.
 * A new stream is made for every epoch, so nothing of one epoch's counting survives
 * into the next by accident.
 *
 * Its fields are the epoch's counters, read and advanced by the composition (delivery,
 * acks) and by the sequencer: they are plain fields, since the hot path reads them for
 * every message.
 */
import { assert } from '../../errors.js';
import type { CoreConfig } from '../config.js';
import type { Roster } from '../membership/roster.js';
import { majority } from '../quorum.js';
import { memberKey, memberRef } from '../types.js';
import type { DataMsg, LogEntry, MemberRef, OrderEntry } from '../types.js';

/** An ordered entry: its sender, the sender's rank in the epoch's view, and its seq. */
export interface EntryRecord {
  readonly sender: MemberRef;
  readonly rank: number;
  readonly seq: number;
}

/** One epoch's ordered stream at this member (see the module comment). */
export class OrderedStream {
  /**
   * Data received, per sender rank, by seq: the hot lookups of ordering and delivery
   * use small-integer keys, not strings built per lookup.
   */
  readonly data: Map<number, DataMsg>[];
  /** Global sequence number → sender and its seq. */
  readonly records = new Map<number, EntryRecord>();
  /** Per sender rank: the highest seq already delivered and collected (late duplicates are dropped). */
  readonly collectedSeq: number[];
  /** The highest global sequence number known to be ordered. */
  orderedMax = 0;
  /** The contiguous prefix held here: record and data. */
  held = 0;
  delivered = 0;
  /** Prefix every member holds. */
  stable = 0;
  /** Prefix held by a majority of the view: agreed messages are delivered up to here. */
  committed = 0;
  collectedUpTo = 0;
  /** What this member last told the sequencer it holds (an ack or a heartbeat). */
  lastAckSent = 0;
  /**
   * A deferred ack (`ackDelayMs`) must go by then; Infinity: none is owed. Held since
   * the last ack: `unackedBytes` of payload, `unackedSafe` when a safe entry is among it.
   */
  ackDueAt = Infinity;
  unackedBytes = 0;
  unackedSafe = false;

  /** A stream for a view of `size` members. */
  constructor(size: number) {
    this.data = Array.from({ length: size }, () => new Map<number, DataMsg>());
    this.collectedSeq = Array.from({ length: size }, () => 0);
  }

  /**
   * Whether this member's ack must go now rather than within `ackDelayMs` (like TCP's
   * delayed ack, it then rides on the next ack or heartbeat). Acks serve stability,
   * which only frees memory, except where somebody waits for them:
   * - the sequencer delivers agreed messages at the committed prefix (a majority holds
   *   it), and beyond three members so does everyone: the first `majority − 1` ranks
   *   after the sequencer ack at once, which makes that majority without the others;
   * - a safe entry waits for every member;
   * - the order window waits for stability: a quarter of it in entries, an eighth in
   *   bytes, is never held back.
   * One message at a time in three members, the sender's and a third member's ack per
   * message were a write, a wake-up and a core step at the sequencer each, on the path
   * of the next message. `selfRank` is this member's rank in a view of `size`.
   */
  ackUrgent(now: number, cfg: CoreConfig, selfRank: number, size: number): boolean {
    if (now >= this.ackDueAt || this.unackedSafe || cfg.ackDelayMs === 0) return true;
    if (selfRank < majority(size)) return true;
    return this.held - this.lastAckSent >= cfg.orderWindowMax / 4 || this.unackedBytes >= cfg.orderWindowBytesMax / 8;
  }

  /** This member just told the sequencer it holds `held` (an ack or a heartbeat). */
  ackSent(held: number): void {
    this.lastAckSent = held;
    this.ackDueAt = Infinity;
    this.unackedBytes = 0;
    this.unackedSafe = false;
  }

  /**
   * Take the entries of the cut that came with an accept (`acceptedLog`): their records
   * and data, where this member lacked them. Their senders are members of `roster`.
   */
  adopt(acceptedLog: ReadonlyMap<number, LogEntry>, roster: Roster): void {
    const epoch = roster.view.epoch;
    for (const [g, e] of acceptedLog) {
      const rank = roster.rank.get(memberKey(e.sender));
      assert(rank !== undefined, `entry ${g} of the cut is from ${memberKey(e.sender)}, not a member of epoch ${epoch}`);
      if (!this.records.has(g)) this.records.set(g, { sender: e.sender, rank, seq: e.seq });
      const byRank = this.data[rank]!;
      if (!byRank.has(e.seq) && e.payload !== null) {
        byRank.set(e.seq, { t: 'data', from: e.sender, epoch, sender: e.sender, seq: e.seq, kind: e.kind, group: e.group, safe: e.safe, relay: false, payload: e.payload });
      }
    }
  }

  /** Keep data of the sender of rank `r`. Returns whether it is new here. */
  store(msg: DataMsg, r: number): boolean {
    if (msg.seq <= this.collectedSeq[r]!) return false;
    const byRank = this.data[r]!;
    if (byRank.has(msg.seq)) return false;
    byRank.set(msg.seq, msg);
    return true;
  }

  /** The data of an ordered entry, if it is here. */
  dataOf(r: EntryRecord): DataMsg | undefined {
    return this.data[r.rank]?.get(r.seq);
  }

  /**
   * Order records from the sequencer: global sequence `first + i` is `entries[i]`, of
   * the members of `roster`. Calls `own(seq)` for each of this member's entries.
   */
  onOrder(first: number, entries: readonly OrderEntry[], roster: Roster, own: (seq: number) => void): void {
    const members = roster.view.members;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const gseq = first + i;
      if (gseq <= this.collectedUpTo) continue;
      const sender = members[e.rank];
      if (sender === undefined) continue;
      if (!this.records.has(gseq)) this.records.set(gseq, { sender: memberRef(sender), rank: e.rank, seq: e.seq });
      if (gseq > this.orderedMax) this.orderedMax = gseq;
      if (e.rank === roster.selfRank) own(e.seq);
    }
    if (first - 1 > this.orderedMax) this.orderedMax = first - 1;
  }

  /** The sequencer's stable and committed prefixes (never beyond what is known to be ordered). */
  learnStable(stable: number, committed: number): void {
    if (stable > this.stable) this.stable = Math.min(stable, this.orderedMax);
    if (committed > this.committed) this.committed = Math.min(committed, this.orderedMax);
  }

  /** Advance the contiguous prefix for which both the record and the data are here. Returns whether it moved. */
  advanceHeld(): boolean {
    const before = this.held;
    for (;;) {
      const r = this.records.get(this.held + 1);
      if (r === undefined) break;
      const d = this.dataOf(r);
      if (d === undefined) break;
      this.held += 1;
      this.unackedBytes += d.payload.length;
      if (d.safe) this.unackedSafe = true;
    }
    return this.held !== before;
  }

  /**
   * The prefix this member may deliver agreed messages up to. In a view of at most
   * three, a majority is two: this member and the sequencer, which orders only what it
   * holds. So a member other than the sequencer that holds an ordered prefix knows a
   * majority holds it, and need not wait a round trip for the sequencer to say so.
   */
  deliverable(sequencer: boolean, size: number): number {
    if (!sequencer && majority(size) <= 2) return Math.max(this.committed, this.held);
    return this.committed;
  }

  /**
   * Drop what every member holds and this one delivered. Calls `freed(bytes)` for each
   * entry whose data was here (the sequencer's order window counts them).
   */
  collect(freed: ((bytes: number) => void) | null): void {
    const upTo = Math.min(this.stable, this.delivered);
    for (let g = this.collectedUpTo + 1; g <= upTo; g++) {
      const r = this.records.get(g);
      if (r === undefined) continue;
      const byRank = this.data[r.rank]!;
      const d = byRank.get(r.seq);
      if (d !== undefined && freed !== null) freed(d.payload.length);
      byRank.delete(r.seq);
      this.records.delete(g);
      if (r.seq > this.collectedSeq[r.rank]!) this.collectedSeq[r.rank] = r.seq;
    }
    if (upTo > this.collectedUpTo) this.collectedUpTo = upTo;
  }

  /**
   * What this member holds beyond the stable prefix, for a promise: entries whose
   * record and data are both here, and the entries of a cut it received with an accept
   * (`acceptedLog`; also where it held the record but not the data: a later proposer
   * that proposes that accepted cut again needs a promiser holding every entry of it).
   */
  holdings(acceptedLog: ReadonlyMap<number, LogEntry>): LogEntry[] {
    const out: LogEntry[] = [];
    for (const [g, r] of this.records) {
      if (g <= this.stable) continue;
      const d = this.dataOf(r);
      if (d !== undefined) out.push({ gseq: g, sender: r.sender, seq: r.seq, kind: d.kind, group: d.group, safe: d.safe, payload: d.payload });
      else {
        const e = acceptedLog.get(g);
        if (e !== undefined) out.push(e);
      }
    }
    for (const [g, e] of acceptedLog) {
      if (g > this.stable && !this.records.has(g)) out.push(e);
    }
    return out.sort((a, b) => a.gseq - b.gseq);
  }
}
