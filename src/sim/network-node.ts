/**
 * The simulated network's nodes: what a test holds of one node (`SimNode`: its
 * transport, its clock, and the controls of its life) and the network's record of one
 * node incarnation, whose transport is bound to the record, not to the address.
 *
 * Intuition: a crash, a pause and a resume are the clock's (`NodeClock`), which holds
 * or drops the node's timers and arriving messages; the record only traces them and
 * keeps the count of messages held for it.
 */
import type { Message } from '../core/types.js';
import { MemoryTransport } from '../transport/memory.js';
import { NodeClock, type Scheduler } from './scheduler.js';

/** A simulated node: its transport and clock, and the controls of its life. */
export interface SimNode {
  /** The node's address on the network, e.g. `n1`. */
  readonly address: string;
  /** 1 for the first node at this address, one more for each restart at it. */
  readonly generation: number;
  /** The node's transport: hand it to the endpoint under test. */
  readonly transport: MemoryTransport;
  /** The node's clock: hand it to the endpoint under test. */
  readonly clock: NodeClock;
  /** False once crashed. A paused node is up. */
  readonly isUp: boolean;
  /** True while paused (SIGSTOP-like). */
  readonly isPaused: boolean;
  /** SIGKILL: timers and held messages are dropped, nothing of the node runs or sends again. Final. */
  crash(): void;
  /** SIGSTOP: timers and arriving messages wait until `resume()`. No effect if crashed or paused. */
  pause(): void;
  /** SIGCONT: what waited is released now, in the order it came due. No effect unless paused. */
  resume(): void;
}

/** What a node record needs of its network (kept off the network's public surface). */
export interface NetworkHooks {
  send(node: NodeRecord, to: string, msg: Message): void;
  traceNode(node: NodeRecord, what: string): void;
}

/** The network's record of one node incarnation. */
export class NodeRecord implements SimNode {
  readonly transport: MemoryTransport;
  readonly clock: NodeClock;
  /** Messages currently held for this node while paused or catching up. */
  heldMessages = 0;

  constructor(
    private readonly net: NetworkHooks,
    readonly address: string,
    readonly generation: number,
    scheduler: Scheduler,
  ) {
    this.clock = new NodeClock(scheduler);
    // The send function is bound to this record, not to the address, so a stale
    // transport of a crashed incarnation keeps being refused after a restart.
    this.transport = new MemoryTransport(address, (to, msg) => net.send(this, to, msg));
  }

  get isUp(): boolean {
    return !this.clock.isCrashed;
  }

  get isPaused(): boolean {
    return this.clock.isPaused;
  }

  crash(): void {
    if (this.clock.isCrashed) return;
    this.net.traceNode(this, 'crash');
    this.clock.crash();
  }

  pause(): void {
    if (this.clock.isCrashed || this.clock.isPaused) return;
    this.net.traceNode(this, 'pause');
    this.clock.pause();
  }

  resume(): void {
    if (!this.clock.isPaused) return;
    this.net.traceNode(this, `resume (${this.clock.heldCount} held)`);
    this.clock.resume();
  }
}
