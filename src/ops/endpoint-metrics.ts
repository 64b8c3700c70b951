/**
 * An endpoint's metrics, for Prometheus: what it multicast and delivered (per group),
 * its view changes by reason, suspicions, retransmissions, flush and state transfer
 * durations, its queues, the transport's traffic and the event loop's lag — served
 * over HTTP at `/metrics` when the endpoint is started with option `metrics`.
 *
 * Counting stays on the hot path only as plain number increments in objects the
 * endpoint and its core keep anyway (`CoreCounters`, `EndpointCounters`); this module
 * copies them into the registry when a scrape asks, and reads the gauges then. Only
 * the histograms are fed as things happen: after every step of the core, one
 * comparison per histogram sees whether a flush or a state transfer completed.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { CoreCounters } from '../core/counters.js';
import { MetricsRegistry, metricsContentType } from './metrics.js';
import type { Counter, Gauge, Histogram } from './metrics.js';

/** Per group: what this endpoint multicast to it and delivered from it. Plain numbers. */
export interface GroupCounters {
  /** Multicasts submitted to the group by this endpoint. */
  multicasts: number;
  /** Their payload bytes. */
  multicastBytes: number;
  /** Messages of the group delivered to this endpoint's application (its own included). */
  delivered: number;
  /** Their payload bytes. */
  deliveredBytes: number;
}

/** A fresh, all-zero `GroupCounters`. */
export function newGroupCounters(): GroupCounters {
  return { multicasts: 0, multicastBytes: 0, delivered: 0, deliveredBytes: 0 };
}

/** The endpoint's own counters (the core's are in `CoreCounters`). Plain numbers. */
export interface EndpointCounters {
  /**
   * Per group name, for the groups this endpoint is in (or joining). A group's entry
   * goes when the endpoint is out of it (`retireGroupCounters`), so the map is as large
   * as the endpoint's memberships, not as every group it was ever in.
   */
  readonly groups: Map<string, GroupCounters>;
  /** The sums of the entries that went: with `groups`, the totals over every group ever (`groupTotals`). */
  readonly retired: GroupCounters;
  /** Network views installed by this endpoint (its first included). */
  viewsInstalled: number;
  /** Installed views in which members joined. */
  viewChangesJoin: number;
  /** Installed views in which members left gracefully. */
  viewChangesLeave: number;
  /** Installed views in which members were removed as failed. */
  viewChangesFailure: number;
}

/** A fresh, all-zero `EndpointCounters`. */
export function newEndpointCounters(): EndpointCounters {
  return { groups: new Map(), retired: newGroupCounters(), viewsInstalled: 0, viewChangesJoin: 0, viewChangesLeave: 0, viewChangesFailure: 0 };
}

/**
 * The endpoint is out of `group` (it left, or was excluded): its counters go, and
 * their numbers move into `retired`, so that totals over all groups never go down.
 * A later join of the group counts from zero again (for Prometheus, its series
 * disappears and comes back, which it reads as a counter reset).
 */
export function retireGroupCounters(c: EndpointCounters, group: string): void {
  const g = c.groups.get(group);
  if (g === undefined) return;
  c.groups.delete(group);
  c.retired.multicasts += g.multicasts;
  c.retired.multicastBytes += g.multicastBytes;
  c.retired.delivered += g.delivered;
  c.retired.deliveredBytes += g.deliveredBytes;
}

/** The totals over every group this endpoint was ever in: the retired ones and the current ones. */
export function groupTotals(c: EndpointCounters): GroupCounters {
  const t = { ...c.retired };
  for (const g of c.groups.values()) {
    t.multicasts += g.multicasts;
    t.multicastBytes += g.multicastBytes;
    t.delivered += g.delivered;
    t.deliveredBytes += g.deliveredBytes;
  }
  return t;
}

/** The TCP transport's counters, when the endpoint runs over TCP. */
export interface TransportSnapshot {
  /** Frames written to sockets. */
  readonly framesSent: number;
  /** Frames read from sockets. */
  readonly framesReceived: number;
  /** Bytes written, framing included. */
  readonly bytesSent: number;
  /** Bytes read, framing included. */
  readonly bytesReceived: number;
  /** Frames dropped (queue full, too large, dial failed). */
  readonly framesDropped: number;
  /** Frames that could not be decoded. */
  readonly badFrames: number;
  /** Connections refused at the handshake or by a limit. */
  readonly refused: number;
  /** Peers with an open connection now. */
  readonly connections: number;
  /** Bytes queued for peers and not yet taken by the kernel, summed over the view. */
  readonly bufferedBytes: number;
}

/** The endpoint's state as gauges read at scrape time. */
export interface EndpointSnapshot {
  /** Epoch of the installed network view. */
  readonly epoch: number;
  /** Members of that view. */
  readonly members: number;
  /** Members suspected now. */
  readonly suspected: number;
  /** Groups this endpoint is in or joining. */
  readonly groups: number;
  /** Own entries waiting for the send window. */
  readonly sendQueue: number;
  /** Own messages sent and not yet delivered here. */
  readonly inFlight: number;
  /** `multicast` promises not yet settled. */
  readonly pendingMulticasts: number;
  /** Ordered entries held here and not yet stable (held by every member). */
  readonly unstableEntries: number;
  /** Events waiting for the application's handlers. */
  readonly deliveryQueue: number;
  /** Over TCP: the transport's counters; `null` in the simulator. */
  readonly transport: TransportSnapshot | null;
}

/** What `EndpointMetrics` reads. */
export interface EndpointMetricsSource {
  /** The member id, a label of `cohort_member_info`. */
  readonly member: string;
  /** The core's counters (shared by its incarnations). */
  readonly core: CoreCounters;
  /** The endpoint's counters. */
  readonly endpoint: EndpointCounters;
  /** The gauges, read at each scrape. */
  readonly snapshot: () => EndpointSnapshot;
}

/** The event loop is sampled by a timer of this period (prom-client's default); its delays beyond it are the lag. */
const loopResolutionMs = 10;

/** Bucket bounds, seconds, for view changes (tens of ms typical, the flush timeout beyond). */
const flushBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Bucket bounds, seconds, for state transfers (from an empty state to a GiB). */
const stateBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/**
 * The registry of one endpoint's metrics, fed from its counters.
 * Names follow prom-client's conventions under the `cohort_` prefix.
 */
export class EndpointMetrics {
  /** The metric families, in the order they are served. */
  readonly registry = new MetricsRegistry();
  private readonly src: EndpointMetricsSource;
  private readonly flush: Histogram;
  private readonly stateDuration: Histogram;
  private flushesSeen: number;
  private providedSeen: number;
  private receivedSeen: number;
  private readonly loop: IntervalHistogram;

  constructor(src: EndpointMetricsSource) {
    this.src = src;
    this.flushesSeen = src.core.flushes;
    this.providedSeen = src.core.statesProvided;
    this.receivedSeen = src.core.statesReceived;
    const r = this.registry;
    const c = src.core;
    const e = src.endpoint;

    const info = r.gauge({ name: 'cohort_member_info', help: 'Always 1; the member id is its label.', labelNames: ['member'] });
    info.set({ member: src.member }, 1);

    // Which counters object each group's series were copied from at the last scrape:
    // when the group's entry went (or was replaced by a new join's), its series go
    // too, so that the registry stays as small as `e.groups` and a new count from zero
    // is a new series rather than a counter going down.
    const shown = new Map<string, GroupCounters>();
    const perGroupFamilies: Counter[] = [];
    r.onCollect(() => {
      for (const [group, g] of shown) {
        if (e.groups.get(group) === g) continue;
        for (const f of perGroupFamilies) f.remove({ group });
        shown.delete(group);
      }
      for (const [group, g] of e.groups) shown.set(group, g);
    });
    const perGroup = (name: string, help: string, pick: (g: GroupCounters) => number): void => {
      const f = r.counter({ name, help, labelNames: ['group'] });
      perGroupFamilies.push(f);
      r.onCollect(() => {
        for (const [group, g] of e.groups) f.set({ group }, pick(g));
      });
    };
    perGroup('cohort_multicast_messages_total', 'Messages this member multicast (submitted), per group.', (g) => g.multicasts);
    perGroup('cohort_multicast_bytes_total', 'Payload bytes of the messages this member multicast, per group.', (g) => g.multicastBytes);
    perGroup('cohort_delivered_messages_total', 'Messages delivered to this member, its own included, per group.', (g) => g.delivered);
    perGroup('cohort_delivered_bytes_total', 'Payload bytes of the messages delivered to this member, per group.', (g) => g.deliveredBytes);

    const views = r.counter({ name: 'cohort_views_installed_total', help: 'Network views this member installed, its first included.' });
    const changes = r.counter({
      name: 'cohort_view_changes_total',
      help: 'Installed network views by reason: members joined, left gracefully, or failed (one view may count under several reasons).',
      labelNames: ['reason'],
    });
    const epoch = r.gauge({ name: 'cohort_view_epoch', help: 'Epoch of the installed network view.' });
    const members = r.gauge({ name: 'cohort_view_members', help: 'Members of the installed network view.' });
    const suspected = r.gauge({ name: 'cohort_suspected_members', help: 'Members this member suspects now.' });
    const suspicions = r.counter({ name: 'cohort_suspicions_total', help: 'Members this member began to suspect (silence past the timeout, or a refused connection).' });
    const naks = r.counter({ name: 'cohort_naks_sent_total', help: 'Requests (NAKs) this member sent for ordered entries it lacked.' });
    const retrans = r.counter({
      name: 'cohort_retransmissions_total',
      help: 'Sent again: nak (entries resent by the sequencer to a NAK), data (own entries resent to the sequencer for want of an order), state (state chunks resent after a stall).',
      labelNames: ['kind'],
    });
    this.flush = r.histogram({
      name: 'cohort_view_change_duration_seconds',
      help: 'View changes this member flushed for: from its wedging (first prepare or accept) to the install of the new view.',
      buckets: flushBuckets,
    });
    this.flush.touch();
    const stateTransfers = r.counter({ name: 'cohort_state_transfers_total', help: 'State transfers completed, as provider or joiner.', labelNames: ['role'] });
    const stateBytes = r.counter({ name: 'cohort_state_transfer_bytes_total', help: 'Bytes of the states transferred, as provider or joiner.', labelNames: ['role'] });
    this.stateDuration = r.histogram({
      name: 'cohort_state_transfer_duration_seconds',
      help: "State transfers: provider, from the checkpoint to the joiner's last acknowledgement; joiner, from its join's delivery to the last chunk.",
      labelNames: ['role'],
      buckets: stateBuckets,
    });
    this.stateDuration.touch({ role: 'provider' });
    this.stateDuration.touch({ role: 'joiner' });
    const groups = r.gauge({ name: 'cohort_groups', help: 'Groups this member is in (or joining).' });
    const sendQueue = r.gauge({ name: 'cohort_send_queue_entries', help: 'Own entries (messages or bundles) waiting for the send window.' });
    const inFlight = r.gauge({ name: 'cohort_in_flight_messages', help: 'Own messages sent and not yet delivered here.' });
    const pending = r.gauge({ name: 'cohort_pending_multicasts', help: 'multicast() promises not yet settled.' });
    const unstable = r.gauge({ name: 'cohort_unstable_entries', help: 'Ordered entries held here and not yet held by every member.' });
    const deliveryQueue = r.gauge({ name: 'cohort_delivery_queue_events', help: "Events waiting for the application's handlers." });

    let transport: {
      frames: Counter;
      bytes: Counter;
      dropped: Counter;
      bad: Counter;
      refused: Counter;
      connections: Gauge;
      buffered: Gauge;
    } | null = null;
    const makeTransport = (): NonNullable<typeof transport> => ({
      frames: r.counter({ name: 'cohort_transport_frames_total', help: 'Frames sent and received by the TCP transport.', labelNames: ['direction'] }),
      bytes: r.counter({ name: 'cohort_transport_bytes_total', help: 'Bytes sent and received by the TCP transport (framing included).', labelNames: ['direction'] }),
      dropped: r.counter({ name: 'cohort_transport_frames_dropped_total', help: "Frames dropped: a peer's queue full, too large, or a dial failed (the core retransmits)." }),
      bad: r.counter({ name: 'cohort_transport_bad_frames_total', help: 'Frames that could not be decoded (the connection is closed).' }),
      refused: r.counter({ name: 'cohort_transport_connections_refused_total', help: 'Connections refused: handshake failed, wrong network or secret, limits.' }),
      connections: r.gauge({ name: 'cohort_transport_connections', help: 'Peers with an open connection.' }),
      buffered: r.gauge({ name: 'cohort_transport_buffered_bytes', help: 'Bytes queued for peers of the view and not yet taken by the kernel.' }),
    });

    const lagMean = r.gauge({ name: 'cohort_event_loop_lag_seconds', help: 'Mean event loop lag since the last scrape (delay of a 10 ms timer beyond its due time).' });
    const lagP99 = r.gauge({ name: 'cohort_event_loop_lag_p99_seconds', help: '99th percentile of the event loop lag since the last scrape.' });
    const lagMax = r.gauge({ name: 'cohort_event_loop_lag_max_seconds', help: 'Largest event loop lag since the last scrape.' });
    this.loop = monitorEventLoopDelay({ resolution: loopResolutionMs });
    this.loop.enable();

    r.onCollect(() => {
      views.set(undefined, e.viewsInstalled);
      changes.set({ reason: 'join' }, e.viewChangesJoin);
      changes.set({ reason: 'leave' }, e.viewChangesLeave);
      changes.set({ reason: 'failure' }, e.viewChangesFailure);
      suspicions.set(undefined, c.suspicions);
      naks.set(undefined, c.naksSent);
      retrans.set({ kind: 'nak' }, c.naksAnswered);
      retrans.set({ kind: 'data' }, c.dataResent);
      retrans.set({ kind: 'state' }, c.stateChunksResent);
      stateTransfers.set({ role: 'provider' }, c.statesProvided);
      stateTransfers.set({ role: 'joiner' }, c.statesReceived);
      stateBytes.set({ role: 'provider' }, c.stateBytesProvided);
      stateBytes.set({ role: 'joiner' }, c.stateBytesReceived);
      const s = src.snapshot();
      epoch.set(undefined, s.epoch);
      members.set(undefined, s.members);
      suspected.set(undefined, s.suspected);
      groups.set(undefined, s.groups);
      sendQueue.set(undefined, s.sendQueue);
      inFlight.set(undefined, s.inFlight);
      pending.set(undefined, s.pendingMulticasts);
      unstable.set(undefined, s.unstableEntries);
      deliveryQueue.set(undefined, s.deliveryQueue);
      if (s.transport !== null) {
        transport ??= makeTransport();
        transport.frames.set({ direction: 'sent' }, s.transport.framesSent);
        transport.frames.set({ direction: 'received' }, s.transport.framesReceived);
        transport.bytes.set({ direction: 'sent' }, s.transport.bytesSent);
        transport.bytes.set({ direction: 'received' }, s.transport.bytesReceived);
        transport.dropped.set(undefined, s.transport.framesDropped);
        transport.bad.set(undefined, s.transport.badFrames);
        transport.refused.set(undefined, s.transport.refused);
        transport.connections.set(undefined, s.transport.connections);
        transport.buffered.set(undefined, s.transport.bufferedBytes);
      }
      // Nanoseconds, each sample the whole interval of the sampling timer: its lag is
      // what exceeds the resolution. No sample yet (a scrape right after the last) reads as 0.
      const seconds = (ns: number): number => (Number.isFinite(ns) && this.loop.count > 0 ? Math.max(0, ns / 1e6 - loopResolutionMs) / 1000 : 0);
      lagMean.set(undefined, seconds(this.loop.mean));
      lagP99.set(undefined, seconds(this.loop.percentile(99)));
      lagMax.set(undefined, seconds(this.loop.max));
      this.loop.reset();
    });
  }

  /**
   * Called after every step of the core: records the durations of the view changes
   * and state transfers that completed in it. Three comparisons when nothing did.
   */
  afterStep(): void {
    const c = this.src.core;
    for (; this.flushesSeen < c.flushes; this.flushesSeen++) this.flush.observe(c.flushMsLast / 1000);
    for (; this.providedSeen < c.statesProvided; this.providedSeen++) this.stateDuration.observe(c.stateProvideMsLast / 1000, { role: 'provider' });
    for (; this.receivedSeen < c.statesReceived; this.receivedSeen++) this.stateDuration.observe(c.stateReceiveMsLast / 1000, { role: 'joiner' });
  }

  /** The text exposition of every metric now. */
  expose(): string {
    this.afterStep();
    return this.registry.expose();
  }

  /** Stop measuring the event loop. */
  close(): void {
    this.loop.disable();
  }
}

/** A running `/metrics` HTTP server. */
export interface MetricsServer {
  /** The bound `host:port` (the port picked when 0 was asked). */
  readonly address: string;
  /** Stop listening and close open connections. */
  close(): Promise<void>;
}

/**
 * Serve `render()` at `GET /metrics` on `host:port` (node:http), in the text format.
 * Other paths get 404, other methods 405. Resolves once listening.
 */
export async function serveMetrics(host: string, port: number, render: () => string): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${String(err)}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': metricsContentType, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
