/**
 * State transfer, the joiner's side: receive a group's state in chunks, reassemble it,
 * and confirm it in order.
 *
 * The join's delivery fixes the state's position and a marker in the application's
 * stream (`AppStream`). Chunks may arrive out of order, or before this member has
 * delivered its own join (a few are kept, bounded). Each chunk is acknowledged with the
 * contiguous prefix held, again every two retransmission intervals while it stalls.
 * A state received whole is applied only once this member's `stateDone` entry is
 * delivered: until then every member's group table counts it as waiting, and if its
 * provider departs first, they all move the obligation (or declare it fresh) alike.
 */
import { assert } from '../../errors.js';
import type { AppStream } from '../app-stream.js';
import type { CoreContext } from '../context.js';
import { comparePositions, sameMember } from '../types.js';
import type { Position, StateChunkMsg } from '../types.js';

interface IncomingTransfer {
  readonly group: string;
  readonly pos: Position;
  buffer: Uint8Array | null;
  /** Contiguous bytes received from offset 0. */
  received: number;
  /** Chunks received beyond `received`: offset → length. */
  readonly ahead: Map<number, number>;
  total: number;
  /** Received whole; applied once our `stateDone` for `pos` is delivered, in order. */
  done: boolean;
  /** When this member learnt it awaits the state (for the duration counter). */
  readonly startedAt: number;
}

/** Early chunks kept, in windows' worth of bytes: a provider runs at most a little ahead. */
const EARLY_WINDOWS_MAX = 4;

/** The payload of a `stateDone` entry: the position of the state it confirms. */
export function encodePos(pos: Position): Uint8Array {
  return new TextEncoder().encode(`${pos.epoch}:${pos.gseq}`);
}

/** The position a `stateDone` payload names; null if malformed. */
export function decodePos(bytes: Uint8Array): Position | null {
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(new TextDecoder().decode(bytes));
  return m === null ? null : { epoch: Number(m[1]), gseq: Number(m[2]) };
}

/** The states this member awaits (see the module comment). */
export class StateJoiner {
  private readonly incoming = new Map<string, IncomingTransfer>();
  /** Where to send each group's acks again while chunks stall, and when last. */
  private readonly ackTo = new Map<string, { to: string; at: number }>();
  /** State chunks that arrived before this member delivered its own join. */
  private early: { from: string; msg: StateChunkMsg }[] = [];
  private earlyBytes = 0;

  /**
   * @param onComplete a state arrived whole: the composition queues its `stateDone`
   *   entry (first, see there) and makes progress.
   */
  constructor(
    private readonly ctx: CoreContext,
    private readonly app: AppStream,
    private readonly onComplete: (now: number, group: string, pos: Position) => void,
  ) {}

  /** Whether this member waits for `group`'s state (until its `stateDone` is delivered). */
  waitsFor(group: string): boolean {
    return this.incoming.has(group);
  }

  /**
   * Durable groups: the earliest position of a state this member awaits (until its
   * `stateDone` is delivered and the state handed over), or null. What it reports on
   * disk stays before it: without the group's state, its entries there restore nothing.
   */
  awaitedFrom(): Position | null {
    let min: Position | null = null;
    for (const inc of this.incoming.values()) if (min === null || comparePositions(inc.pos, min) < 0) min = inc.pos;
    return min;
  }

  /** A state this member joined for has not arrived whole yet. */
  awaiting(): boolean {
    for (const inc of this.incoming.values()) if (!inc.done) return true;
    return false;
  }

  /**
   * Await `group`'s state taken at `pos` (its marker is in the stream already), and
   * take the chunks of it that came early. `here` is this member's delivered position.
   */
  begin(now: number, group: string, pos: Position, here: Position): void {
    this.incoming.set(group, { group, pos, buffer: null, received: 0, ahead: new Map(), total: -1, done: false, startedAt: now });
    const early = this.early.filter((x) => x.msg.group === group && comparePositions(x.msg.pos, pos) === 0);
    this.early = this.early.filter((x) => !early.includes(x));
    this.earlyBytes = this.early.reduce((n, x) => n + x.msg.data.length, 0);
    for (const x of early) this.onStateChunk(now, x.from, x.msg, here);
  }

  /** No longer await `group`'s state. */
  forget(group: string): void {
    this.incoming.delete(group);
    this.ackTo.delete(group);
  }

  /** A chunk from the provider at `from`; `here` is this member's delivered position. */
  onStateChunk(now: number, from: string, msg: StateChunkMsg, here: Position): void {
    const { cfg, out, self } = this.ctx;
    if (!sameMember(msg.joiner, self)) return;
    const inc = this.incoming.get(msg.group);
    if (inc === undefined || comparePositions(inc.pos, msg.pos) !== 0) {
      // A provider may run ahead of us: a chunk for a position we have not delivered yet
      // waits for its retransmission. One for a position behind us is not wanted any
      // more: tell the provider to stop.
      if (comparePositions(msg.pos, here) <= 0) {
        out.send(from, { t: 'state-ack', from: self, group: msg.group, pos: msg.pos, offset: Number.MAX_SAFE_INTEGER });
      } else if (this.earlyBytes + msg.data.length <= cfg.stateWindowChunks * cfg.stateChunkBytes * EARLY_WINDOWS_MAX) {
        // Keep a few chunks that came before we delivered our own join (bounded).
        this.earlyBytes += msg.data.length;
        this.early.push({ from, msg });
      }
      return;
    }
    if (inc.done) {
      // Ours already, waiting for our stateDone: the provider missed our last ack.
      out.send(from, { t: 'state-ack', from: self, group: msg.group, pos: msg.pos, offset: inc.total });
      return;
    }
    if (inc.total < 0) {
      if (msg.total > cfg.stateBytesMax) {
        out.log(`state of ${msg.group} is ${msg.total} bytes, over stateBytesMax ${cfg.stateBytesMax}`, 'error');
        return;
      }
      inc.total = msg.total;
      inc.buffer = new Uint8Array(msg.total);
    }
    if (msg.total !== inc.total || inc.buffer === null) return;
    const before = inc.received;
    this.take(inc, msg);
    out.send(from, { t: 'state-ack', from: self, group: msg.group, pos: msg.pos, offset: inc.received });
    this.ackTo.set(msg.group, { to: from, at: now });
    // Progress is for the joiner to show, outside the group's order (its first view
    // waits for the whole state).
    if (inc.received > before || before === 0) out.emit({ type: 'state-progress', group: msg.group, received: inc.received, total: inc.total });
    if (inc.received === inc.total) this.complete(now, inc);
  }

  /** Chunks may arrive out of order: keep those ahead, advance over the contiguous run. */
  private take(inc: IncomingTransfer, msg: StateChunkMsg): void {
    if (msg.offset < inc.received || msg.offset + msg.data.length > inc.total || inc.ahead.has(msg.offset)) return;
    inc.buffer!.set(msg.data, msg.offset);
    inc.ahead.set(msg.offset, msg.data.length);
    for (let len = inc.ahead.get(inc.received); len !== undefined; len = inc.ahead.get(inc.received)) {
      inc.ahead.delete(inc.received);
      inc.received += len;
      if (len === 0) break;
    }
  }

  /** Acks again where chunks stall (the last ack may be lost). */
  onAckTimeout(now: number): void {
    for (const [group, a] of this.ackTo) {
      const inc = this.incoming.get(group);
      if (inc === undefined) {
        this.ackTo.delete(group);
      } else if (now - a.at >= this.ctx.cfg.retransmitMs * 2) {
        a.at = now;
        this.ctx.out.send(a.to, { t: 'state-ack', from: this.ctx.self, group, pos: inc.pos, offset: inc.received });
      }
    }
  }

  /** The state arrived whole: it waits in its marker for our `stateDone`. */
  private complete(now: number, inc: IncomingTransfer): void {
    inc.done = true;
    const c = this.ctx.counters;
    c.statesReceived++;
    c.stateBytesReceived += inc.total;
    c.stateReceiveMsLast = now - inc.startedAt;
    this.ackTo.delete(inc.group);
    const m = this.app.markerOf(inc.group);
    assert(m !== undefined, 'a state without its marker');
    m.state = inc.buffer ?? new Uint8Array(0);
    inc.buffer = null;
    this.onComplete(now, inc.group, inc.pos);
  }

  /** Our `stateDone` for `pos` is delivered: the state is ours in everyone's eyes. */
  confirm(group: string, pos: Position): void {
    const inc = this.incoming.get(group);
    const m = this.app.markerOf(group);
    if (inc === undefined || !inc.done || comparePositions(inc.pos, pos) !== 0 || m === undefined) return;
    this.incoming.delete(group);
    m.confirmed = true;
    this.app.release();
  }
}
