/**
 * The status document: what an endpoint says about itself to an operator's probe
 * (`cohort status HOST:PORT`, `StatusProber`, or `Endpoint.status()` in process), like
 * JGroups' `probe` and `corosync-cpgtool`.
 *
 * Intuition: one JSON document answers "what does this member believe, and is it
 * keeping up?" — the view it installed and who coordinates it, whom it suspects, its
 * groups with their members, how fast messages go through, how much waits where (flow
 * control), how late its event loop runs, and the last view changes with their reasons.
 * Everything in it is a snapshot taken by the endpoint when the request arrives; rates
 * are differences between two such snapshots, so the endpoint keeps the previous one.
 *
 * The document is bounded: at most `STATUS_DOC_BYTES_MAX` bytes of JSON (the wire's
 * limit). An endpoint with very many groups first drops the histories, then lists fewer
 * groups, and says so in `truncated` / `groupsOmitted`.
 */
import type { MemberFailure } from '../api/view.js';
import type { TransportStats } from '../transport/transport.js';
import type { FlowState } from '../core/endpoint-core.js';
import { STATUS_DOC_BYTES_MAX } from '../wire/codec.js';

/** The format version of {@link StatusDocument}; a change of meaning bumps it. */
export const STATUS_VERSION = 1;

/** View changes kept per endpoint and per group for the status document. */
export const STATUS_HISTORY_MAX = 20;

/** Why a member was removed: who suspected it, after how much silence, the cause, and whether it was verified. */
export type StatusFailure = MemberFailure;

/** One view change, of the endpoint's network view or of a group. */
export interface StatusViewChange {
  /** When this endpoint installed it, wall clock, ISO 8601. */
  readonly time: string;
  /** The endpoint view's epoch, or the group view's id. */
  readonly id: number;
  /** Member ids in rank order (oldest first). */
  readonly members: readonly string[];
  /** Members new in this view. */
  readonly joined: readonly string[];
  /** Members that left gracefully since the previous view. */
  readonly left: readonly string[];
  /** Members removed since the previous view because they crashed, were cut off, or lagged. */
  readonly failed: readonly string[];
  /** Why each member of `failed` was removed, in the same order (agreed: the same at every member). */
  readonly failures: readonly StatusFailure[];
  /** The change in words (see `viewReason`). */
  readonly reason: string;
}

/** A member of the endpoint's view. */
export interface StatusMember {
  /** The member's name (`EndpointOptions.id`). */
  readonly id: string;
  /** Its incarnation: new at each (re)start, to tell a restarted member from its old self. */
  readonly incarnation: number;
  /** The address it is reached at (`host:port`). */
  readonly address: string;
}

/** One group this endpoint is in (or joining). */
export interface StatusGroup {
  /** The group's name. */
  readonly name: string;
  /** The id of the last view delivered to the application; `null` before the first (joining). */
  readonly viewId: number | null;
  /** Member ids in rank order (oldest first), as of that view. */
  readonly members: readonly string[];
  /** The last view changes of the group, oldest first, at most {@link STATUS_HISTORY_MAX}. */
  readonly history: readonly StatusViewChange[];
}

/** Counters since the endpoint started (application messages and their payload bytes). */
export interface StatusCounters {
  /** Multicasts submitted by this endpoint (`multicast` calls accepted). */
  readonly messagesSent: number;
  /** Their payload bytes. */
  readonly bytesSent: number;
  /** Messages delivered to this endpoint's groups (own ones included). */
  readonly messagesDelivered: number;
  /** Their payload bytes. */
  readonly bytesDelivered: number;
}

/** The counters' rates per second between the previous snapshot and this one. */
export interface StatusRates {
  /** The time between the two snapshots, ms (at least a second, unless the endpoint is younger). */
  readonly windowMs: number;
  /** {@link StatusCounters.messagesSent} per second. */
  readonly messagesSentPerS: number;
  /** {@link StatusCounters.bytesSent} per second (payload bytes). */
  readonly bytesSentPerS: number;
  /** {@link StatusCounters.messagesDelivered} per second. */
  readonly messagesDeliveredPerS: number;
  /** {@link StatusCounters.bytesDelivered} per second (payload bytes). */
  readonly bytesDeliveredPerS: number;
}

/**
 * Event-loop delay since the previous status request: how much later than due a 20 ms
 * timer ran (`perf_hooks.monitorEventLoopDelay`, the sampling interval taken off).
 */
export interface StatusEventLoop {
  /** Median delay, ms. */
  readonly p50Ms: number;
  /** 99th percentile of the delay, ms. */
  readonly p99Ms: number;
  /** Largest delay seen, ms. */
  readonly maxMs: number;
  /** How long the histogram collected, ms. */
  readonly windowMs: number;
}

/** The transport's own counters, when it keeps them (TCP does): its {@link TransportStats}. */
export type StatusTransport = TransportStats;

/**
 * Everything an endpoint says about itself to a probe. JSON-safe; field names are
 * stable within a {@link STATUS_VERSION}.
 *
 * @example
 * ```ts
 * import { probeStatus } from 'cohort-vsync/ops';
 * const s = await probeStatus('127.0.0.1:7001', { secret });
 * console.log(s.view.coordinator?.id, s.groups.map((g) => `${g.name}: ${g.members.join(' ')}`));
 * ```
 */
export interface StatusDocument {
  /** {@link STATUS_VERSION}. */
  readonly version: number;
  /** When the snapshot was taken, wall clock of the endpoint, ISO 8601. */
  readonly time: string;
  /** The endpoint itself. */
  readonly endpoint: {
    /** Its member id (`EndpointOptions.id`). */
    readonly id: string;
    /** Its current incarnation (new at each restart and rejoin). */
    readonly incarnation: number;
    /** The address others reach it at (`host:port`). */
    readonly address: string;
    /** `bootstrapping`, `joining`, `member`, `stopped` or `excluded`. */
    readonly phase: string;
    /** Times this endpoint was excluded and came back as a new incarnation. */
    readonly rejoins: number;
    /** Milliseconds since the endpoint started. */
    readonly uptimeMs: number;
  };
  /** The endpoint's installed network view. */
  readonly view: {
    /** The installed view's epoch (0 before the first). */
    readonly epoch: number;
    /** The coordinator and sequencer: the oldest member. `null` before the first view. */
    readonly coordinator: StatusMember | null;
    /** Rank order, oldest first. */
    readonly members: readonly StatusMember[];
    /** Members this endpoint suspects now (`id#incarnation`). */
    readonly suspects: readonly string[];
    /** The last endpoint view changes, oldest first, at most {@link STATUS_HISTORY_MAX}. */
    readonly history: readonly StatusViewChange[];
  };
  /** The groups this endpoint is in (or joining); fewer when `groupsOmitted` > 0. */
  readonly groups: readonly StatusGroup[];
  /** Groups left out to keep the document within its size limit (0 normally). */
  readonly groupsOmitted: number;
  /** Application messages and payload bytes since the endpoint started. */
  readonly counters: StatusCounters;
  /** The counters per second since the previous snapshot. */
  readonly rates: StatusRates;
  /** The ordered stream of the current epoch (global sequence numbers). */
  readonly order: {
    /** Delivered by this endpoint. */
    readonly delivered: number;
    /** Held without a gap. */
    readonly held: number;
    /** Held by every member (stable). */
    readonly stable: number;
    /** Delivered but not yet stable: kept for retransmission. */
    readonly unstable: number;
  };
  /** What waits, and where. */
  readonly queues: {
    /** `multicast` and `leave` promises not yet settled. */
    readonly pending: number;
    /** Multicasts queued behind the send window. */
    readonly queued: number;
    /** Own multicasts sent and not yet stable. */
    readonly inFlight: number;
    /** Events (and checkpoints) waiting for the application's handlers. */
    readonly events: number;
  };
  /** Flow control's windows and whether they hold senders back. */
  readonly flow: FlowState;
  /** `null` where not measured (an endpoint in a simulated world). */
  readonly eventLoop: StatusEventLoop | null;
  /** `null` when the transport keeps no counters (the simulator's). */
  readonly transport: StatusTransport | null;
  /** True when histories (and maybe groups) were left out to fit the size limit. */
  readonly truncated: boolean;
}

/**
 * `doc` as UTF-8 JSON of at most `bytesMax` bytes: unchanged when it fits; otherwise
 * without histories, then with ever fewer groups (counted in `groupsOmitted`).
 */
export function encodeStatus(doc: StatusDocument, bytesMax = STATUS_DOC_BYTES_MAX): Uint8Array {
  const encoder = new TextEncoder();
  let bytes = encoder.encode(JSON.stringify(doc));
  if (bytes.length <= bytesMax) return bytes;
  const bare = (g: StatusGroup): StatusGroup => ({ ...g, history: [] });
  let groups = doc.groups.map(bare);
  // Halving: at most log2(groups) rounds, and the last one lists no group at all.
  for (;;) {
    const trimmed: StatusDocument = {
      ...doc,
      view: { ...doc.view, history: [] },
      groups,
      groupsOmitted: doc.groupsOmitted + doc.groups.length - groups.length,
      truncated: true,
    };
    bytes = encoder.encode(JSON.stringify(trimmed));
    if (bytes.length <= bytesMax || groups.length === 0) return bytes;
    groups = groups.slice(0, Math.floor(groups.length / 2));
  }
}

/**
 * Parse and check a status document's shape (the parts a reader relies on); throws a
 * `TypeError` naming the first bad part.
 */
export function decodeStatus(bytes: Uint8Array): StatusDocument {
  const doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  const need = (cond: boolean, what: string): void => {
    if (!cond) throw new TypeError(`status document: ${what}`);
  };
  need(typeof doc === 'object' && doc !== null, 'not an object');
  const d = doc as Record<string, unknown>;
  need(typeof d.version === 'number', 'no version');
  need(d.version === STATUS_VERSION, `version ${String(d.version)}, this build reads ${STATUS_VERSION}`);
  need(typeof d.endpoint === 'object' && d.endpoint !== null, 'no endpoint');
  need(typeof d.view === 'object' && d.view !== null && Array.isArray((d.view as Record<string, unknown>).members), 'no view');
  need(Array.isArray(d.groups), 'no groups');
  return doc as StatusDocument;
}
