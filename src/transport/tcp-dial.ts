/**
 * Dialing for the TCP transport: a peer that has frames queued and no connection is
 * dialed, and a dial that fails backs off before the next.
 *
 * Intuition: a dead peer must cost little, and a peer that comes back must be found
 * again. So a failed dial drops that peer's queued frames (a dead peer cannot pin
 * memory, and no stale burst follows a long outage) and sets an exponential backoff
 * with jitter; sends during the backoff queue (bounded) and a timer dials when it
 * ends. The backoff is reset only once a *data* frame arrives from the peer
 * (`tcp-conn.ts`), so a peer that accepts and then immediately closes us still backs
 * off. What a dialed connection does once connected (its handshake, its reading) is
 * the transport's business (`tcp.ts`): the dialer asks it through `DialHost`.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { parseHostPort } from './address.js';
import { HandshakeRole, type HandshakeMachine } from './handshake.js';
import { Conn, ConnState, certificateId } from './tcp-conn.js';
import { errorText, type ResolvedOptions, type TransportLogLevel } from './tcp-options.js';
import { clearQueue, type Peer, type PeerTable } from './tcp-peer.js';

/** The options the dialer reads. */
export type DialOptions = Pick<ResolvedOptions, 'tls' | 'tlsIdFrom' | 'connectTimeoutMs' | 'reconnectMinMs' | 'reconnectMaxMs'>;

/** The counters the dialer updates (the transport's, shared). */
export interface DialCounters {
  framesDropped: number;
}

/** What the dialer asks of the transport it serves. */
export interface DialHost {
  /** The counters to update. */
  readonly counters: DialCounters;
  /** True once the transport closed: a backoff that ends then dials nothing. */
  isClosed(): boolean;
  /** Writes `peer`'s queue on its connection, or dials it (when a backoff ends). */
  flushPeer(peer: Peer<Conn>): void;
  /** A connection's handshake, with our network, address and key. */
  handshakeMachine(role: HandshakeRole, peer: string): HandshakeMachine;
  /** Takes a new connection into the transport's care: tracked, its socket wired. */
  adopt(conn: Conn): void;
  /** The socket connected: arm the handshake timer and write our first handshake frame. */
  greet(conn: Conn): void;
  /** Tells the transport's `onRefused` handler that `addr` refused a dial. */
  refused(addr: string): void;
  /** Logs one line (the transport's `onLog`). */
  log(line: string, level: TransportLogLevel): void;
}

/** Dials the peers of one transport, with backoff (see the module comment). */
export class Dialer {
  constructor(
    private readonly host: DialHost,
    private readonly peers: PeerTable<Conn>,
    private readonly o: DialOptions,
  ) {}

  /** Dials `peer` unless it has a connection or a dial, now or when its backoff ends. */
  ensure(peer: Peer<Conn>): void {
    if (peer.dialing !== null || peer.retryTimer !== null || peer.conn !== null) return;
    const wait = peer.retryAt - performance.now();
    if (wait > 0) {
      peer.retryTimer = setTimeout(() => {
        peer.retryTimer = null;
        if (!this.host.isClosed() && this.peers.get(peer.key) === peer) this.host.flushPeer(peer);
      }, Math.ceil(wait));
      return;
    }
    this.dial(peer);
  }

  /** Dials `peer` now: a connection that becomes `peer.dialing` until its handshake completes. */
  dial(peer: Peer<Conn>): void {
    const { host, port } = parseHostPort(peer.key); // validated when the peer was created
    let socket: net.Socket;
    try {
      socket =
        this.o.tls === null
          ? net.connect({ host, port, allowHalfOpen: false })
          : tls.connect({ host, port, ...this.o.tls, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    } catch (e) {
      // Node rejects some inputs synchronously; treat it like any failed dial.
      const delay = this.failed(peer);
      this.host.counters.framesDropped += clearQueue(peer);
      this.host.log(`dial ${peer.key} failed: ${errorText(e)}; next attempt in ${delay} ms or later`, 'debug');
      return;
    }
    const conn = new Conn(socket, true, peer.key, peer.key, this.host.handshakeMachine(HandshakeRole.dialer, peer.key));
    peer.dialing = conn;
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.error = `connect timed out after ${this.o.connectTimeoutMs} ms`;
      socket.destroy();
    }, this.o.connectTimeoutMs);
    socket.once(this.o.tls === null ? 'connect' : 'secureConnect', () => {
      if (conn.state !== ConnState.connecting) return;
      conn.certId = certificateId(this.o, socket);
      conn.state = ConnState.handshake;
      this.host.greet(conn);
    });
    this.host.adopt(conn);
  }

  /**
   * A connection we dialed closed (and left its peer's service). If it was the peer's
   * dial, never completed: back off, drop what waited for it, and return true (the
   * failed dial is logged, not the close). A dialed connection that closes before the
   * peer sent a single message also counts as a failed dial (a message resets the
   * count), so a peer that accepts and drops us at once is redialed with backoff, not
   * in a loop.
   */
  closed(conn: Conn, reason: string): boolean {
    const peer = this.peers.get(conn.dialKey!);
    if (peer !== undefined && peer.dialing === conn) {
      // Drop what waited for it unless another connection (the peer's own dial) can carry it.
      peer.dialing = null;
      const delay = this.failed(peer);
      let dropped = '';
      if (peer.conn === null && peer.queue.length > 0) {
        this.host.counters.framesDropped += peer.queuedFrames;
        dropped = `; dropped ${clearQueue(peer)} queued frames`;
      }
      peer.problem = { kind: conn.handshakeRefused ? 'refused' : 'unreachable', reason };
      // A refused handshake (another secret, certificate or network) is a configuration error to see.
      this.host.log(`dial ${peer.key} failed: ${reason}${dropped}; next attempt in ${delay} ms or later`, conn.handshakeRefused ? 'warn' : 'debug');
      if (conn.refused) this.host.refused(peer.key);
      return true;
    }
    if (peer !== undefined && conn.peer === peer && conn.messages === 0) {
      this.failed(peer);
      peer.problem = { kind: conn.handshakeRefused ? 'refused' : 'unreachable', reason };
    }
    return false;
  }

  /**
   * Records a failed dial (or a dialed connection closed before the peer said
   * anything) and sets the backoff; returns the delay.
   */
  private failed(peer: Peer<Conn>): number {
    peer.failures++;
    const base = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.min(peer.failures - 1, 30));
    // Jitter in the upper half, so endpoints that lost a peer together do not redial in lockstep.
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    peer.retryAt = performance.now() + delay;
    return delay;
  }
}
