/**
 * The drain of the core's output: after each input the core took (a message, a tick,
 * an API call), its messages go to the transport, its group events to the delivery
 * queue, and its endpoint events (a view installed, an exclusion, a stop) here.
 *
 * Intuition: the core is sans-I/O — it only returns what it wants done — so one loop
 * carries it out, the same over TCP and in the simulator. It runs until nothing moves:
 * an exclusion replaces the core (the new one has output too), and the application
 * falling behind or catching up changes the core's acks (its output too). Then the
 * timer is moved to the core's next wake-up.
 */
import type { CoreEvent, EndpointCore } from '../core/endpoint-core.js';
import { memberKey } from '../core/types.js';
import type { MemberRef } from '../core/types.js';
import { CohortError, ErrorCode, assertNever } from '../errors.js';
import type { LogLevel } from '../log.js';
import type { Clock } from '../runtime.js';
import type { Transport } from '../transport/transport.js';
import type { EndpointCounters } from '../ops/endpoint-metrics.js';
import type { StatusReport } from '../ops/status-report.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { DurableStore } from '../persist/store.js';
import type { Vote } from '../persist/votes.js';
import type { Group } from './group.js';
import type { Ticker } from './ticker.js';
import { describeFailure, toMemberFailure } from './view.js';

/** Where the core's output goes. */
export interface CoreOutputHost {
  /** The endpoint's id, for the errors' messages. */
  readonly id: string;
  readonly clock: Clock;
  readonly transport: Transport;
  readonly delivery: DeliveryQueue;
  readonly ticker: Ticker;
  readonly groups: ReadonlyMap<string, Group>;
  readonly counters: EndpointCounters;
  readonly report: StatusReport;
  readonly groupsMax: number;
  /** The durable store (option `persist`), or null. */
  readonly store: DurableStore | null;
  /** Begin a checkpoint round of the durable store (it said one is due). */
  beginCheckpoint(): void;
  /** Durable groups: keep the acceptor's vote on disk (before anything is sent); false when the disk failed (the endpoint closes). */
  vote(vote: Vote): boolean;
  /** Durable groups, after a restart from the logs: give the application `group`'s state from the log. */
  restore(group: string): void;
  /** The core now (an exclusion replaces it). */
  core(): EndpointCore;
  /** After the output of a step is out (the metrics' samples). */
  afterStep(): void;
  /** The first view is installed: `start` is done. */
  inView(): void;
  /** Excluded from the network: come back as a new incarnation. */
  excluded(): void;
  /** Close the endpoint (with `reason` when it is an error). */
  close(reason?: CohortError): void;
  log(line: string, level: LogLevel): void;
}

/** The drain of the core's output (see the module's comment). */
export class CoreOutput {
  /** How many `drive` calls are running (they nest: a checkpoint given at once drives). */
  driving = 0;
  private readonly host: CoreOutputHost;
  /** The network of the core now (for the store's view records). */
  private readonly network = (): string => this.host.core().network;

  /** A drain into `host`. */
  constructor(host: CoreOutputHost) {
    this.host = host;
  }

  /** Move the core's output out: messages to the transport, events to the queue. */
  drive(): void {
    this.driving++;
    try {
      this.step();
    } finally {
      this.driving--;
    }
  }

  private step(): void {
    const h = this.host;
    h.delivery.stepAt = h.clock.now();
    do {
      // Loop when an event replaced the core (exclusion): the new one has output too.
      for (let core = null; core !== h.core(); ) {
        core = h.core();
        const out = core.takeOutput();
        // An acceptor's vote is on disk before its answer leaves (persist only).
        if (h.store !== null) {
          for (const e of out.events) {
            if (e.type === 'vote' && !h.vote({ network: core.network, epoch: e.epoch, ballot: e.ballot, view: e.view })) return;
          }
        }
        for (const s of out.send) h.transport.send(s.to, s.msg);
        for (const e of out.events) this.onCoreEvent(e);
      }
      h.afterStep();
      h.delivery.pump();
      // The application fell behind or caught up: the core's acks change (its output too).
    } while (h.delivery.syncBehind());
    // A checkpoint round when due, then group commit: one flush for everything this step appended.
    if (h.store?.checkpointDue === true) h.beginCheckpoint();
    h.store?.commit();
    h.ticker.wakeBy(h.core().nextWakeAt());
  }

  /** Route one event of the core: group events to the delivery queue, the endpoint's own here. */
  private onCoreEvent(e: CoreEvent): void {
    const delivery = this.host.delivery;
    switch (e.type) {
      case 'installed': {
        const store = this.host.store;
        store?.onEvent(e, this.network);
        // A new member's first view: the group table it was welcomed with goes to the
        // log too, so that the log alone says who was in which group (restart-log.ts).
        if (store !== null && e.joined.some((m) => memberKey(m) === this.host.core().selfKey)) {
          const table = this.host.core().groupTable;
          store.noteTable(this.network(), e.view, table.snapshot(), table.viewIdFloor);
        }
        delivery.calls.durable.view(e.view.members);
        return this.onInstalled(e);
      }
      case 'view':
        if (!this.host.groups.has(e.group)) return;
        this.host.report.onGroupView(e.group, e.view, this.host.groups, this.host.groupsMax);
        return delivery.onView(e.group, e.view);
      case 'state':
        this.host.store?.onEvent(e, this.network);
        return delivery.queueEvent(e.group, this.host.groups.get(e.group), { type: 'state', data: e.data }, null);
      case 'message':
        if (e.members !== null && e.localId !== null) delivery.calls.deliveredAmong(e.localId, e.members);
        return delivery.onMessage(e.group, e.sender, e.data, e.safe, e.localId);
      case 'persist':
        this.host.store?.onEvent(e, this.network);
        if (e.localIds !== null) delivery.calls.positioned(e.localIds, e.pos);
        return;
      case 'persisted':
        return delivery.calls.durable.onTold(e.member, e.pos);
      case 'state-progress':
        return delivery.onStateProgress(e.group, e.received, e.total);
      case 'state-request':
        return delivery.push({ kind: 'checkpoint', group: e.group, joiner: e.joiner, pos: e.pos });
      case 'state-lost':
        return delivery.push({ kind: 'state-lost', group: e.group });
      case 'restore':
        return this.host.restore(e.group);
      case 'vote':
        return;
      case 'duplicate':
        return this.onDuplicate(e.live);
      case 'group-left':
        return delivery.onGroupLeft(e.group, e.localId);
      case 'blocked':
        return delivery.onBlocked();
      case 'excluded':
        return this.host.excluded();
      case 'stopped':
        return this.host.close();
      case 'log':
        return this.host.log(e.text, e.level);
      default:
        assertNever(e);
    }
  }

  /** A network view was installed: count and log it, and `start` is done. */
  private onInstalled(e: Extract<CoreEvent, { type: 'installed' }>): void {
    const c = this.host.counters;
    c.viewsInstalled++;
    if (e.joined.length > 0) c.viewChangesJoin++;
    if (e.left.length > 0) c.viewChangesLeave++;
    if (e.failed.length > 0) c.viewChangesFailure++;
    this.host.log(`view ${e.view.epoch}: ${e.view.members.map(memberKey).join(' ')}`, 'info');
    for (const f of e.failures) this.host.log(`view ${e.view.epoch}: ${describeFailure(toMemberFailure(f))}`, 'info');
    this.host.report.onInstalled(e.view.epoch, { ...e, members: e.view.members });
    this.host.inView();
  }

  /** Another live member holds this endpoint's id: it stops, and never joins. */
  private onDuplicate(live: MemberRef): void {
    const id = this.host.id;
    const err = new CohortError(ErrorCode.duplicateId, `id ${id} is taken: ${live.id}#${live.inc}, a live member of the network at another address, holds it (ids are unique; a restart listens at the same address, or waits for the old one to be gone)`);
    this.host.log(err.message, 'error');
    this.host.close(err);
  }
}
