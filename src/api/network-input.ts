/**
 * What reaches the endpoint from the network: a message from another endpoint goes
 * into the core (and its output out), a refused handshake is told to the core, and an
 * operator's status probe is answered here, never reaching the core.
 *
 * Intuition: a prober is not a member, so it can neither join, be suspected, nor
 * change a view; it gets the status document, within the reports' rate limit. Until
 * the first view, the addresses any message came from are kept, bounded: that is what
 * `start` names when it gives up (a seed that never answered, or one that did).
 */
import type { EndpointCore } from '../core/endpoint-core.js';
import type { Message, StatusReqMsg } from '../core/types.js';
import type { Clock } from '../runtime.js';
import type { Transport } from '../transport/transport.js';
import type { StatusReport } from '../ops/status-report.js';
import { encodeStatus } from '../ops/status.js';
import type { StatusDocument } from '../ops/status.js';
import type { Lifecycle } from './lifecycle.js';

/** Addresses remembered while starting (for `start`'s diagnosis): a bound, not a need. */
const HEARD_FROM_MAX = 4096;

/** What the network's input goes into. */
export interface NetworkInputHost {
  readonly clock: Clock;
  readonly transport: Transport;
  /** Whether it is open, and how a step runs and fails. */
  readonly life: Pick<Lifecycle, 'closed' | 'guard' | 'checkInvariants' | 'failFromNetwork'>;
  /** The rate limit of status replies. */
  readonly report: Pick<StatusReport, 'mayReply'>;
  /** The core now (it changes on a rejoin). */
  core(): EndpointCore;
  /** Move the core's output out. */
  drive(): void;
  /** The endpoint's status document now. */
  status(): StatusDocument;
}

/** The endpoint's input from the network (see the module's comment). */
export class NetworkInput {
  /** Until the first view: the addresses any message came from (what `start` waits on). */
  heardFrom: Set<string> | null = new Set();
  private readonly host: NetworkInputHost;

  /** Input into `host`. */
  constructor(host: NetworkInputHost) {
    this.host = host;
  }

  /** In a view: forget who was heard from. */
  inView(): void {
    this.heardFrom = null;
  }

  /** A message from `from`. */
  onMessage(from: string, msg: Message): void {
    const h = this.host;
    if (h.life.closed) return;
    if (msg.t === 'status-req') return this.answerStatus(from, msg);
    if (msg.t === 'status-reply') return;
    if (this.heardFrom !== null && this.heardFrom.size < HEARD_FROM_MAX) this.heardFrom.add(from);
    // `guard`, written out: a closure per received message would sit on the hot path.
    try {
      h.core().receive(h.clock.now(), from, msg);
      h.drive();
      h.life.checkInvariants();
    } catch (err) {
      h.life.failFromNetwork(err);
    }
  }

  /** `addr` refused the handshake. */
  onRefused(addr: string): void {
    const h = this.host;
    if (h.life.closed) return;
    h.life.guard(() => {
      h.core().refused(h.clock.now(), addr);
      h.drive();
    });
  }

  /** Answer a `status-req` to the address it came from, within the status reports' rate limit. */
  private answerStatus(from: string, msg: StatusReqMsg): void {
    const h = this.host;
    if (!h.report.mayReply(h.clock.now())) return;
    h.transport.send(from, { t: 'status-reply', from: h.core().self, id: msg.id, doc: encodeStatus(h.status()) });
  }
}
