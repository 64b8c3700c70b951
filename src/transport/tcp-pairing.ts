/**
 * The one-connection rule of the TCP transport: which open connection serves each
 * peer, and what becomes of the others.
 *
 * Intuition: one connection per pair, used both ways. When both endpoints dial each
 * other at once, each side ends up with two open connections; both apply the same rule
 * and keep the one dialed by the endpoint whose advertised address sorts lower (by
 * UTF-16 code units, `<`); if both were dialed by the same endpoint (it restarted), the
 * newer one. The rule uses only addresses both sides learned in the handshakes, so both
 * pick the same connection. The loser is half-closed (`end()`), not destroyed: its peer
 * reads until our FIN and we read until theirs, so frames already written to it still
 * arrive. Frames not yet written are queued per *peer*, not per connection, so they
 * simply go out on the kept one. An endpoint that accepts a connection from a higher
 * address dials back, so a pair always ends on the lower one's dial, whoever spoke
 * first: the path between two endpoints is predictable (a proxy in front of an
 * endpoint carries its links to every lower address); a dial-back that fails (a
 * one-way NAT) leaves the accepted connection in service.
 *
 * Dialing itself is `tcp-dial.ts`'s business: the pairing asks for the dial-back, and
 * for writes, through `PairingHost`.
 */
import { isDialable } from './address.js';
import { ConnState, type Conn } from './tcp-conn.js';
import type { TransportLogLevel } from './tcp-options.js';
import type { Peer, PeerTable } from './tcp-peer.js';

/** What the pairing asks of the transport it serves. */
export interface PairingHost {
  /** Our advertised address: one of the two the rule compares. */
  readonly address: string;
  /** True once the transport closed: nothing more is scheduled. */
  isClosed(): boolean;
  /** Schedules a write of `peer`'s queue (it has frames, and perhaps a connection now). */
  markDirty(peer: Peer<Conn>): void;
  /** Dials `peer` now (the dial-back to a higher address). */
  dial(peer: Peer<Conn>): void;
  /** Logs one line (the transport's `onLog`). */
  log(line: string, level: TransportLogLevel): void;
}

/** The one-connection rule over the peers of one transport (see the module comment). */
export class Pairing {
  /**
   * @param host - The transport.
   * @param peers - Its peer records.
   * @param lingerMs - How long a retired connection may take to close before it is
   *   destroyed (the transport's `handshakeTimeoutMs`).
   */
  constructor(
    private readonly host: PairingHost,
    private readonly peers: PeerTable<Conn>,
    private readonly lingerMs: number,
  ) {}

  /** The handshake completed on `conn`: make it the peer's connection, or resolve a duplicate. */
  opened(conn: Conn, remote: string, key: string): void {
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
      if (!conn.dialed && this.host.address < remote && peer.dialing === null && isDialable(key)) this.host.dial(peer);
    } else {
      const keep = this.preferred(current, conn);
      const lose = keep === current ? conn : current;
      peer.conn = keep;
      this.host.log(`two connections with ${key}: keeping the one dialed by ${this.dialer(keep)}, closing the one dialed by ${this.dialer(lose)}`, 'debug');
      this.retire(lose);
    }
    if (peer.queue.length > 0) this.host.markDirty(peer);
  }

  /**
   * Stops writing on `conn` and half-closes it: the peer still reads what we wrote,
   * and we still read until its FIN; it is destroyed if that takes too long.
   */
  retire(conn: Conn): void {
    this.detach(conn);
    if (conn.state === ConnState.closed) return;
    conn.state = ConnState.closing;
    conn.socket.end();
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.socket.destroy();
    }, this.lingerMs);
  }

  /** Takes `conn` out of its peer's service; queued frames wait for (or dial) another. */
  detach(conn: Conn): void {
    const peer = conn.peer;
    if (peer === null || peer.conn !== conn) return;
    peer.conn = null;
    if (peer.queue.length > 0 && !this.host.isClosed()) this.host.markDirty(peer);
  }

  /** The advertised address of the endpoint that dialed `conn` (known on both sides). */
  private dialer(conn: Conn): string {
    return conn.dialed ? this.host.address : conn.remote!;
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
}
