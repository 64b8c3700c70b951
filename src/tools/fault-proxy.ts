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
 * Parts: `fault-settings.ts` (the faults, options, limits and their validation) and
 * `fault-pipe.ts` (the queues, timers and sockets of each connection); this file holds
 * the proxy that accepts connections and applies settings to them.
 *
 * This is a test tool, not the protocol core, so it reads the real clock
 * (`performance.now()`) and, by default, `Math.random` for jitter.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { ClosedError } from '../errors.js';
import { Link, zeroCounters, type Counters, type PipeContext } from './fault-pipe.js';
import {
  DEFAULT_LINK_FAULTS,
  Direction,
  describeFaults,
  formatAddress,
  resolveProxyOptions,
  validateSettings,
  type FaultProxyOptions,
  type FaultProxyStats,
  type FaultSettings,
  type HostPort,
  type LinkFaults,
  type Side,
} from './fault-settings.js';

// The names this module exported before its parts moved to files of their own.
export { DEFAULT_LINK_FAULTS, Direction, FAULT_PROXY_LIMITS, formatAddress, parseAddress } from './fault-settings.js';
export type { DirectionStats, FaultProxyOptions, FaultProxyStats, FaultSettings, HostPort, LinkFaults } from './fault-settings.js';

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
    const { listen, target, onLog, rng, heldBytesMax, connectTimeoutMs } = resolveProxyOptions(opts);
    const log = (line: string): void => {
      if (onLog === undefined) return;
      try {
        onLog(`fault-proxy ${line}`);
      } catch {
        // a failing logger must not break the proxy
      }
    };

    const server = net.createServer({ allowHalfOpen: true });
    const proxy = new FaultProxy(server, target, log, rng, heldBytesMax, connectTimeoutMs);
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
