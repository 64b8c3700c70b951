/**
 * What an endpoint reports about itself to operators: the status document (what
 * `cohort status` and `Endpoint.status()` show), the gauges its metrics read at scrape
 * time, and the view-change histories both keep.
 *
 * Intuition: the endpoint keeps only what a report cannot recompute — counter
 * snapshots to take rates against, the last view changes with their reasons, an
 * event-loop histogram — and builds each report on request from the core's state and
 * its own. Reports are read-only: building one never changes what the protocol does.
 * A probe is answered at most `statusRepliesPerSecondMax` times a second, so probing
 * costs an endpoint a bounded share of its time whoever probes it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { FlowState } from '../core/endpoint-core.js';
import type { EndpointView, Failure, MemberRef } from '../core/types.js';
import type { Transport } from '../transport/transport.js';
import { toMemberFailure, viewReason } from '../api/view.js';
import type { View } from '../api/view.js';
import { groupTotals } from './endpoint-metrics.js';
import type { EndpointCounters, EndpointSnapshot, TransportSnapshot } from './endpoint-metrics.js';
import { STATUS_HISTORY_MAX, STATUS_VERSION } from './status.js';
import type { StatusDocument, StatusTransport, StatusViewChange } from './status.js';

/** Sampling interval of the event-loop delay histogram, ms: a cheap timer, coarse enough. */
const loopDelayResolutionMs = 20;

/** Status replies an endpoint sends per second at most; more requests are ignored. */
const statusRepliesPerSecondMax = 100;

/** Application traffic since start: the status document's counters, and its rates' base. */
type Counts = { messagesSent: number; bytesSent: number; messagesDelivered: number; bytesDelivered: number };

/** What a report reads of the core (the endpoint's current `EndpointCore` is one). */
export interface CoreState {
  /** The core's counters of the order. */
  stats(): { readonly epoch: number; readonly delivered: number; readonly held: number; readonly stable: number; readonly queued: number; readonly inFlight: number };
  /** The installed network view. */
  readonly currentView: EndpointView;
  /** The member ids suspected now. */
  suspected(): string[];
  /** Flow control, as the status document shows it. */
  flowState(): FlowState;
}

/** What the status document says of the endpoint itself. */
export interface StatusSelf {
  /** The member id. */
  readonly id: string;
  /** Its current incarnation. */
  readonly incarnation: number;
  /** The address the others reach it at. */
  readonly address: string;
  /** The core's phase. */
  readonly phase: string;
  /** How many times it rejoined as a new incarnation. */
  readonly rejoins: number;
}

/** The endpoint's state a report is built from, at `now` (clock ms). */
export interface ReportInput {
  /** The clock's time now, ms. */
  readonly now: number;
  /** The core. */
  readonly core: CoreState;
  /** The group handles, in the endpoint's order. */
  readonly groups: ReadonlyMap<string, { readonly name: string; readonly view: View | null }>;
  /** Calls waiting for their entry's delivery. */
  readonly pending: number;
  /** Jobs in the delivery queue. */
  readonly events: number;
  /** The transport (over TCP it has counters). */
  readonly transport: Transport;
}

/** A view change for the status history, with its agreed reasons. */
export function viewChange(
  id: number,
  v: {
    readonly members: readonly MemberRef[];
    readonly joined: readonly MemberRef[];
    readonly left: readonly MemberRef[];
    readonly failed: readonly MemberRef[];
    readonly failures: readonly Failure[];
  },
): StatusViewChange {
  const ids = (ms: readonly MemberRef[]): string[] => ms.map((m) => m.id);
  const change = { joined: ids(v.joined), left: ids(v.left), failed: ids(v.failed), failures: v.failures.map(toMemberFailure) };
  return { time: new Date().toISOString(), id, members: ids(v.members), ...change, reason: viewReason(change) };
}

/** Keep `change` as the newest of `history`, dropping the oldest beyond the limit. */
function remember(history: StatusViewChange[], change: StatusViewChange): void {
  history.push(change);
  if (history.length > STATUS_HISTORY_MAX) history.splice(0, history.length - STATUS_HISTORY_MAX);
}

/** The status document's transport section: the TCP transport's counters, or `null`. */
function transportSection(transport: Transport): StatusTransport | null {
  if (typeof transport.stats !== 'function') return null;
  const x = transport.stats();
  return {
    framesSent: x.framesSent,
    framesReceived: x.framesReceived,
    bytesSent: x.bytesSent,
    bytesReceived: x.bytesReceived,
    framesDropped: x.framesDropped,
    connections: x.connections,
    badFrames: x.badFrames,
    refused: x.refused,
  };
}

/** The gauges of the metrics, read at scrape time. */
export function endpointSnapshot(input: ReportInput, address: string): EndpointSnapshot {
  const { core } = input;
  const st = core.stats();
  const t = input.transport;
  let transport: TransportSnapshot | null = null;
  if (typeof t.stats === 'function' && typeof t.bufferedBytes === 'function') {
    let bufferedBytes = 0;
    for (const m of core.currentView.members) if (m.addr !== address) bufferedBytes += t.bufferedBytes(m.addr);
    transport = { ...t.stats(), bufferedBytes };
  }
  return {
    epoch: st.epoch,
    members: core.currentView.members.length,
    suspected: core.suspected().length,
    groups: input.groups.size,
    sendQueue: st.queued,
    inFlight: st.inFlight,
    pendingMulticasts: input.pending,
    unstableEntries: Math.max(0, st.held - st.stable),
    deliveryQueue: input.events,
    transport,
  };
}

/** An endpoint's report-keeping: counter snapshots, view histories, the event-loop histogram, the probe rate limit. */
export class StatusReport {
  /** Counter snapshots: rates are taken against the older one (see `document`). */
  private samples: { at: number; counts: Counts }[];
  private readonly startedAt: number;
  private readonly counters: EndpointCounters;
  /** The last endpoint view changes, oldest first. */
  private readonly viewHistory: StatusViewChange[] = [];
  /** The last view changes per group, oldest first. */
  private readonly groupHistory = new Map<string, StatusViewChange[]>();
  /** Event-loop delay, for real processes only (`Endpoint.start`). */
  private loopDelay: IntervalHistogram | null = null;
  private loopDelaySince = 0;
  /** Status replies sent in the current second, to bound what probes can cost. */
  private statusReplies = { second: -1, count: 0 };

  /** Reports on `counters`, from `startedAt` (clock ms). */
  constructor(counters: EndpointCounters, startedAt: number) {
    this.counters = counters;
    this.startedAt = startedAt;
    this.samples = [{ at: startedAt, counts: { ...this.counts } }];
  }

  /** Totals over every group this endpoint was ever in: what the status document reports. */
  private get counts(): Counts {
    const t = groupTotals(this.counters);
    return { messagesSent: t.multicasts, bytesSent: t.multicastBytes, messagesDelivered: t.delivered, bytesDelivered: t.deliveredBytes };
  }

  /** An endpoint view was installed: remember it. */
  onInstalled(epoch: number, change: Parameters<typeof viewChange>[1]): void {
    remember(this.viewHistory, viewChange(epoch, change));
  }

  /** A group view was installed: remember it, at most `groupsMax` groups' histories kept. */
  onGroupView(group: string, view: Parameters<typeof viewChange>[1] & { readonly id: number }, groups: ReadonlyMap<string, unknown>, groupsMax: number): void {
    let history = this.groupHistory.get(group);
    if (history === undefined) {
      // Bounded: histories of groups this endpoint is no longer in go first.
      if (this.groupHistory.size >= groupsMax) {
        for (const name of this.groupHistory.keys()) if (!groups.has(name)) this.groupHistory.delete(name);
      }
      history = [];
      this.groupHistory.set(group, history);
    }
    remember(history, viewChange(view.id, view));
  }

  /** Measure event-loop delay from `now` on (real processes; stopped by `close`). */
  monitorEventLoop(now: number): void {
    if (this.loopDelay !== null) return;
    this.loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
    this.loopDelay.enable();
    this.loopDelaySince = now;
  }

  /** Stop measuring (the endpoint closed). */
  close(): void {
    this.loopDelay?.disable();
  }

  /** Whether a probe may be answered at `now`: at most `statusRepliesPerSecondMax` a second. */
  mayReply(now: number): boolean {
    const second = Math.floor(now / 1000);
    if (this.statusReplies.second !== second) this.statusReplies = { second, count: 0 };
    if (this.statusReplies.count >= statusRepliesPerSecondMax) return false;
    this.statusReplies.count += 1;
    return true;
  }

  /** The rates since the base snapshot (see `Endpoint.status`); takes a new snapshot once a second passed. */
  private rates(now: number): StatusDocument['rates'] {
    // Rates over at least a second when possible: against the newest snapshot at
    // least a second old, and the current one becomes a snapshot once a second passed.
    const last = this.samples[this.samples.length - 1]!;
    const base = now - last.at >= 1000 || this.samples.length === 1 ? last : this.samples[0]!;
    if (now - last.at >= 1000) this.samples = [last, { at: now, counts: { ...this.counts } }];
    const windowMs = Math.max(0, now - base.at);
    const rate = (k: keyof Counts): number => (windowMs === 0 ? 0 : Math.round(((this.counts[k] - base.counts[k]) * 1000 * 100) / windowMs) / 100);
    return {
      windowMs: Math.round(windowMs),
      messagesSentPerS: rate('messagesSent'),
      bytesSentPerS: rate('bytesSent'),
      messagesDeliveredPerS: rate('messagesDelivered'),
      bytesDeliveredPerS: rate('bytesDelivered'),
    };
  }

  /** The event-loop delay since the last call, and a fresh window; `null` without monitoring. */
  private eventLoop(now: number): StatusDocument['eventLoop'] {
    if (this.loopDelay === null) return null;
    const h = this.loopDelay;
    // The histogram records the time between its timer's runs, the sampling interval
    // included: the delay is what exceeds it.
    const ms = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, Math.round((ns - loopDelayResolutionMs * 1e6) / 1e4) / 100) : 0);
    const eventLoop = { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), windowMs: Math.round(now - this.loopDelaySince) };
    h.reset();
    this.loopDelaySince = now;
    return eventLoop;
  }

  /** The status document now (see `Endpoint.status`). */
  document(self: StatusSelf, input: ReportInput): StatusDocument {
    const { now, core: c } = input;
    const rates = this.rates(now);
    const core = c.stats();
    const view = c.currentView;
    const members = view.members.map((m) => ({ id: m.id, incarnation: m.inc, address: m.addr }));
    const eventLoop = this.eventLoop(now);
    const transport = transportSection(input.transport);
    return {
      version: STATUS_VERSION,
      time: new Date().toISOString(),
      endpoint: { ...self, uptimeMs: Math.round(now - this.startedAt) },
      view: { epoch: view.epoch, coordinator: members[0] ?? null, members, suspects: c.suspected().sort(), history: [...this.viewHistory] },
      groups: [...input.groups.values()].map((g) => ({
        name: g.name,
        viewId: g.view?.id ?? null,
        members: g.view?.members ?? [],
        history: [...(this.groupHistory.get(g.name) ?? [])],
      })),
      groupsOmitted: 0,
      counters: { ...this.counts },
      rates,
      order: { delivered: core.delivered, held: core.held, stable: core.stable, unstable: Math.max(0, core.delivered - core.stable) },
      queues: { pending: input.pending, queued: core.queued, inFlight: core.inFlight, events: input.events },
      flow: c.flowState(),
      eventLoop,
      transport,
      truncated: false,
    };
  }
}
