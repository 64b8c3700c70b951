/**
 * The TCP transport: endpoints in separate processes (or machines) reach each other
 * at `host:port` addresses over one TCP connection per pair.
 *
 * Intuition: the protocol core retransmits everything that matters, so this transport
 * promises little — messages on one connection arrive in order, a connection break
 * may lose whatever was in flight — and spends its care on the two things the core
 * cannot do for it: surviving hostile or broken input without throwing, and keeping
 * memory bounded whatever the peers do.
 *
 * ## Parts
 *
 * This file keeps the socket machine: sending, accepting, wiring sockets, and carrying
 * out the handshake's steps. The rest lives beside it, each part with its own reasons:
 * `tcp-dial.ts` (dialing with backoff), `tcp-pairing.ts` (the one-connection rule),
 * `frame-parser.ts` (stream framing, bounded before buffering), `handshake.ts` (the
 * handshake codec and its sans-I/O `HandshakeMachine`), `tcp-conn.ts` (a connection,
 * and reading frames and records into messages), `tcp-peer.ts` (per-peer queues,
 * batching, backpressure), `tcp-server.ts` (the listening socket and TLS admission),
 * `tcp-options.ts` and `address.ts`.
 *
 * ## Design, and why
 *
 * - **Handshake.** The first frame in each direction is a small binary hello (format
 *   in `handshake.ts`). It names the network, so two clusters on one host cannot talk by mistake,
 *   and it carries the sender's *advertised* address, which becomes `from` of every
 *   message on that connection — the address the handler can answer to, even when the
 *   socket's remote port is ephemeral or the peer sits behind NAT.
 * - **One connection per pair, used both ways** (`tcp-pairing.ts`). When both
 *   endpoints dial each other at once, both keep the connection dialed by the one whose
 *   advertised address sorts lower (by UTF-16 code units, `<`), or the newer if one
 *   endpoint dialed both (it restarted); the other is half-closed, so nothing written
 *   to it is lost. An endpoint that accepts a connection from a higher address dials
 *   back, so a pair always ends on the lower one's dial, whoever spoke first.
 * - **Batching and backpressure** (`tcp-peer.ts`): what one input caused leaves in one
 *   write per peer, at the end of the sending code; a peer's unsent bytes are bounded
 *   by `peerQueueBytesMax`, past which its frames are dropped and counted. Sockets
 *   have `noDelay` set: the batching is ours, Nagle's delay would only add latency.
 * - **Reconnection** (`tcp-dial.ts`). A send to a peer without a connection dials it.
 *   A failed dial drops that peer's queued frames and backs off exponentially, with
 *   jitter; the backoff is reset only once a *data* frame arrives from the peer.
 * - **Self-sends** are queued and delivered from a `setImmediate`, by
 *   reference (no encoding), like the in-memory transport: the handler never runs
 *   inside `send`.
 *
 * - **Who may connect.** The network name alone guards against mistakes, not attacks.
 *   With a network `secret` the handshake authenticates both sides and every later
 *   frame is encrypted (`secure.ts`); with `tls`, TLS 1.3 with mutual certificates
 *   does. Listening beyond loopback requires one of them, or `insecure: true`.
 *   Accepted connections are bounded per remote address (`connectionsPerAddressMax`),
 *   and each one that has not completed its handshake to a 4 KiB frame and
 *   `handshakeTimeoutMs`.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Message } from '../core/types.js';
import { assertNever } from '../errors.js';
import { parseHostPort, socketLabel } from './address.js';
import { HandshakeMachine, HandshakeRole, type HandshakeStep } from './handshake.js';
import { Opener, Sealer } from './secure.js';
import { Conn, ConnState, Inbound, certificateId } from './tcp-conn.js';
import { Dialer } from './tcp-dial.js';
import { errorText, resolveOptions, type ResolvedOptions, type TcpTransportOptions, type TransportLogLevel } from './tcp-options.js';
import { Pairing } from './tcp-pairing.js';
import { Outbox, PeerTable, clearQueue, peerBuffered, type Peer } from './tcp-peer.js';
import { OpenPerAddress, advertisedAddress, bindServer, createServer, serveConnections } from './tcp-server.js';
import type { MessageHandler, PeerProblem, RefusedHandler, Transport, TransportStats } from './transport.js';

// The names this module exported before its parts moved to files of their own.
export { formatHostPort, isLoopback, parseHostPort } from './address.js';
export { HANDSHAKE_VERSION, HandshakeKind } from './handshake.js';
export type { TcpTransportOptions, TransportLogLevel } from './tcp-options.js';

/** Counters of the TCP transport, since it started (the name it had before every transport could keep them). */
export type TcpTransportStats = TransportStats;

/** Keep-alive probes start after this much idle time: finds peers that vanished without a FIN. */
const KEEPALIVE_MS = 10_000;

// ---------------------------------------------------------------------------------
// The transport
// ---------------------------------------------------------------------------------

/**
 * A {@link Transport} over TCP: see the module comment for the design. Create one with
 * {@link TcpTransport.listen}.
 *
 * Guarantees, on top of the `Transport` contract: messages from one endpoint to
 * another arrive in the order sent while one connection carries them (when a
 * connection is replaced — a reconnect, or the duplicate of a simultaneous dial being
 * retired — frames still in flight on the old one may arrive after the first frames on
 * the new one, or be lost with it); `send` never throws for a fault
 * of the network and never calls the handler; bad input from the network is logged,
 * counted and closes its connection, never throws; memory per peer is bounded by
 * `peerQueueBytesMax` (outgoing) and `frameBytesMax` (incoming). `send` may throw
 * `AssertionFailure` for a message the codec cannot encode, which is a bug of the
 * caller.
 *
 * Exceptions thrown by the handler are not caught: they propagate from the socket's
 * event (an uncaught exception, as for any event listener), after the connection they
 * came from is destroyed, since its stream position is lost.
 */
export class TcpTransport implements Transport {
  /** The advertised address: what peers dial, and `from` of our messages at their end. */
  readonly address: string;

  private readonly o: ResolvedOptions;
  private readonly server: net.Server;
  private readonly inbound: Inbound;
  private readonly outbox: Outbox<Conn>;
  private readonly dialer: Dialer;
  private readonly pairing: Pairing;
  private handler: MessageHandler | null = null;
  private refusedHandler: RefusedHandler | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly peers: PeerTable<Conn>;
  private readonly conns = new Set<Conn>();
  private selfQueue: Message[] = [];
  private selfImmediate: NodeJS.Immediate | null = null;
  /** Accepted connections open per remote IP address. */
  private readonly acceptedFrom = new OpenPerAddress();
  private lastLimitLogAt = -Infinity;
  private readonly counters = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    framesDropped: 0,
    badFrames: 0,
    refused: 0,
  };

  private constructor(server: net.Server, o: ResolvedOptions, address: string) {
    this.server = server;
    this.o = o;
    this.address = address;
    this.peers = new PeerTable(o.reconnectMaxMs);
    // The parts, each given what it needs of the transport (none of them sees the class).
    const counters = this.counters;
    const isClosed = (): boolean => this.closed;
    const log = (line: string, level: TransportLogLevel): void => this.log(line, level);
    const flushPeer = (peer: Peer<Conn>): void => this.flushPeer(peer);
    this.outbox = new Outbox({ counters, isClosed, flushPeer, log }, { frameBytesMax: o.frameBytesMax, peerQueueBytesMax: o.peerQueueBytesMax, sealed: o.key !== null });
    this.dialer = new Dialer(
      {
        counters,
        isClosed,
        flushPeer,
        log,
        handshakeMachine: (role, peer) => this.handshakeMachine(role, peer),
        adopt: (conn) => {
          this.conns.add(conn);
          this.wire(conn);
        },
        greet: (conn) => {
          this.armHandshakeTimer(conn);
          this.writeRaw(conn, conn.handshake.start());
        },
        refused: (addr) => this.refusedHandler?.(addr),
      },
      this.peers,
      o,
    );
    const markDirty = (peer: Peer<Conn>): void => this.outbox.markDirty(peer);
    this.pairing = new Pairing({ address, isClosed, markDirty, dial: (peer) => this.dialer.dial(peer), log }, this.peers, o.handshakeTimeoutMs);
    const onHandshake = (conn: Conn, frame: Buffer): boolean => this.onHandshake(conn, frame);
    this.inbound = new Inbound({ counters, isClosed, log, onHandshake, handler: () => this.handler, bad: (conn, why) => this.bad(conn, why) }, o.frameBytesMax);
    serveConnections(server, o, {
      accept: (socket) => this.onAccept(socket),
      refuse: (line) => {
        this.counters.refused++;
        this.log(line, 'warn');
      },
      log,
    });
  }

  /**
   * Binds a listening socket and returns the transport, ready to send and receive.
   *
   * @throws OptionError (as a rejection) for invalid, missing or unknown options.
   * @throws the system error (as a rejection) when the address cannot be bound,
   *   e.g. `EADDRINUSE` or `EADDRNOTAVAIL`.
   */
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const o = resolveOptions(options);
    const server = createServer(o);
    const bound = await bindServer(server, o);
    const address = advertisedAddress(o, bound);
    return new TcpTransport(server, o, address);
  }

  /**
   * Queues `msg` for `to`; it is written at the end of this event-loop turn, together
   * with everything else queued for `to`. To our own address it is delivered to the
   * handler from a later turn. Dropped and counted (never thrown) when `to` is not a
   * valid address, the peer's queue is full, or the frame exceeds `frameBytesMax`.
   * No-op once closed.
   */
  send(to: string, msg: Message): void {
    if (this.closed) return;
    if (to === this.address) {
      this.selfQueue.push(msg);
      if (this.selfImmediate === null) this.selfImmediate = setImmediate(this.deliverSelf);
      return;
    }
    let peer = this.peers.get(to);
    if (peer === undefined) {
      // Checked once per new peer: a dial needs a host and a port other than 0.
      let why: string | null = null;
      try {
        if (parseHostPort(to).port === 0) why = `address ${JSON.stringify(to)} has port 0, which cannot be dialed`;
      } catch (e) {
        why = errorText(e);
      }
      if (why !== null) {
        this.counters.framesDropped++;
        this.log(`dropping a ${msg.t} message: ${why}`, 'warn');
        return;
      }
      peer = this.peers.add(to);
    }
    this.outbox.enqueue(peer, msg);
  }

  /** Installs the single handler for arriving messages, replacing any previous one. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** Told when a dial is refused (ECONNREFUSED): the endpoint that was there is gone. */
  onRefused(handler: RefusedHandler): void {
    this.refusedHandler = handler;
  }

  /**
   * Stops listening, destroys every socket (unsent frames are dropped), clears every
   * timer, and resolves once the server has closed. Idempotent; `send` is a no-op
   * afterwards and the handler is never called again.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.handler = null;
    this.refusedHandler = null;

    if (this.selfImmediate !== null) clearImmediate(this.selfImmediate);
    this.selfImmediate = null;
    this.selfQueue = [];
    this.outbox.clear();
    for (const peer of this.peers.values()) {
      if (peer.retryTimer !== null) clearTimeout(peer.retryTimer);
      peer.retryTimer = null;
      clearQueue(peer);
    }
    this.peers.clear();
    for (const conn of this.conns) {
      if (conn.timer !== null) clearTimeout(conn.timer);
      conn.timer = null;
      conn.state = ConnState.closed;
      conn.socket.destroy();
    }
    this.conns.clear();
    this.closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    return this.closing;
  }

  /** Why the last dial to `to` failed, or null once it sent us a message (see `Transport`). */
  peerProblem(to: string): PeerProblem | null {
    return this.peers.get(to)?.problem ?? null;
  }

  /** A snapshot of the counters. */
  stats(): TcpTransportStats {
    let connections = 0;
    for (const peer of this.peers.values()) if (peer.conn !== null) connections++;
    return { ...this.counters, connections };
  }

  /**
   * Bytes queued for `to` and not yet taken by the kernel: our queue plus the socket's
   * `writableLength`. New frames to `to` are dropped while this is at
   * `peerQueueBytesMax`. 0 for an unknown peer and for our own address.
   */
  bufferedBytes(to: string): number {
    const peer = this.peers.get(to);
    return peer === undefined ? 0 : peerBuffered(peer);
  }

  // -- sending ------------------------------------------------------------------

  /** Self-sends, from a later turn: a chain of them never starves I/O and timers. */
  private readonly deliverSelf = (): void => {
    this.selfImmediate = null;
    const self = this.selfQueue;
    this.selfQueue = [];
    for (const msg of self) {
      const h = this.handler;
      if (this.closed || h === null) break;
      h(this.address, msg);
    }
  };

  private flushPeer(peer: Peer<Conn>): void {
    if (this.closed || peer.queue.length === 0) return;
    let conn = peer.conn;
    if (conn !== null && (conn.socket.destroyed || !conn.socket.writable)) {
      // Broken, its 'close' not yet emitted: writing would only lose the frames.
      this.pairing.detach(conn);
      conn = null;
    }
    if (conn === null) {
      this.dialer.ensure(peer);
      return;
    }
    this.outbox.write(peer, conn);
  }

  // -- connections --------------------------------------------------------------

  private onAccept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? '?';
    const n = this.acceptedFrom.count(ip);
    if (n >= this.o.connectionsPerAddressMax) {
      this.counters.refused++;
      const now = performance.now();
      if (now - this.lastLimitLogAt > 1000) {
        this.lastLimitLogAt = now;
        this.log(`refusing a connection from ${socketLabel(socket)}: ${n} open from ${ip} already (connectionsPerAddressMax)`, 'warn');
      }
      socket.destroy();
      return;
    }
    this.acceptedFrom.hold(ip, socket);
    const label = socketLabel(socket);
    const conn = new Conn(socket, false, null, label, this.handshakeMachine(HandshakeRole.acceptor, label));
    conn.certId = certificateId(this.o, socket);
    this.conns.add(conn);
    this.armHandshakeTimer(conn);
    this.wire(conn);
  }

  /** Socket options and listeners common to dialed and accepted connections. */
  private wire(conn: Conn): void {
    const socket = conn.socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    this.inbound.attach(conn);
    socket.on('error', (e) => {
      conn.error = errorText(e);
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'ECONNREFUSED') conn.refused = true;
      // A certificate refused by either side: the host answered, and said no.
      else if (/SSL|TLS|CERT/.test(code)) conn.handshakeRefused = true;
    });
    socket.on('end', () => this.onEnd(conn));
    socket.on('close', () => this.onClose(conn));
  }

  private armHandshakeTimer(conn: Conn): void {
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.error = `handshake not completed within ${this.o.handshakeTimeoutMs} ms`;
      conn.socket.destroy();
    }, this.o.handshakeTimeoutMs);
  }

  /** A connection's handshake, with our network, address and key. */
  private handshakeMachine(role: HandshakeRole, peer: string): HandshakeMachine {
    return new HandshakeMachine(role, { network: this.o.network, address: this.address, key: this.o.key }, peer);
  }

  private writeRaw(conn: Conn, bytes: Buffer): void {
    conn.socket.write(bytes);
    this.counters.bytesSent += bytes.length;
  }

  /**
   * A handshake frame: the connection's `HandshakeMachine` decides, and this carries
   * out its step (writes, counts, logs, opens or closes).
   */
  private onHandshake(conn: Conn, frame: Buffer): boolean {
    const step: HandshakeStep = conn.handshake.receive(frame);
    if (step.note !== null) this.log(step.note, 'info');
    switch (step.kind) {
      case 'send':
        this.writeRaw(conn, step.frame);
        return true;
      case 'open':
        // The last handshake frame travels in the clear; records are sealed after it.
        if (step.frame !== null) this.writeRaw(conn, step.frame);
        if (step.session !== null) {
          conn.sealer = new Sealer(step.session.sendKey);
          conn.opener = new Opener(step.session.receiveKey);
        }
        this.pairing.opened(conn, step.remote, conn.dialKey ?? step.remote);
        return true;
      case 'bad':
        return this.bad(conn, step.reason);
      case 'fail':
        // Dialer: the close's log line says why, and the backoff counts it as refused.
        this.counters.refused++;
        conn.error = step.error;
        conn.handshakeRefused = true;
        if (step.frame === null) {
          conn.socket.destroy();
          return false;
        }
        this.writeRaw(conn, step.frame);
        conn.discard = true;
        conn.socket.end();
        return false;
      case 'refuse':
        // Acceptor: tell the dialer why (half-close, ignore what else it sends), or drop it.
        this.counters.refused++;
        this.log(step.line, 'warn');
        if (step.frame === null) {
          conn.discard = true;
          conn.socket.destroy();
          return false;
        }
        this.writeRaw(conn, step.frame);
        this.pairing.retire(conn);
        conn.discard = true;
        return false;
      default:
        return assertNever(step);
    }
  }

  /** Closes a connection for bad input. */
  private bad(conn: Conn, why: string): false {
    this.counters.badFrames++;
    this.log(`closing the connection with ${conn.remote ?? conn.label}: ${why}`, 'warn');
    conn.discard = true;
    conn.socket.destroy();
    return false;
  }

  /** The peer sent FIN: no more writes on this connection (Node ends our side too). */
  private onEnd(conn: Conn): void {
    if (this.closed || conn.state === ConnState.closed) return;
    if (conn.state === ConnState.open) conn.state = ConnState.closing;
    this.pairing.detach(conn);
  }

  private onClose(conn: Conn): void {
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    conn.state = ConnState.closed;
    if (this.closed || !this.conns.delete(conn)) return;
    this.pairing.detach(conn);
    const reason = conn.error ?? 'closed by the peer';
    if (conn.dialed && this.dialer.closed(conn, reason)) return;
    this.log(`connection with ${conn.remote ?? conn.label} closed: ${reason}`, 'debug');
    if (conn.peer !== null) this.peers.forgetIfIdle(conn.peer);
  }

  private log(line: string, level: TransportLogLevel): void {
    const onLog = this.o.onLog;
    if (onLog === null) return;
    try {
      onLog(`tcp ${this.address}: ${line}`, level);
    } catch {
      // A logger that throws must not leave a connection half-updated: ignore it.
    }
  }
}
