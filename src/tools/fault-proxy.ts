/**
 * A TCP fault proxy in the spirit of Toxiproxy: it listens on one address, dials a
 * fixed target for every connection it accepts, and pipes the bytes both ways while
 * injecting faults — latency, jitter, a bandwidth cap, stalls, resets and a
 * blackhole — that a test can change at any moment.
 *
 * Why it exists: this machine's kernel has no netem (see the netlab notes), so real
 * delay and jitter between Cohort members must come from user space. A test puts a
 * proxy in front of a member and points the member's `--advertise` address at the
 * proxy; every peer that dials the member then goes through the faults.
 *
 * Design:
 * - **One first-in first-out queue per direction of each connection** (`up`: client →
 *   target, `down`: target → client). Each chunk read from the source gets a release
 *   time `now + latencyMs + jitterMs × rng()`, raised to the previous chunk's release
 *   time, and only the head of the queue is ever released. So jitter varies delays but
 *   never reorders bytes: TCP is a byte stream, and a reordering proxy would corrupt
 *   it rather than model a network (TCP hides reordered segments from applications).
 * - **One timer per queue**, armed for the head's release time (or the bandwidth
 *   budget), never a polling loop. Each pump step sends at least one byte or stops.
 * - **Bandwidth** is a pacing clock: a slice of `n` bytes occupies the link for
 *   `n / rate` seconds, and slices are at most 50 ms worth of bytes, so the output is
 *   smooth rather than one burst per read.
 * - **Bounded memory by TCP backpressure.** Bytes held in a queue (waiting for their
 *   release time, a stall, the bandwidth clock or a slow receiver) are capped per
 *   connection and direction by `heldBytesMax`. Reads arrive in chunks of at most
 *   64 KiB, so the proxy stops reading the source (`socket.pause()`) as soon as one
 *   more chunk might cross the cap, and resumes when there is room: the sender's
 *   kernel buffers fill and its writes report backpressure, as over a slow network.
 *   A receiver that does not read is handled the same way: a `write()` that returns
 *   false stops the queue until `'drain'`.
 * - **Half-close is forwarded in order**: a FIN from one side is passed on after every
 *   byte queued before it (and is held by a stall or a blackhole like the bytes are).
 * - **Faults of the world never throw**: a socket error, a refused or slow dial (bounded
 *   by `connectTimeoutMs`) destroys the connection's two sockets and is logged. Only
 *   bad options, a caller's mistake, throw a typed `OptionError`.
 *
 * This is a test tool, not the protocol core, so it reads the real clock
 * (`performance.now()`) and, by default, `Math.random` for jitter.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ClosedError, ErrorCode, OptionError } from '../errors.js';

// --- public types --------------------------------------------------------------------

/** Which direction(s) of every connection a {@link FaultProxy.set} applies to. */
export const Direction = {
  /** Client → target: bytes the proxy's clients send. */
  up: 'up',
  /** Target → client: bytes the target sends back. */
  down: 'down',
  /** Both directions, each with its own copy of the settings. */
  both: 'both',
} as const;
/** One of {@link Direction}'s values. */
export type Direction = (typeof Direction)[keyof typeof Direction];

/** The faults of one direction of the link. Every connection applies them independently. */
export interface LinkFaults {
  /**
   * Delay added to every chunk before it is forwarded, in milliseconds (at most one
   * hour). A change applies to chunks read after it; chunks already held keep their
   * release time.
   * @default 0
   */
  latencyMs: number;
  /**
   * Extra delay drawn uniformly from `0..jitterMs` per chunk, in milliseconds (at most
   * one hour). Bytes are never reordered: a chunk is released no earlier than the one
   * read before it on the same connection.
   * @default 0
   */
  jitterMs: number;
  /**
   * Rate cap in bytes per second, applied after the delay (0 = unlimited; otherwise at
   * least 1). Output is paced in slices of at most 50 ms worth of bytes.
   * @default 0
   */
  bandwidthBytesPerS: number;
  /**
   * Hold every byte (and a FIN) until unset, then release them in order, each no
   * earlier than its own release time. Reading continues until `heldBytesMax`.
   * @default false
   */
  stall: boolean;
  /**
   * Reset the connection (destroy both sockets with a TCP RST) once this many bytes
   * have been forwarded in this direction on it (0 = off). Exactly that many bytes are
   * forwarded first. Counted per connection, from the connection's start or from the
   * `set()` that changed the limit, whichever is later; it applies to every connection,
   * including ones accepted later.
   * @default 0
   */
  resetAfterBytes: number;
  /**
   * Silently drop every byte, including bytes already held, while keeping the
   * connections open: a dead link. A FIN is not dropped but held until unset (a real
   * FIN would be retransmitted after the link heals). New connections are still
   * accepted and dialled.
   * @default false
   */
  blackhole: boolean;
}

/** The faults of a link with nothing injected: a transparent pipe. */
export const DEFAULT_LINK_FAULTS: Readonly<LinkFaults> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  bandwidthBytesPerS: 0,
  stall: false,
  resetAfterBytes: 0,
  blackhole: false,
});

/** Argument of {@link FaultProxy.set}: the faults to change, and where. */
export type FaultSettings = Partial<LinkFaults> & {
  /**
   * Which direction(s) the given faults apply to.
   * @default 'both'
   */
  direction?: Direction;
};

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Address to listen on, `host:port` or `[ipv6]:port`; port 0 picks a free one. */
  listen: string;
  /** Address every accepted connection is piped to, `host:port` or `[ipv6]:port`. */
  target: string;
  /**
   * Diagnostics, one line each: listening, connections, fault changes, resets, errors.
   * @default none
   */
  onLog?: (line: string) => void;
  /**
   * Source of uniform numbers in [0, 1) for jitter (values outside are clamped; a
   * throw counts as 0).
   * @default Math.random
   */
  rng?: () => number;
  /**
   * Most bytes held per connection and direction (waiting for latency, a stall, the
   * bandwidth cap or a slow receiver); at least 64 KiB. Above it the proxy stops reading
   * the source socket (TCP backpressure) until there is room again.
   * @default 64 MiB
   */
  heldBytesMax?: number;
  /**
   * How long dialling the target may take before the accepted connection is dropped.
   * @default 10_000
   */
  connectTimeoutMs?: number;
}

/** Counters of one direction, summed over every connection. */
export interface DirectionStats {
  /** Bytes written to the destination socket. */
  forwarded: number;
  /** Bytes dropped by a blackhole. */
  dropped: number;
  /** Bytes held right now, over all open connections. */
  held: number;
  /** The most bytes any one connection ever held in this direction (never above `heldBytesMax`). */
  heldPeak: number;
  /** How many times reading from a source socket was paused because its queue was full. */
  pauses: number;
}

/** A snapshot of {@link FaultProxy.stats}. */
export interface FaultProxyStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Connections reset by the proxy (`reset()` or `resetAfterBytes`). */
  resets: number;
  /** Client → target. */
  up: DirectionStats;
  /** Target → client. */
  down: DirectionStats;
}

/** A parsed `host:port`. */
export interface HostPort {
  /** Host name or IP address, without brackets. */
  host: string;
  /** Port number, 0–65535. */
  port: number;
}

/** Limits on options, so that no timer overflows and no option means "forever" by accident. */
export const FAULT_PROXY_LIMITS = {
  /** Largest `latencyMs` and `jitterMs`: one hour. */
  delayMsMax: 3_600_000,
  /** Smallest non-zero `bandwidthBytesPerS`. */
  bandwidthMin: 1,
  /** Smallest `heldBytesMax`: one socket read. */
  heldBytesMin: 64 * 1024,
  /** Largest `connectTimeoutMs`: ten minutes. */
  connectTimeoutMsMax: 600_000,
} as const;

// --- internals -----------------------------------------------------------------------

/** Largest chunk one socket read delivers (libuv reads at most 64 KiB at a time). */
const READ_CHUNK_MAX = 64 * 1024;
/** A bandwidth slice is at most this long on the wire, in milliseconds. */
const SLICE_MS = 50;
/** Longest setTimeout Node honours; longer ones fire after 1 ms. */
const TIMER_MS_MAX = 2_147_483_647;
/** How long a reset waits for the last allowed bytes to reach the kernel. */
const RESET_FLUSH_MS = 1_000;
const DEFAULT_HELD_BYTES_MAX = 64 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

const faultKeys: readonly (keyof LinkFaults)[] = [
  'latencyMs',
  'jitterMs',
  'bandwidthBytesPerS',
  'stall',
  'resetAfterBytes',
  'blackhole',
];
const optionKeys: readonly (keyof FaultProxyOptions)[] = [
  'listen',
  'target',
  'onLog',
  'rng',
  'heldBytesMax',
  'connectTimeoutMs',
];

/** One direction: the directions a `set()` with `direction` touches. */
type Side = 'up' | 'down';

interface Counters {
  forwarded: number;
  dropped: number;
  held: number;
  heldPeak: number;
  pauses: number;
}

/** What a pipe needs from its proxy. */
interface PipeContext {
  faults(side: Side): LinkFaults;
  rng(): number;
  readonly heldBytesMax: number;
  counters(side: Side): Counters;
}

interface HeldChunk {
  data: Buffer;
  releaseAt: number;
}

/** Parse `host:port` or `[ipv6]:port`. Throws `OptionError` naming `what` if malformed. */
export function parseAddress(address: string, what = 'address'): HostPort {
  if (typeof address !== 'string') throw new OptionError(`${what} must be a "host:port" string`);
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(address);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === undefined || !(port >= 0 && port <= 65_535)) {
    throw new OptionError(`${what} must be "host:port" or "[ipv6]:port" with a port 0-65535, got "${address}"`);
  }
  return { host: m[1], port };
}

/** Format a host and port as `host:port`, bracketing IPv6 addresses. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function checkNumber(name: string, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new OptionError(`${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

function checkBoolean(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new OptionError(`${name} must be a boolean, got ${String(v)}`);
  return v;
}

/** Validate a `set()` argument; returns the faults to apply and the sides they apply to. */
function validateSettings(settings: FaultSettings): { faults: Partial<LinkFaults>; sides: Side[] } {
  if (typeof settings !== 'object' || settings === null) throw new OptionError('faults must be an object');
  const faults: Partial<LinkFaults> = {};
  let sides: Side[] = ['up', 'down'];
  for (const [key, v] of Object.entries(settings)) {
    switch (key) {
      case 'direction':
        if (v === Direction.up) sides = ['up'];
        else if (v === Direction.down) sides = ['down'];
        else if (v !== Direction.both) throw new OptionError(`direction must be 'up', 'down' or 'both', got ${String(v)}`);
        break;
      case 'latencyMs':
      case 'jitterMs':
        faults[key] = checkNumber(key, v, 0, FAULT_PROXY_LIMITS.delayMsMax, false);
        break;
      case 'bandwidthBytesPerS': {
        const n = checkNumber(key, v, 0, Number.MAX_SAFE_INTEGER, false);
        if (n !== 0 && n < FAULT_PROXY_LIMITS.bandwidthMin) {
          throw new OptionError(`bandwidthBytesPerS must be 0 (unlimited) or at least ${FAULT_PROXY_LIMITS.bandwidthMin}, got ${n}`);
        }
        faults[key] = n;
        break;
      }
      case 'resetAfterBytes':
        faults[key] = checkNumber(key, v, 0, Number.MAX_SAFE_INTEGER, true);
        break;
      case 'stall':
      case 'blackhole':
        faults[key] = checkBoolean(key, v);
        break;
      default:
        throw new OptionError(`unknown fault "${key}" (known: direction, ${faultKeys.join(', ')})`, ErrorCode.unknownOption);
    }
  }
  return { faults, sides };
}

function describeFaults(f: Readonly<LinkFaults>): string {
  const parts = faultKeys.filter((k) => f[k] !== DEFAULT_LINK_FAULTS[k]).map((k) => `${k}=${String(f[k])}`);
  return parts.length === 0 ? 'none' : parts.join(' ');
}

function clamp01(x: number): number {
  return x >= 0 ? (x < 1 ? x : 1) : 0; // NaN → 0
}

/** Bytes a bandwidth slice carries: SLICE_MS worth, at least 1, at most one read. */
function sliceBytes(bytesPerS: number): number {
  return Math.min(READ_CHUNK_MAX, Math.max(1, Math.floor((bytesPerS * SLICE_MS) / 1000)));
}

/** One direction of one connection: a queue of held chunks, a timer, and backpressure. */
class Pipe {
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
class Link {
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

function zeroCounters(): Counters {
  return { forwarded: 0, dropped: 0, held: 0, heldPeak: 0, pauses: 0 };
}

// --- the proxy -----------------------------------------------------------------------

/**
 * A TCP proxy from one listening address to one target, with per-direction faults
 * that can be changed at any time. Start it with {@link FaultProxy.start}; always
 * {@link FaultProxy.close} it.
 *
 * @example
 * ```ts
 * const proxy = await FaultProxy.start({ listen: '127.0.0.1:0', target: '127.0.0.1:7001' });
 * proxy.set({ latencyMs: 50, jitterMs: 20 });            // both directions
 * proxy.set({ stall: true, direction: 'down' });          // hold replies
 * proxy.reset();                                          // RST every connection now
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  private readonly links = new Set<Link>();
  private readonly faultsBySide: Record<Side, LinkFaults> = {
    up: { ...DEFAULT_LINK_FAULTS },
    down: { ...DEFAULT_LINK_FAULTS },
  };
  private readonly countersBySide: Record<Side, Counters> = { up: zeroCounters(), down: zeroCounters() };
  private accepted = 0;
  private resets = 0;
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private readonly ctx: PipeContext;

  private constructor(
    private readonly server: Server,
    private readonly targetAddress: HostPort,
    private readonly log: (line: string) => void,
    rng: () => number,
    heldBytesMax: number,
    private readonly connectTimeoutMs: number,
  ) {
    const faults = this.faultsBySide;
    const counters = this.countersBySide;
    this.ctx = {
      faults: (side) => faults[side],
      counters: (side) => counters[side],
      rng,
      heldBytesMax,
    };
  }

  /**
   * Listen on `opts.listen` and pipe every accepted connection to `opts.target`.
   * Resolves once listening; rejects with `OptionError` for bad options, or with the
   * listen error (for example `EADDRINUSE`).
   */
  static async start(opts: FaultProxyOptions): Promise<FaultProxy> {
    if (typeof opts !== 'object' || opts === null) throw new OptionError('FaultProxy options must be an object');
    for (const key of Object.keys(opts)) {
      if (!(optionKeys as readonly string[]).includes(key)) {
        throw new OptionError(`unknown option "${key}" (known: ${optionKeys.join(', ')})`, ErrorCode.unknownOption);
      }
    }
    const listen = parseAddress(opts.listen, 'listen');
    const target = parseAddress(opts.target, 'target');
    if (target.port === 0) throw new OptionError(`target port must be 1-65535, got "${opts.target}"`);
    if (opts.onLog !== undefined && typeof opts.onLog !== 'function') throw new OptionError('onLog must be a function');
    if (opts.rng !== undefined && typeof opts.rng !== 'function') throw new OptionError('rng must be a function');
    const heldBytesMax =
      opts.heldBytesMax === undefined
        ? DEFAULT_HELD_BYTES_MAX
        : checkNumber('heldBytesMax', opts.heldBytesMax, FAULT_PROXY_LIMITS.heldBytesMin, Number.MAX_SAFE_INTEGER, true);
    const connectTimeoutMs =
      opts.connectTimeoutMs === undefined
        ? DEFAULT_CONNECT_TIMEOUT_MS
        : checkNumber('connectTimeoutMs', opts.connectTimeoutMs, 1, FAULT_PROXY_LIMITS.connectTimeoutMsMax, true);
    const onLog = opts.onLog;
    const log = (line: string): void => {
      if (onLog === undefined) return;
      try {
        onLog(`fault-proxy ${line}`);
      } catch {
        // a failing logger must not break the proxy
      }
    };

    const server = net.createServer({ allowHalfOpen: true });
    const proxy = new FaultProxy(server, target, log, opts.rng ?? Math.random, heldBytesMax, connectTimeoutMs);
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: listen.host, port: listen.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => log(`server error: ${err.message}`));
    log(`listening on ${proxy.address} → ${formatAddress(target.host, target.port)}`);
    return proxy;
  }

  /** The address the proxy actually listens on, `host:port` (IPv6 in brackets). */
  get address(): string {
    const a = this.server.address() as AddressInfo | null;
    if (a === null) return '';
    return formatAddress(a.address, a.port);
  }

  /** The address every connection is piped to, `host:port`. */
  get target(): string {
    return formatAddress(this.targetAddress.host, this.targetAddress.port);
  }

  /**
   * Change faults of one or both directions (default both) of every connection, open
   * now or accepted later. Unnamed faults keep their values. Takes effect at once: a
   * lifted stall releases held bytes, a blackhole drops held bytes, a new
   * `resetAfterBytes` starts counting now. Throws `OptionError` on a bad value (and then
   * changes nothing), `ClosedError` after `close()`.
   */
  set(settings: FaultSettings): void {
    if (this.closing !== undefined) throw new ClosedError('FaultProxy is closed');
    const { faults, sides } = validateSettings(settings);
    for (const side of sides) {
      Object.assign(this.faultsBySide[side], faults);
      if (faults.resetAfterBytes !== undefined) {
        for (const link of this.links) link.pipe(side).limitBase = link.pipe(side).forwarded;
      }
      this.log(`${side}: ${describeFaults(this.faultsBySide[side])}`);
    }
    for (const link of this.links) for (const side of sides) link.pipe(side).pump();
  }

  /** Restore the defaults (no faults) of one or both directions (default both). */
  clear(direction: Direction = Direction.both): void {
    this.set({ ...DEFAULT_LINK_FAULTS, direction });
  }

  /** The faults in force now, per direction (copies). */
  faults(): { up: LinkFaults; down: LinkFaults } {
    return { up: { ...this.faultsBySide.up }, down: { ...this.faultsBySide.down } };
  }

  /** Reset every open connection now (TCP RST on both sockets). Returns how many. */
  reset(): number {
    const links = [...this.links];
    for (const link of links) {
      this.resets += 1;
      link.teardown('reset()', true);
    }
    return links.length;
  }

  /** Bytes held right now per direction, summed over open connections. */
  heldBytes(): { up: number; down: number } {
    return { up: this.countersBySide.up.held, down: this.countersBySide.down.held };
  }

  /** Counters since start; see {@link FaultProxyStats}. */
  stats(): FaultProxyStats {
    return {
      accepted: this.accepted,
      open: this.links.size,
      resets: this.resets,
      up: { ...this.countersBySide.up },
      down: { ...this.countersBySide.down },
    };
  }

  /**
   * Stop listening, destroy every connection's sockets and clear every timer.
   * Idempotent; resolves once the listening socket is closed.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        for (const link of [...this.links]) link.teardown('proxy closed', false);
        this.log('closed');
      });
    }
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.accepted += 1;
    const id = this.nextId++;
    const link = new Link(id, socket, this.targetAddress, this.connectTimeoutMs, this.ctx, {
      log: this.log,
      gone: (l) => this.links.delete(l),
      resetByLimit: () => {
        this.resets += 1;
      },
    });
    this.links.add(link);
    this.log(`#${id} accepted from ${formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0)}`);
  }
}
