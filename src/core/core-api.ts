/**
 * The core's own vocabulary at its boundary with the endpoint: the options a core is
 * made with, the phases of an endpoint's life, how the application's queues stand,
 * and the flow-control snapshot it reports. Kept apart from the composition so that the
 * shell (and status displays) depend on these types, not on the class.
 */
import type { RestartInfo } from './membership/restart.js';
import type { Rng } from '../runtime.js';
import type { GroupAccess } from './access.js';
import type { CoreConfig } from './config.js';
import type { CoreCounters } from './counters.js';
import type { EndpointView, MemberRef } from './types.js';

/**
 * The application's queues of undelivered events, as the shell tells the core
 * (`setAppQueue`): `ok`; `full`, one reached its bound and has not drained to half of
 * it yet (acks wait); `over`, one is at or above its bound now (acks wait, and
 * heartbeats say this member is behind).
 */
export type AppQueue = 'ok' | 'full' | 'over';

/** Flow control's windows and whether they hold senders back (see `EndpointCore.flowState`). */
export interface FlowState {
  /** Own entries in flight (sent, not yet stable), and the limit (`sendWindowMax`). */
  readonly sendWindow: number;
  /** The limit of `sendWindow`, entries (option `sendWindowMax`). */
  readonly sendWindowMax: number;
  /** Payload bytes of those entries, and the limit (`sendWindowBytesMax`). */
  readonly sendWindowBytes: number;
  /** The limit of `sendWindowBytes`, bytes (option `sendWindowBytesMax`). */
  readonly sendWindowBytesMax: number;
  /** This endpoint is the sequencer: the order window below is its own. */
  readonly sequencer: boolean;
  /** Ordered entries not yet stable (sequencer only; 0 elsewhere), and the limit. */
  readonly orderWindow: number;
  /** The limit of `orderWindow`, entries (option `orderWindowMax`). */
  readonly orderWindowMax: number;
  /** Payload bytes of those entries, and the limit. */
  readonly orderWindowBytes: number;
  /** The limit of `orderWindowBytes`, bytes (option `orderWindowBytesMax`). */
  readonly orderWindowBytesMax: number;
  /** The sequencer orders nothing more until members catch up. */
  readonly orderWindowFull: boolean;
  /** A view change holds delivery and sending. */
  readonly wedged: boolean;
  /** The view change found no majority: this side delivers nothing (G9). */
  readonly blocked: boolean;
}

/** The protocol's counters, for status displays and tests (see `Endpoint.stats`). */
export interface CoreStats {
  /** Epoch of the endpoint's current network view. */
  epoch: number;
  /** Global sequence number of the last entry delivered here. */
  delivered: number;
  /** Highest global sequence number held here without a gap. */
  held: number;
  /** Highest global sequence number every member holds (stable). */
  stable: number;
  /** Own entries (messages or bundles of them) waiting for room in the send window. */
  queued: number;
  /** Own messages sent and not yet delivered here (a bundle counts each of its messages). */
  inFlight: number;
}

export interface CoreOptions {
  readonly self: MemberRef;
  /** This endpoint's address as others reach it. */
  readonly addr: string;
  /** Contact points, and with this endpoint's address the founding list; empty: found a new network. */
  readonly seeds: readonly string[];
  /**
   * The last view of an excluded endpoint's previous incarnation. The network it was
   * excluded from lives on (a later view exists without it), so the new incarnation
   * starts out joining: it probes that view's members as well as the seeds, and helps
   * found a network only once a majority of that view is proven gone (see
   * `KnownNetwork`). A founding still needs exactly the seeds. @default none
   */
  readonly lastView?: EndpointView;
  readonly config: CoreConfig;
  readonly rng: Rng;
  /** The first local id `submit` returns (a new incarnation continues its predecessor's). @default 1 */
  readonly firstLocalId?: number;
  /** Who may be in which group; every member must hold the same policy. @default open */
  readonly access?: GroupAccess;
  /**
   * Durable groups: output every delivered entry as a `persist` event, and tell the view
   * what the caller reports on disk (`EndpointCore.persisted`). @default false
   */
  readonly persist?: boolean;
  /**
   * Durable groups: what this endpoint's log says of the network it was in. While no
   * network runs, it restarts that network with the other members restarting from
   * their logs (`membership/restart.ts`), and founds no other. @default none
   */
  readonly restart?: RestartInfo;
  /** Where to count (for metrics); pass the same object to a new incarnation's core. @default a fresh one */
  readonly counters?: CoreCounters;
}

/** Where an endpoint is in its life. */
export type Phase = 'bootstrapping' | 'joining' | 'member' | 'stopped' | 'excluded';
