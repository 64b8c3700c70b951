/**
 * The moving parts of the fault proxy: a `Pipe` is one direction of one connection,
 * a `Link` is one accepted connection with its two pipes and the socket it dialed.
 *
 * Intuition: each pipe is a first-in first-out queue of held chunks, each with a
 * release time (`now + latency + jitter`, raised to the previous chunk's, so jitter
 * never reorders bytes), drained by one timer armed for the head's release time or the
 * bandwidth clock, never by polling. Held bytes are capped by pausing the source
 * socket (TCP backpressure), and a receiver that does not read stops the pipe until
 * `'drain'`. A FIN is passed on after every byte queued before it. Faults are read
 * from the proxy at every step, so a change applies at once. Socket faults never
 * throw: they tear the link down and are logged.
 */
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { HostPort, LinkFaults, Side } from './fault-settings.js';

/** Largest chunk one socket read delivers (libuv reads at most 64 KiB at a time). */
const READ_CHUNK_MAX = 64 * 1024;
/** A bandwidth slice is at most this long on the wire, in milliseconds. */
const SLICE_MS = 50;
/** Longest setTimeout Node honours; longer ones fire after 1 ms. */
const TIMER_MS_MAX = 2_147_483_647;
/** How long a reset waits for the last allowed bytes to reach the kernel. */
const RESET_FLUSH_MS = 1_000;

/** Counters of one direction (see `DirectionStats`). */
export interface Counters {
  forwarded: number;
  dropped: number;
  held: number;
  heldPeak: number;
  pauses: number;
}

/** What a pipe needs from its proxy. */
export interface PipeContext {
  /** The faults in force now for `side`. */
  faults(side: Side): LinkFaults;
  /** A uniform number in [0, 1) for jitter. */
  rng(): number;
  /** Most bytes held per pipe before its source is paused. */
  readonly heldBytesMax: number;
  /** The counters of `side`, summed over every connection. */
  counters(side: Side): Counters;
}

interface HeldChunk {
  data: Buffer;
  releaseAt: number;
}

function clamp01(x: number): number {
  return x >= 0 ? (x < 1 ? x : 1) : 0; // NaN → 0
}

/** Bytes a bandwidth slice carries: SLICE_MS worth, at least 1, at most one read. */
function sliceBytes(bytesPerS: number): number {
  return Math.min(READ_CHUNK_MAX, Math.max(1, Math.floor((bytesPerS * SLICE_MS) / 1000)));
}

/** One direction of one connection: a queue of held chunks, a timer, and backpressure. */
export class Pipe {
  private queue: (HeldChunk | undefined)[] = [];
  private head = 0;
  private held = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastReleaseAt = 0;
  private rateFreeAt = 0;
  private pausedByUs = false;
  private waitingDrain = false;
  private limitHit = false;
  private done = false;
  /** Bytes forwarded on this pipe since the connection started. */
  forwarded = 0;
  /** `forwarded` when the current `resetAfterBytes` started counting. */
  limitBase = 0;
  /** The source sent FIN. */
  sourceEnded = false;
  /** The FIN was passed on to the destination. */
  endSent = false;

  constructor(
    readonly side: Side,
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly ctx: PipeContext,
    private readonly onLimit: (pipe: Pipe, flushed: Promise<void>) => void,
  ) {}

  /** Nothing left to forward: the FIN was passed on and no byte is held. */
  get finished(): boolean {
    return this.endSent && this.held === 0;
  }

  onData(chunk: Buffer): void {
    if (this.done || this.limitHit) return;
    const f = this.ctx.faults(this.side);
    const c = this.ctx.counters(this.side);
    if (f.blackhole) {
      c.dropped += chunk.length;
      return;
    }
    const jitter = f.jitterMs > 0 ? f.jitterMs * this.draw() : 0;
    const releaseAt = Math.max(performance.now() + f.latencyMs + jitter, this.lastReleaseAt);
    this.lastReleaseAt = releaseAt;
    this.queue.push({ data: chunk, releaseAt });
    this.held += chunk.length;
    c.held += chunk.length;
    if (this.held > c.heldPeak) c.heldPeak = this.held;
    if (!this.pausedByUs && this.full()) {
      this.pausedByUs = true;
      c.pauses += 1;
      this.source.pause();
    }
    this.pump();
  }

  onEnd(): void {
    this.sourceEnded = true;
    this.pump();
  }

  /** Forward whatever may go now; arm the timer for what may go later. */
  pump(): void {
    if (this.done) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const f = this.ctx.faults(this.side);
    while (!this.waitingDrain && !this.limitHit && !this.done) {
      const item = this.queue[this.head];
      if (item === undefined) {
        if (this.sourceEnded && !this.endSent && !f.stall && !f.blackhole) {
          this.endSent = true;
          this.dest.end();
        }
        break;
      }
      if (f.blackhole) {
        this.ctx.counters(this.side).dropped += item.data.length;
        this.take(item, item.data.length);
        continue;
      }
      if (f.stall) break;
      const now = performance.now();
      const bw = f.bandwidthBytesPerS;
      const at = bw > 0 ? Math.max(item.releaseAt, this.rateFreeAt) : item.releaseAt;
      if (at > now) {
        this.arm(at - now);
        break;
      }
      let n = item.data.length;
      if (bw > 0) n = Math.min(n, sliceBytes(bw));
      const limit = f.resetAfterBytes;
      if (limit > 0) n = Math.min(n, Math.max(0, this.limitBase + limit - this.forwarded));
      const slice = item.data.subarray(0, n);
      this.take(item, n);
      this.forwarded += n;
      this.ctx.counters(this.side).forwarded += n;
      if (bw > 0) this.rateFreeAt = Math.max(this.rateFreeAt, now) + (n * 1000) / bw;
      if (limit > 0 && this.forwarded - this.limitBase >= limit) {
        this.limitHit = true;
        const flushed =
          n > 0 ? new Promise<void>((resolve) => this.dest.write(slice, () => resolve())) : Promise.resolve();
        this.onLimit(this, flushed);
        break;
      }
      if (!this.dest.write(slice)) {
        this.waitingDrain = true;
        this.dest.once('drain', () => {
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
    if (this.pausedByUs && !this.done && !this.full()) {
      this.pausedByUs = false;
      this.source.resume();
    }
  }

  /** Stop for good: drop what is held, clear the timer. */
  close(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.ctx.counters(this.side).held -= this.held;
    this.held = 0;
    this.queue = [];
    this.head = 0;
  }

  /** A jitter fraction in [0, 1]; a throwing or wild rng counts as 0 rather than crash a socket handler. */
  private draw(): number {
    try {
      return clamp01(this.ctx.rng());
    } catch {
      return 0;
    }
  }

  /** Whether one more read might push the held bytes over the cap. */
  private full(): boolean {
    return this.held > 0 && this.held + READ_CHUNK_MAX > this.ctx.heldBytesMax;
  }

  /** Remove `n` bytes from the head chunk. */
  private take(item: HeldChunk, n: number): void {
    this.held -= n;
    this.ctx.counters(this.side).held -= n;
    if (n < item.data.length) {
      item.data = item.data.subarray(n);
      return;
    }
    this.queue[this.head] = undefined; // let the buffer go
    this.head += 1;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private arm(ms: number): void {
    const delay = Math.min(TIMER_MS_MAX, Math.max(1, Math.ceil(ms)));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, delay);
  }
}

/** One accepted connection: the client socket, the socket to the target, two pipes. */
export class Link {
  readonly up: Pipe;
  readonly down: Pipe;
  private readonly upstream: Socket;
  private closed = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private resetTimer: NodeJS.Timeout | undefined;
  private clientClosed = false;
  private upstreamClosed = false;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    target: HostPort,
    connectTimeoutMs: number,
    ctx: PipeContext,
    private readonly hooks: {
      log(line: string): void;
      gone(link: Link): void;
      resetByLimit(link: Link): void;
    },
  ) {
    this.upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    client.setNoDelay(true);
    this.upstream.setNoDelay(true);
    const onLimit = (pipe: Pipe, flushed: Promise<void>): void => {
      if (this.closed || this.resetTimer !== undefined) return; // already going
      this.hooks.log(`#${this.id} ${pipe.side}: resetAfterBytes reached after ${pipe.forwarded} bytes, resetting`);
      this.hooks.resetByLimit(this);
      // Let the last allowed bytes reach the kernel first, but never wait long.
      this.resetTimer = setTimeout(() => this.teardown('resetAfterBytes', true), RESET_FLUSH_MS);
      void flushed.then(() => this.teardown('resetAfterBytes', true));
    };
    this.up = new Pipe('up', client, this.upstream, ctx, onLimit);
    this.down = new Pipe('down', this.upstream, client, ctx, onLimit);

    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      this.teardown(`target not connected within ${connectTimeoutMs} ms`, false);
    }, connectTimeoutMs);
    this.upstream.once('connect', () => {
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    });

    client.on('data', (d: Buffer) => this.up.onData(d));
    client.on('end', () => this.up.onEnd());
    this.upstream.on('data', (d: Buffer) => this.down.onData(d));
    this.upstream.on('end', () => this.down.onEnd());
    client.on('error', (err) => this.teardown(`client error: ${err.message}`, false));
    this.upstream.on('error', (err) => this.teardown(`target error: ${err.message}`, false));
    client.on('close', () => {
      this.clientClosed = true;
      this.onSocketClose('client', this.up, this.down);
    });
    this.upstream.on('close', () => {
      this.upstreamClosed = true;
      this.onSocketClose('target', this.down, this.up);
    });
  }

  /** Pipes of a side, for `set()`. */
  pipe(side: Side): Pipe {
    return side === 'up' ? this.up : this.down;
  }

  /**
   * A socket closed. After a clean exchange of FINs (everything it sent was read, and
   * everything for it was forwarded and followed by our FIN) the other side finishes on
   * its own; otherwise the connection is torn down.
   */
  private onSocketClose(which: string, from: Pipe, into: Pipe): void {
    if (this.closed) return;
    if (this.clientClosed && this.upstreamClosed) {
      this.teardown('closed', false);
    } else if (!(from.sourceEnded && into.finished)) {
      this.teardown(`${which} closed`, false);
    } else {
      into.close();
    }
  }

  /** Close both sockets (with an RST if `rst`) and forget the connection. Idempotent. */
  teardown(reason: string, rst: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    if (this.resetTimer !== undefined) clearTimeout(this.resetTimer);
    this.connectTimer = undefined;
    this.resetTimer = undefined;
    this.up.close();
    this.down.close();
    for (const s of [this.client, this.upstream]) {
      if (rst) resetSocket(s);
      else s.destroy();
    }
    this.hooks.log(`#${this.id} ${rst ? 'reset' : 'closed'}: ${reason}`);
    this.hooks.gone(this);
  }
}

/** Destroy a socket with a TCP RST when it is connected, plainly otherwise. */
function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (s.connecting) {
    s.destroy();
    return;
  }
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

/** Counters at zero. */
export function zeroCounters(): Counters {
  return { forwarded: 0, dropped: 0, held: 0, heldPeak: 0, pauses: 0 };
}
