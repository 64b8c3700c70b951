/**
 * The contract every transport keeps (in-memory for the simulator, TCP for real
 * processes). The protocol core assumes nothing more of a transport than this: it
 * retransmits what matters, so a transport may lose, duplicate, delay or reorder
 * messages, and the core stays correct.
 */
import type { Message } from '../core/types.js';

/** Receives every message that arrives, with the address it came from. */
export type MessageHandler = (from: string, msg: Message) => void;

/** Told that the endpoint at `addr` actively refused a connection: nothing listens there. */
export type RefusedHandler = (addr: string) => void;

/** Why the last attempt to reach an address failed (see `Transport.peerProblem`). */
export interface PeerProblem {
  /**
   * `refused`: it answered but the handshake was refused, by it or by us (another
   * secret, an untrusted certificate, another network name); `unreachable`: no
   * connection (nothing listens, no route, a timeout).
   */
  readonly kind: 'refused' | 'unreachable';
  /** The reason in words, as logged. */
  readonly reason: string;
}

/**
 * A transport's counters since it started, for the status document and the metrics
 * (see `Transport.stats`). The TCP transport keeps them, as `TcpTransportStats`.
 */
export interface TransportStats {
  /** Message frames written to sockets (handshakes and self-sends excluded). */
  readonly framesSent: number;
  /** Message frames received and decoded (handshakes excluded). */
  readonly framesReceived: number;
  /** Bytes written to sockets: every length prefix, handshake and frame. */
  readonly bytesSent: number;
  /** Bytes read from sockets, everything included. */
  readonly bytesReceived: number;
  /**
   * Frames dropped before reaching a socket: over `peerQueueBytesMax`, over
   * `frameBytesMax`, to an invalid address, or queued for a peer that could not be
   * dialed.
   */
  readonly framesDropped: number;
  /** Open connections in use now: at most one per peer. */
  readonly connections: number;
  /** Connections closed for a bad frame: oversized, undecodable, or a bad handshake. */
  readonly badFrames: number;
  /** Handshakes that ended in a refusal, refused by us or by the peer. */
  readonly refused: number;
}

/**
 * How an endpoint reaches others: best-effort datagrams between addresses. Give your
 * own in `EndpointOptions.world` to run Cohort over something other than TCP.
 */
export interface Transport {
  /** The address other endpoints reach this one at (advertised, `host:port` or a sim name). */
  readonly address: string;
  /**
   * Send `msg` to the endpoint at `to`. Never throws for a fault of the network: an
   * unreachable peer simply does not receive. May be called with `to === address`
   * (a message to itself), which is delivered like any other.
   */
  send(to: string, msg: Message): void;
  /** Install the single handler for arriving messages (replaces any previous one). */
  onMessage(handler: MessageHandler): void;
  /**
   * Install the single handler told when an address refuses us: its host answered that
   * no process listens there (TCP's connection refused), so the endpoint that was there
   * is gone. Silence (a dead host, a partition, a stopped process) is never reported.
   */
  onRefused(handler: RefusedHandler): void;
  /**
   * Optional: why the last attempt to reach `to` failed, or null when it answered since
   * (or was never tried). An endpoint that cannot start says with it what it waited for.
   */
  peerProblem?(to: string): PeerProblem | null;
  /**
   * Optional: the transport's counters since it started. With it (and
   * `bufferedBytes`), the status document and the metrics show the transport's side.
   */
  stats?(): TransportStats;
  /** Optional: bytes queued for `to` and not yet sent (0 for an unknown peer). */
  bufferedBytes?(to: string): number;
  /** Stop sending and receiving; pending messages may be dropped. */
  close(): Promise<void>;
}
