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
 * This file keeps the socket machine: dialing with backoff, accepting, the handshake's
 * effects, and the one-connection rule. The rest lives beside it, each part with its
 * own reasons: `frame-parser.ts` (stream framing, bounded before buffering),
 * `handshake.ts` (the handshake codec and its sans-I/O `HandshakeMachine`),
 * `tcp-conn.ts` (a connection, and reading frames and records into messages),
 * `tcp-peer.ts` (per-peer queues, batching, backpressure), `tcp-server.ts` (the
 * listening socket and TLS admission), `tcp-options.ts` and `address.ts`.
 *
 * ## Design, and why
 *
 * - **Handshake.** The first frame in each direction is a small binary hello (format
 *   in `handshake.ts`). It names the network, so two clusters on one host cannot talk by mistake,
 *   and it carries the sender's *advertised* address, which becomes `from` of every
 *   message on that connection — the address the handler can answer to, even when the
 *   socket's remote port is ephemeral or the peer sits behind NAT.
 * - **One connection per pair, used both ways.** When both endpoints dial each other at
 *   once, each side ends up with two open connections; both apply the same rule and
 *   keep the one dialed by the endpoint whose advertised address sorts lower (by UTF-16
 *   code units, `<`); if both were dialed by the same endpoint (it restarted), the newer
 *   one. The rule uses only addresses both sides learned in the handshakes, so both
 *   pick the same connection. The loser is half-closed (`end()`), not destroyed: its
 *   peer reads until our FIN and we read until theirs, so frames already written to it
 *   still arrive. Frames not yet written are queued per *peer*, not per connection,
 *   so they simply go out on the kept one. An endpoint that accepts a connection from
 *   a higher address dials back, so a pair always ends on the lower one's dial, whoever
 *   spoke first: the path between two endpoints is predictable (a proxy in front of an
 *   endpoint carries its links to every lower address); a dial-back that fails (a
 *   one-way NAT) leaves the accepted connection in service.
 * - **Batching and backpressure** (`tcp-peer.ts`): what one input caused leaves in one
 *   write per peer, at the end of the sending code; a peer's unsent bytes are bounded
 *   by `peerQueueBytesMax`, past which its frames are dropped and counted. Sockets
 *   have `noDelay` set: the batching is ours, Nagle's delay would only add latency.
 * - **Reconnection.** A send to a peer without a connection dials it. A failed dial
 *   drops that peer's queued frames (so a dead peer cannot pin memory, and no stale
 *   burst follows a long outage) and sets an exponential backoff with jitter before the
 *   next attempt; sends during the backoff queue (bounded) and a timer dials when it
 *   ends. The backoff is reset only once a *data* frame arrives from the peer, so a
 *   peer that accepts and then immediately closes us still backs off.
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
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Message } from '../core/types.js';
import { assertNever } from '../errors.js';
import { isDialable, parseHostPort, socketLabel } from './address.js';
import { HandshakeMachine, HandshakeRole, type HandshakeStep } from './handshake.js';
import { Opener, Sealer } from './secure.js';
import { Conn, ConnState, Inbound, certificateId } from './tcp-conn.js';
import { errorText, resolveOptions, type ResolvedOptions, type TcpTransportOptions, type TransportLogLevel } from './tcp-options.js';
import { Outbox, PeerTable, clearQueue, peerBuffered, type OutboxHost, type Peer } from './tcp-peer.js';
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
    const host: OutboxHost<Conn> = {
      counters: this.counters,
      isClosed: () => this.closed,
      flushPeer: (peer) => this.flushPeer(peer),
      log: (line, level) => this.log(line, level),
    };
    this.outbox = new Outbox(host, { frameBytesMax: o.frameBytesMax, peerQueueBytesMax: o.peerQueueBytesMax, sealed: o.key !== null });
    this.inbound = new Inbound(
      {
        counters: this.counters,
        isClosed: () => this.closed,
        handler: () => this.handler,
        onHandshake: (conn, frame) => this.onHandshake(conn, frame),
        bad: (conn, why) => this.bad(conn, why),
        log: (line, level) => this.log(line, level),
      },
      o.frameBytesMax,
    );
    serveConnections(server, o, {
      accept: (socket) => this.onAccept(socket),
      refuse: (line) => {
        this.counters.refused++;
        this.log(line, 'warn');
      },
      log: (line, level) => this.log(line, level),
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
      this.detach(conn);
      conn = null;
    }
    if (conn === null) {
      this.ensureDial(peer);
      return;
    }
    this.outbox.write(peer, conn);
  }

  // -- dialing ------------------------------------------------------------------

  private ensureDial(peer: Peer<Conn>): void {
    if (peer.dialing !== null || peer.retryTimer !== null || peer.conn !== null) return;
    const wait = peer.retryAt - performance.now();
    if (wait > 0) {
      peer.retryTimer = setTimeout(() => {
        peer.retryTimer = null;
        if (!this.closed && this.peers.get(peer.key) === peer) this.flushPeer(peer);
      }, Math.ceil(wait));
      return;
    }
    this.dial(peer);
  }

  private dial(peer: Peer<Conn>): void {
    const { host, port } = parseHostPort(peer.key); // validated when the peer was created
    let socket: net.Socket;
    try {
      socket =
        this.o.tls === null
          ? net.connect({ host, port, allowHalfOpen: false })
          : tls.connect({ host, port, ...this.o.tls, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    } catch (e) {
      // Node rejects some inputs synchronously; treat it like any failed dial.
      const delay = this.dialFailed(peer);
      this.counters.framesDropped += clearQueue(peer);
      this.log(`dial ${peer.key} failed: ${errorText(e)}; next attempt in ${delay} ms or later`, 'debug');
      return;
    }
    const conn = new Conn(socket, true, peer.key, peer.key, this.handshakeMachine(HandshakeRole.dialer, peer.key));
    peer.dialing = conn;
    this.conns.add(conn);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.error = `connect timed out after ${this.o.connectTimeoutMs} ms`;
      socket.destroy();
    }, this.o.connectTimeoutMs);
    socket.once(this.o.tls === null ? 'connect' : 'secureConnect', () => {
      if (conn.state !== ConnState.connecting) return;
      conn.certId = certificateId(this.o, socket);
      conn.state = ConnState.handshake;
      this.armHandshakeTimer(conn);
      this.writeRaw(conn, conn.handshake.start());
    });
    this.wire(conn);
  }

  /**
   * Records a failed dial (or a dialed connection closed before the peer said
   * anything) and sets the backoff; returns the delay.
   */
  private dialFailed(peer: Peer<Conn>): number {
    peer.failures++;
    const base = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.min(peer.failures - 1, 30));
    // Jitter in the upper half, so endpoints that lost a peer together do not redial in lockstep.
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    peer.retryAt = performance.now() + delay;
    return delay;
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
        this.opened(conn, step.remote, conn.dialKey ?? step.remote);
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
        this.retire(conn);
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

  /** The handshake completed on `conn`: make it the peer's connection, or resolve a duplicate. */
  private opened(conn: Conn, remote: string, key: string): void {
    conn.state = ConnState.open;
    conn.remote = remote;
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    const peer = this.peers.get(key) ?? this.peers.add(key);
    conn.peer = peer;
    if (peer.dialing === conn) peer.dialing = null;
    if (peer.retryTimer !== null) clearTimeout(peer.retryTimer);
    peer.retryTimer = null;
    const current = peer.conn;
    if (current === null) {
      peer.conn = conn;
      // The rule keeps our dial when our address sorts lower: dial back now, so the pair
      // settles on the same connection whoever spoke first, and traffic between two
      // endpoints always takes the same path (through a proxy or NAT in front of the
      // higher one). Until it opens, and for good if it cannot (a one-way NAT), the
      // accepted connection carries everything.
      if (!conn.dialed && this.address < remote && peer.dialing === null && isDialable(key)) this.dial(peer);
    } else {
      const keep = this.preferred(current, conn);
      const lose = keep === current ? conn : current;
      peer.conn = keep;
      this.log(`two connections with ${key}: keeping the one dialed by ${this.dialer(keep)}, closing the one dialed by ${this.dialer(lose)}`, 'debug');
      this.retire(lose);
    }
    if (peer.queue.length > 0) this.outbox.markDirty(peer);
  }

  /** The advertised address of the endpoint that dialed `conn` (known on both sides). */
  private dialer(conn: Conn): string {
    return conn.dialed ? this.address : conn.remote!;
  }

  /**
   * The one-connection rule: of two open connections with one peer, keep the one
   * dialed by the endpoint whose advertised address sorts lower; if one endpoint
   * dialed both, the newer (`b`), since the older likely belongs to its previous run.
   * Both sides see the same two dialer addresses, so both keep the same connection.
   */
  private preferred(a: Conn, b: Conn): Conn {
    const da = this.dialer(a);
    const db = this.dialer(b);
    if (da === db) return b;
    return da < db ? a : b;
  }

  /**
   * Stops writing on `conn` and half-closes it: the peer still reads what we wrote,
   * and we still read until its FIN; it is destroyed if that takes too long.
   */
  private retire(conn: Conn): void {
    this.detach(conn);
    if (conn.state === ConnState.closed) return;
    conn.state = ConnState.closing;
    conn.socket.end();
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.socket.destroy();
    }, this.o.handshakeTimeoutMs);
  }

  /** Takes `conn` out of its peer's service; queued frames wait for (or dial) another. */
  private detach(conn: Conn): void {
    const peer = conn.peer;
    if (peer === null || peer.conn !== conn) return;
    peer.conn = null;
    if (peer.queue.length > 0 && !this.closed) this.outbox.markDirty(peer);
  }

  /** The peer sent FIN: no more writes on this connection (Node ends our side too). */
  private onEnd(conn: Conn): void {
    if (this.closed || conn.state === ConnState.closed) return;
    if (conn.state === ConnState.open) conn.state = ConnState.closing;
    this.detach(conn);
  }

  private onClose(conn: Conn): void {
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    conn.state = ConnState.closed;
    if (this.closed || !this.conns.delete(conn)) return;
    this.detach(conn);
    const reason = conn.error ?? 'closed by the peer';
    if (conn.dialed) {
      const peer = this.peers.get(conn.dialKey!);
      if (peer !== undefined && peer.dialing === conn) {
        // The dial never completed: back off, and drop what waited for it unless
        // another connection (the peer's own dial) can carry it.
        peer.dialing = null;
        const delay = this.dialFailed(peer);
        let dropped = '';
        if (peer.conn === null && peer.queue.length > 0) {
          this.counters.framesDropped += peer.queuedFrames;
          dropped = `; dropped ${clearQueue(peer)} queued frames`;
        }
        peer.problem = { kind: conn.handshakeRefused ? 'refused' : 'unreachable', reason };
        // A refused handshake (another secret, certificate or network) is a configuration error to see.
        this.log(`dial ${peer.key} failed: ${reason}${dropped}; next attempt in ${delay} ms or later`, conn.handshakeRefused ? 'warn' : 'debug');
        if (conn.refused) this.refusedHandler?.(peer.key);
        return;
      }
      // A dialed connection that closes before the peer sent a single message counts
      // as a failed dial (a message resets the count), so a peer that accepts and
      // drops us at once is redialed with backoff, not in a loop.
      if (peer !== undefined && conn.peer === peer && conn.messages === 0) {
        this.dialFailed(peer);
        peer.problem = { kind: conn.handshakeRefused ? 'refused' : 'unreachable', reason };
      }
    }
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
