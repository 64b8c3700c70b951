/**
 * The in-memory transport: one node's handle on a simulated network.
 *
 * Intuition: the protocol core only ever sees a `Transport`, so the simulator gives
 * each simulated node a transport whose `send` hands the message to the network model
 * (`src/sim/network.ts`), which decides its fate (delay, loss, duplication,
 * partition) and later delivers it by calling {@link MemoryTransport.deliver} from a
 * scheduler event. The transport itself keeps no queue and no policy: it is a thin,
 * closable door between one node and the network, so that every fault lives in one
 * place and is drawn from one seeded generator.
 *
 * The transport does not know its network's type: it is given the function that sends
 * for it. That keeps this module free of simulator imports, and lets the network bind
 * each transport to one node incarnation, so a stale transport of a crashed node
 * cannot speak for the node restarted at the same address.
 */
import type { Message } from '../core/types.js';
import type { MessageHandler, RefusedHandler, Transport } from './transport.js';

/**
 * How a {@link MemoryTransport} hands an outgoing message to its network. Called
 * synchronously from `send`; must not throw for faults of the network, and must not
 * deliver synchronously (delivery happens later, from the network's own event).
 */
export type MemorySendFn = (to: string, msg: Message) => void;

/**
 * A {@link Transport} whose wire is a simulated network. Built by the network
 * (`SimNetwork.addNode`), not by users.
 *
 * Guarantees, on top of the `Transport` contract: `send` never delivers synchronously,
 * never throws for a network fault, and does nothing once the transport is closed; a
 * closed transport never calls its handler again.
 */
export class MemoryTransport implements Transport {
  private handler: MessageHandler | null = null;
  private refusedHandler: RefusedHandler | null = null;
  private closedFlag = false;

  /**
   * @param address The node's address on the simulated network (e.g. `n1`).
   * @param sendFn Where outgoing messages go: the network, bound to this node.
   */
  constructor(
    readonly address: string,
    private readonly sendFn: MemorySendFn,
  ) {}

  /** Hand `msg` to the network for `to` (possibly this transport's own address). No-op once closed. */
  send(to: string, msg: Message): void {
    if (this.closedFlag) return;
    this.sendFn(to, msg);
  }

  /** Install the single handler for arriving messages, replacing any previous one. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** Install the single handler for refusals, replacing any previous one. */
  onRefused(handler: RefusedHandler): void {
    this.refusedHandler = handler;
  }

  /** Called by the network: `addr` refused a message of ours (its process is gone). */
  refused(addr: string): void {
    if (!this.closedFlag) this.refusedHandler?.(addr);
  }

  /**
   * Stop sending and receiving. Messages already handed to the network stay in flight;
   * messages arriving here from now on are dropped by the network. Idempotent.
   */
  close(): Promise<void> {
    this.closedFlag = true;
    this.handler = null;
    this.refusedHandler = null;
    return Promise.resolve();
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** True when a handler is installed and the transport is open: a delivery would be received. */
  get canReceive(): boolean {
    return !this.closedFlag && this.handler !== null;
  }

  /**
   * Called by the network to deliver an arriving message: calls the handler
   * synchronously and returns true, or returns false (the message is lost) when the
   * transport is closed or has no handler. Exceptions from the handler propagate: a
   * handler that throws is a bug, and the simulation should stop on it.
   */
  deliver(from: string, msg: Message): boolean {
    const handler = this.handler;
    if (this.closedFlag || handler === null) return false;
    handler(from, msg);
    return true;
  }
}
