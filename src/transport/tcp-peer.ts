/**
 * The sending side of the TCP transport, per peer: a queue of encoded frames, the
 * batching that writes it, and the bound that keeps it finite.
 *
 * Intuition: the core sends in bursts (one input may cause a multicast to every member
 * plus acknowledgements), so sends are cheap appends and the writing happens once per
 * burst. Frames are queued per *peer*, not per connection, so frames not yet written
 * survive a connection being replaced and go out on the next one.
 *
 * - **Batching.** `enqueue` encodes the message once (straight into its length-prefixed
 *   frame; a message object sent to several peers in one turn, as a multicast is, is
 *   encoded once for all of them) and queues it on its peer; a microtask writes each
 *   peer's queue with a single `socket.write` once the code that sent has finished
 *   (everything one input caused leaves together, and at once). Large frames are
 *   encoded into buffers of their own (and, without encryption, a large data payload
 *   is not copied at all), so a 10 KiB multicast is not copied on its way through.
 * - **Backpressure.** A peer's frames waiting in our queue plus its socket's
 *   `writableLength` may not exceed `peerQueueBytesMax`; past it, new frames to that
 *   peer are dropped and counted (`framesDropped`), and logged once per episode.
 * - **Encryption.** With a session (`secure.ts`), whole frames are packed into sealed
 *   records of up to `RECORD_PLAIN_BYTES` at write time.
 *
 * Which connection a peer's queue is written to, and dialing when there is none, is
 * the transport's business (`tcp.ts`, with `tcp-pairing.ts` and `tcp-dial.ts`): the
 * outbox asks it through `OutboxHost`.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Message } from '../core/types.js';
import { Writer } from '../wire/buffer.js';
import { resolveWireLimits, writeMessage, writeMessageHead, type WireLimits } from '../wire/codec.js';
import { FRAME_LENGTH_MAX, LENGTH_PREFIX_BYTES } from './frame-parser.js';
import { RECORD_PLAIN_BYTES, type Sealer } from './secure.js';
import type { TransportLogLevel } from './tcp-options.js';
import type { PeerProblem } from './transport.js';

/** Payloads from this size on are encoded into a frame buffer of their own (no copy out). */
const FRESH_FRAME_PAYLOAD_BYTES = 4096;
/** Room for a message's fields around its payload; the writer grows if it needs more. */
const FRESH_FRAME_SLACK_BYTES = 1024;
/** Frames averaging this size or more go to the socket as they are (writev), not concatenated. */
const WRITEV_FRAME_BYTES = 4096;

/** What the outbox needs of a connection: its socket, and its record sealer once encrypted. */
export interface PeerLink {
  readonly socket: Socket;
  readonly sealer: Sealer | null;
}

/** One peer's record: its connections, its queue of unsent frames, its dial backoff. */
export interface Peer<C extends PeerLink = PeerLink> {
  /** The address we send to (a dialed address, or the advertised address in a hello). */
  readonly key: string;
  /** The open connection frames go out on. */
  conn: C | null;
  /** Our dial in progress, not yet open. */
  dialing: C | null;
  /** Encoded, length-prefixed frames not yet written (a large data frame as its head, then its payload). */
  queue: Buffer[];
  /** Bytes in `queue`. */
  queuedBytes: number;
  /** Frames in `queue` (a frame is one buffer, or a head and its payload). */
  queuedFrames: number;
  /** Consecutive failed dials (reset once the peer sends us a message). */
  failures: number;
  /** Why the last dial failed (cleared once the peer sends us a message). */
  problem: PeerProblem | null;
  /** `performance.now()` before which we do not dial. */
  retryAt: number;
  /** The timer that dials once the backoff ends, if armed. */
  retryTimer: NodeJS.Timeout | null;
  /** True while dropping for a full queue, to log once per episode. */
  dropping: boolean;
}

/** A fresh record for the peer at `key`: nothing queued, no connection, no backoff. */
export function newPeerRecord<C extends PeerLink>(key: string): Peer<C> {
  return {
    key,
    conn: null,
    dialing: null,
    queue: [],
    queuedBytes: 0,
    queuedFrames: 0,
    failures: 0,
    problem: null,
    retryAt: 0,
    retryTimer: null,
    dropping: false,
  };
}

/** Bytes queued for `peer` and not yet taken by the kernel: our queue plus its socket's `writableLength`. */
export function peerBuffered(peer: Peer): number {
  const conn = peer.conn;
  return peer.queuedBytes + (conn === null ? 0 : conn.socket.writableLength);
}

/** Empties `peer`'s queue (the frames are dropped); returns how many frames it held. */
export function clearQueue(peer: Peer): number {
  const count = peer.queuedFrames;
  peer.queue = [];
  peer.queuedBytes = 0;
  peer.queuedFrames = 0;
  return count;
}

/**
 * The peer records of one transport, by address. A record appears with the first send
 * to an address or the first connection opened from it, and goes once it holds
 * nothing worth keeping, so addresses that came and went do not accumulate.
 */
export class PeerTable<C extends PeerLink> {
  private readonly peers = new Map<string, Peer<C>>();
  /** `performance.now()` of the last sweep of idle records (`sweepIdle`). */
  private lastSweepAt = 0;

  /** @param reconnectMaxMs - The largest backoff: a record idle longer than this after its backoff may be swept. */
  constructor(private readonly reconnectMaxMs: number) {}

  /** The record of `key`, if any. */
  get(key: string): Peer<C> | undefined {
    return this.peers.get(key);
  }

  /** True when `key` has a record (tests watch records being forgotten). */
  has(key: string): boolean {
    return this.peers.has(key);
  }

  /** Every record, in the order they appeared. */
  values(): IterableIterator<Peer<C>> {
    return this.peers.values();
  }

  /** Forgets every record (the transport closes). */
  clear(): void {
    this.peers.clear();
  }

  /** A new record for `key` (after a sweep of idle ones, at most once a second). */
  add(key: string): Peer<C> {
    this.sweepIdle();
    const peer = newPeerRecord<C>(key);
    this.peers.set(key, peer);
    return peer;
  }

  /** Drops `peer`'s record if it holds nothing worth keeping, so accepted peers do not accumulate. */
  forgetIfIdle(peer: Peer<C>): void {
    if (
      peer.conn === null &&
      peer.dialing === null &&
      peer.queue.length === 0 &&
      peer.retryTimer === null &&
      peer.failures === 0 &&
      this.peers.get(peer.key) === peer
    ) {
      this.peers.delete(peer.key);
    }
  }

  /**
   * Forgets the records of peers nobody uses any more: no connection, no dial, nothing
   * queued, and a backoff that ended more than `reconnectMaxMs` ago (so a dial would go
   * at once anyway; only the failure count is lost). Without this, every address that
   * connected once and left after a failed dial-back (a status probe, a departed
   * member) would keep its record for good. Runs when a new peer appears, at most once
   * a second, so it costs at most one pass over the records a second.
   */
  private sweepIdle(): void {
    const now = performance.now();
    if (now - this.lastSweepAt < 1000) return;
    this.lastSweepAt = now;
    for (const peer of this.peers.values()) {
      if (peer.conn === null && peer.dialing === null && peer.queue.length === 0 && peer.retryTimer === null && now - peer.retryAt > this.reconnectMaxMs) {
        this.peers.delete(peer.key);
      }
    }
  }
}

/** The counters the outbox updates (the transport's, shared). */
export interface OutboxCounters {
  framesSent: number;
  bytesSent: number;
  framesDropped: number;
}

/** What the outbox asks of the transport it serves. */
export interface OutboxHost<C extends PeerLink> {
  /** The counters to update. */
  readonly counters: OutboxCounters;
  /** True once the transport closed: nothing is scheduled or written any more. */
  isClosed(): boolean;
  /** Writes `peer`'s queue on its connection ({@link Outbox.write}), or dials it. */
  flushPeer(peer: Peer<C>): void;
  /** Logs one line (the transport's `onLog`). */
  log(line: string, level: TransportLogLevel): void;
}

/** The limits the outbox enforces. */
export interface OutboxOptions {
  /** Largest frame sent, without its length prefix; longer ones are dropped and counted. */
  readonly frameBytesMax: number;
  /** Unsent bytes allowed per peer (see {@link peerBuffered}). */
  readonly peerQueueBytesMax: number;
  /** True with a network secret: frames are sealed in records, so payloads are always copied into their frame. */
  readonly sealed: boolean;
}

/**
 * The per-peer queues of one transport and their batched writing (see the module
 * comment). `enqueue` never throws for a fault of the network, and never writes: the
 * writing happens in a microtask, once per burst, through `OutboxHost.flushPeer`.
 */
export class Outbox<C extends PeerLink> {
  private readonly writer = new Writer(1024);
  private readonly sendLimits: Readonly<WireLimits>;
  private dirty = new Set<Peer<C>>();
  private spareDirty = new Set<Peer<C>>();
  /** The last message encoded this turn and its frame (null: too large), shared by its peers. */
  private lastMsg: Message | null = null;
  /** Its frame: one buffer, or a head and the payload it is followed by (see `encodeFrame`). */
  private lastFrame: Buffer[] | null = null;
  private flushQueued = false;

  constructor(
    private readonly host: OutboxHost<C>,
    private readonly o: OutboxOptions,
  ) {
    // The encoder's own frame limit is the prefix's range; `frameBytesMax` is checked
    // after encoding, so an oversized message is dropped and counted, not thrown.
    this.sendLimits = resolveWireLimits({ frameBytesMax: FRAME_LENGTH_MAX });
  }

  /**
   * Queues `msg` on `peer` and schedules the write; drops it (counted, logged once per
   * episode) when the peer's queue is full or the frame exceeds `frameBytesMax`.
   * @throws AssertionFailure for a message the codec cannot encode (a caller's bug).
   */
  enqueue(peer: Peer<C>, msg: Message): void {
    const buffered = peerBuffered(peer);
    if (buffered >= this.o.peerQueueBytesMax) {
      this.dropFull(peer, msg);
      return;
    }
    // The core sends one message object to every member in a loop: encode it once.
    // The cache lives for this turn only, so it never outlives the caller's object.
    let frame: Buffer[] | null;
    if (msg === this.lastMsg) {
      frame = this.lastFrame;
    } else {
      frame = this.encodeFrame(msg);
      this.lastMsg = msg;
      this.lastFrame = frame;
    }
    if (frame === null) {
      this.host.counters.framesDropped++;
      return;
    }
    const size = frame.length === 1 ? frame[0]!.length : frame[0]!.length + frame[1]!.length;
    if (buffered + size > this.o.peerQueueBytesMax) {
      this.dropFull(peer, msg);
      return;
    }
    peer.dropping = false;
    for (const piece of frame) peer.queue.push(piece);
    peer.queuedBytes += size;
    peer.queuedFrames += 1;
    this.markDirty(peer);
  }

  /** Schedules a write of `peer`'s queue (it has frames, and perhaps a connection now). */
  markDirty(peer: Peer<C>): void {
    this.dirty.add(peer);
    this.schedule();
  }

  /** Forgets the scheduled writes and the encoding cache (the transport closes). */
  clear(): void {
    this.lastMsg = null;
    this.lastFrame = null;
    this.dirty.clear();
  }

  /**
   * Writes `peer`'s whole queue on `conn` and empties it: a single frame as is, several
   * small ones concatenated (one buffer for the kernel), large ones handed over
   * together, uncopied (one writev); with a sealer, whole frames packed into records.
   */
  write(peer: Peer<C>, conn: C): void {
    const frames = peer.queue;
    const bytes = peer.queuedBytes;
    const count = peer.queuedFrames;
    peer.queue = [];
    peer.queuedBytes = 0;
    peer.queuedFrames = 0;
    const counters = this.host.counters;
    if (conn.sealer !== null) {
      // Encrypted: whole frames packed into records of up to RECORD_PLAIN_BYTES.
      let sent = 0;
      for (let i = 0; i < frames.length; ) {
        let j = i;
        let size = 0;
        while (j < frames.length && (j === i || size + frames[j]!.length <= RECORD_PLAIN_BYTES)) size += frames[j++]!.length;
        const record = conn.sealer.seal(j - i === 1 ? frames[i]! : Buffer.concat(frames.slice(i, j), size));
        conn.socket.write(record);
        sent += record.length;
        i = j;
      }
      counters.framesSent += count;
      counters.bytesSent += sent;
      return;
    }
    if (frames.length === 1) conn.socket.write(frames[0]!);
    else if (bytes < frames.length * WRITEV_FRAME_BYTES) conn.socket.write(Buffer.concat(frames, bytes));
    else {
      conn.socket.cork();
      for (const f of frames) conn.socket.write(f);
      conn.socket.uncork();
    }
    counters.framesSent += count;
    counters.bytesSent += bytes;
  }

  private dropFull(peer: Peer<C>, msg: Message): void {
    this.host.counters.framesDropped++;
    if (!peer.dropping) {
      peer.dropping = true;
      this.host.log(`dropping frames to ${peer.key} (first: ${msg.t}): ${peerBuffered(peer)} bytes unsent, peerQueueBytesMax is ${this.o.peerQueueBytesMax}`, 'warn');
    }
  }

  /**
   * Encodes `msg` once, straight after a 4-byte length slot, and returns a copy of the
   * whole length-prefixed frame; null (dropped, counted) if it exceeds `frameBytesMax`.
   */
  private encodeFrame(msg: Message): Buffer[] | null {
    const w = this.writer;
    // Without record encryption (which seals whole frames), a large data payload is not
    // copied at all: the frame is its head, then the payload itself.
    if (msg.t === 'data' && msg.payload.length >= FRESH_FRAME_PAYLOAD_BYTES && !this.o.sealed) {
      w.reset();
      w.ensure(LENGTH_PREFIX_BYTES);
      w.pos = LENGTH_PREFIX_BYTES;
      try {
        writeMessageHead(w, msg, this.sendLimits, true);
        const size = w.pos - LENGTH_PREFIX_BYTES + msg.payload.length;
        if (size > this.o.frameBytesMax) {
          this.host.log(`dropping a ${msg.t} frame of ${size} bytes: frameBytesMax is ${this.o.frameBytesMax}`, 'warn');
          return null;
        }
        const head = Buffer.from(w.buf.subarray(0, w.pos)); // a copy: the writer is reused
        head.writeUInt32BE(size, 0);
        return [head, Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.length)];
      } finally {
        w.release();
      }
    }
    // A large payload is encoded into a buffer of its own, which becomes the frame; a
    // small message into the reused buffer, then copied out.
    const payload = msg.t === 'data' ? msg.payload.length : msg.t === 'state-chunk' ? msg.data.length : 0;
    const fresh = payload >= FRESH_FRAME_PAYLOAD_BYTES;
    // Not zero-filled: the frame is the bytes written, [0, pos).
    if (fresh) w.resetOnto(Buffer.allocUnsafeSlow(LENGTH_PREFIX_BYTES + payload + FRESH_FRAME_SLACK_BYTES));
    else w.reset();
    w.ensure(LENGTH_PREFIX_BYTES);
    w.pos = LENGTH_PREFIX_BYTES;
    try {
      writeMessage(w, msg, this.sendLimits);
      const size = w.pos - LENGTH_PREFIX_BYTES;
      if (size > this.o.frameBytesMax) {
        this.host.log(`dropping a ${msg.t} frame of ${size} bytes: frameBytesMax is ${this.o.frameBytesMax}`, 'warn');
        return null;
      }
      let frame: Buffer;
      if (fresh) {
        const bytes = w.detach();
        frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      } else {
        frame = Buffer.from(w.buf.subarray(0, w.pos)); // a copy: the writer is reused
      }
      frame.writeUInt32BE(size, 0);
      return [frame];
    } finally {
      w.release();
    }
  }


  private schedule(): void {
    if (!this.flushQueued && !this.host.isClosed()) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
  }

  private readonly flushNow = (): void => this.flush();

  /**
   * Once the code that sent has run to its end (a microtask): write every dirty peer's
   * queue. Everything one input caused leaves in one write per peer, without waiting
   * for the rest of the event-loop turn.
   */
  private flush(): void {
    this.flushQueued = false;
    this.lastMsg = null;
    this.lastFrame = null;
    if (this.host.isClosed()) return;
    // Swapped, not copied: a peer made dirty while flushing waits for the next flush.
    const dirty = this.dirty;
    this.dirty = this.spareDirty;
    for (const peer of dirty) this.host.flushPeer(peer);
    dirty.clear();
    this.spareDirty = dirty;
  }
}
