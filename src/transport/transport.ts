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
  /** Stop sending and receiving; pending messages may be dropped. */
  close(): Promise<void>;
}
