/**
 * What an endpoint is started with: its options, the world it runs in, and the options
 * of a join. The checks of these options are in `option-checks.ts`.
 *
 * Intuition: an option is named once, in `EndpointOptions`, with its unit and default
 * beside it. `Endpoint.start` and `Endpoint.open` refuse a name they do not know (a
 * typo must not pass silently as a default), and the list of known names is a tuple
 * the compiler holds to the interface both ways: a name not in the interface, or an
 * option of the interface missing from the list, does not compile.
 */
import type { Logger, LoggerLike, LogLevel } from '../log.js';
import type { CohortError } from '../errors.js';
import type { Clock, Rng } from '../runtime.js';
import type { Transport } from '../transport/transport.js';
import type { GroupHandlers } from './view.js';
import type { VoteFile } from '../persist/votes.js';
import type { SegmentLog } from '../persist/segment-log.js';

/** The world an endpoint runs in; the simulator passes its own. */
export interface EndpointWorld {
  /** How messages reach other endpoints (TCP, or the simulator's network). */
  readonly transport: Transport;
  /** Time and timers (monotonic milliseconds; virtual in the simulator). */
  readonly clock: Clock;
  /** Randomness (incarnations, jitter); seeded in the simulator. */
  readonly rng: Rng;
  /**
   * Check the core's safety invariants after every step (`EndpointCore.checkInvariants`):
   * a broken one stops the endpoint like any broken invariant. The simulator sets it.
   * @default false
   */
  readonly checkInvariants?: boolean;
}

/** Option `persist`: where and how a durable endpoint writes its groups. */
export interface PersistOptions {
  /**
   * The data directory (created if missing), one per endpoint: its segment log of the
   * views it installed, the entries it delivered and the states it received.
   */
  readonly dir?: string;
  /**
   * Flush each batch to stable storage (`fdatasync`) before it counts as on disk.
   * `false`: the operating system's cache counts, which survives this process's crash
   * but not the machine's (for tests, or disks that are fast and battery-backed).
   * @default true
   */
  readonly sync?: boolean;
  /**
   * After this many bytes written to the log, take a checkpoint round: the view, the
   * group table and every group's `checkpoint()` (in its turn in the delivery order)
   * go to the log, and the log's segments wholly before them are removed. What the
   * directory holds stays around `checkpointBytes + segmentBytes` plus the states.
   * A group without `checkpoint` counts as stateless (an empty state), as for a joiner.
   * @default 64 MiB
   */
  readonly checkpointBytes?: number;
  /** The size of the log's segment files: the unit in which the log is truncated. @default 64 MiB */
  readonly segmentBytes?: number;
  /** @internal An opened log (the simulator's disk); `Endpoint.start` opens `dir`'s. */
  readonly log?: SegmentLog;
  /** @internal Where the acceptor's votes are kept (the simulator's); `Endpoint.start` uses `dir`'s `VOTE` file. */
  readonly votes?: VoteFile;
}

/** Options of `Endpoint.start`. Timing options are in milliseconds. */
export interface EndpointOptions {
  /** This member's name, unique in the network (1 to 256 UTF-8 bytes). */
  readonly id: string;
  /** `host:port` to listen on (TCP; port 0 picks one; `[::1]:0` for IPv6). Not needed when `world` is given. */
  readonly listen?: string;
  /** The address other members dial, when it differs from `listen` (NAT, containers, proxies). */
  readonly advertise?: string;
  /** Network name: endpoints of another network are refused at the handshake. @default 'cohort' */
  readonly network?: string;
  /**
   * The network secret (at least 16 bytes; a string counts as its UTF-8 bytes). Every
   * member needs the same one: connections then authenticate both ways by
   * challenge–response and encrypt every frame (AES-256-GCM, keys per connection), so
   * an endpoint without it can neither join, read, inject nor replay. TCP only.
   * @default none
   */
  readonly secret?: Uint8Array | string;
  /** Listen beyond loopback without a secret (anyone who reaches the port can join). @default false */
  readonly insecure?: boolean;
  /**
   * TLS 1.3 with mutual certificate authentication: `{ key, cert, ca }` as PEM. Every
   * member presents a certificate signed by `ca`; expired or untrusted ones are
   * refused. For deployments with a PKI; may be combined with `secret`. TCP only.
   * @default none
   */
  readonly tls?: {
    /** This member's private key, PEM. */
    readonly key: string | Uint8Array;
    /** This member's certificate, PEM, signed by `ca`. */
    readonly cert: string | Uint8Array;
    /** The network's certificate authority (one or more certificates), PEM. */
    readonly ca: string | Uint8Array;
    /**
     * `'cn'`: a member's id must be the subject CN of its certificate — the others drop
     * messages under any other id, so a certificate holder cannot speak as another
     * member (and per-group access lists hold); this endpoint's own `id` must match its
     * `cert`. `'none'`: any id; the CA alone decides who is a member. @default 'cn'
     */
    readonly idFrom?: 'cn' | 'none';
  };
  /**
   * Who may join (and send to) which groups: group name, or a prefix ending in `*`
   * (`atc/*`), → the member ids allowed (`*`: anyone). The most specific key decides; a
   * group no key matches is open. Enforced by every member on the total order, so a
   * member that bypasses its own check still cannot get in. Every member must hold the
   * same policy: over TCP its digest is part of the network's identity, so endpoints
   * with different policies refuse each other at the handshake. @default open
   */
  readonly groupAccess?: Readonly<Record<string, readonly string[]>>;
  /** Contact points; none: start a new network. @default [] */
  readonly seeds?: readonly string[];
  /**
   * How long `Endpoint.start` waits to be in a view before it gives up, closes what it
   * opened and rejects (see `Endpoint.start` for the codes); 0: wait for ever. Long
   * enough for a cluster whose members start within a minute of each other (a
   * founding waits for every seed). @default 60000
   */
  readonly startTimeoutMs?: number;
  /** Aborts `Endpoint.start` (rejects with `ERR_ABORTED`, closing what it opened); no effect once started. */
  readonly signal?: AbortSignal;
  /** Heartbeat interval. @default 100 */
  readonly heartbeatMs?: number;
  /** Silence after which a member is suspected. @default 1000 */
  readonly suspectTimeoutMs?: number;
  /**
   * Suspect a member at once when its address refuses connections (its host is up and
   * no process listens there: it crashed). Silence still waits for the timeout.
   * @default true
   */
  readonly suspectRefused?: boolean;
  /** How long a view change waits for members it does not suspect. @default 500 */
  readonly flushTimeoutMs?: number;
  /** Retransmission interval. @default 100 */
  readonly retransmitMs?: number;
  /**
   * How long a member may hold back an acknowledgement nobody waits for (acks the
   * sequencer's delivery, safe messages or the order window wait for go at once); 0:
   * every ack at once. @default 20
   */
  readonly ackDelayMs?: number;
  /** Own entries (messages or bundles of them) in flight before more wait. @default 1024 */
  readonly sendWindowMax?: number;
  /** Most bytes of queued multicasts that leave together as one bundle. @default 64 KiB */
  readonly bundleBytesMax?: number;
  /** Payload bytes of own multicasts in flight before more wait (one always goes). @default 16 MiB */
  readonly sendWindowBytesMax?: number;
  /**
   * A member that stays this far behind what a majority holds, while it keeps every
   * sender waiting (the order window is full), is excluded like a failed one; it
   * rejoins with state. @default 5 × suspectTimeoutMs
   */
  readonly lagTimeoutMs?: number;
  /** Ordered entries not yet held by every member, at most (the sequencer waits beyond). @default 8192 */
  readonly orderWindowMax?: number;
  /** Payload bytes of such entries, at most. @default 16 MiB */
  readonly orderWindowBytesMax?: number;
  /** Most members of a network view; join requests beyond are ignored. @default 256 */
  readonly membersMax?: number;
  /** Join requests gathered for one view change; more wait. @default 64 */
  readonly pendingJoinsMax?: number;
  /** Groups this endpoint may be in at once; `join` beyond throws `ERR_LIMIT`. @default 1024 */
  readonly groupsPerEndpointMax?: number;
  /** Largest multicast payload, bytes. @default 8 MiB */
  readonly messageBytesMax?: number;
  /**
   * Undelivered events of one group — delivered by the protocol, not yet taken by the
   * group's `onEvent` handler or its iterator — at which the application counts as
   * behind: this member then acknowledges nothing more, so flow control makes the
   * senders wait (within the order window), until the queue has drained to half. A
   * member whose queue stays full for `lagTimeoutMs` is removed as a `slow-consumer`
   * (and, with `rejoin`, comes back with a fresh state; the messages it had not taken
   * are dropped then, superseded by that state). @default 8192
   */
  readonly deliveryQueueMax?: number;
  /** The same bound in payload bytes (of messages and states). @default 16 MiB */
  readonly deliveryQueueBytesMax?: number;
  /**
   * Multicasts of this endpoint not yet delivered here (their promises unsettled) at
   * which `multicast` refuses more with `ERR_BACKPRESSURE` (the message is not sent),
   * until they have drained to half; `await group.ready()` waits for that. A sender
   * that awaits its multicasts, or keeps a bounded number outstanding, never meets it.
   * @default 65536
   */
  readonly pendingMulticastsMax?: number;
  /** The same bound in payload bytes. @default 64 MiB */
  readonly pendingMulticastBytesMax?: number;
  /** Largest state a joiner accepts, bytes. @default 1 GiB */
  readonly stateBytesMax?: number;
  /** Size of a state transfer chunk, bytes. @default 65536 */
  readonly stateChunkBytes?: number;
  /** Incarnation number; by default a fresh one is drawn. */
  readonly incarnation?: number;
  /**
   * After an exclusion, join every group this endpoint was in (or joining) again, as
   * its new incarnation, with a fresh state transfer: the handles stay valid, and the
   * application sees `excluded`, then a new `view` and (from a member that has one) a
   * new `state` to start over from. Multicasts pending at the exclusion reject with
   * `ERR_EXCLUDED` (they may or may not have been delivered). `false`: the handles
   * close at the exclusion, and the application joins again itself. @default true
   */
  readonly rejoin?: boolean;
  /**
   * Durable groups: write every view this endpoint installs and every entry it
   * delivers to a log in `dir`, group-committed (one flush per batch), and tell the view
   * how far it is on disk, so that a multicast can wait to be on disk at a majority of
   * its group (`multicast(data, { durable })`, 'majority' by default with this option).
   * Every member of a network should persist: one that does not never counts.
   * Needs `Endpoint.start`. @default none (in memory)
   */
  readonly persist?: PersistOptions;
  /**
   * What a group's `onEvent` that throws or rejects does beyond that group: `'leave'`,
   * nothing more (the member leaves that group, see `GroupHandlers.onError`); `'exit'`,
   * the process logs the error and exits with status 1 — for a process whose replicas
   * must all be trusted or none. @default 'leave'
   */
  readonly onHandlerError?: 'leave' | 'exit';
  /** Injected transport, clock and randomness (the simulator uses this). */
  readonly world?: EndpointWorld;
  /** Receives every diagnostic (suspicions, view changes) as a text line with its level, whatever `logLevel` says. @default none */
  readonly onLog?: (line: string, level: LogLevel) => void;
  /**
   * Called once if an invariant of Cohort itself breaks (a bug; `code` is
   * `ERR_INTERNAL`, `cause` the broken assertion). By then the endpoint has stopped:
   * its connections are closed, so the other members remove it as crashed, and every
   * pending call rejects with the same error. The error is also logged at level error.
   * A process that cannot go on without its endpoint should exit here (as
   * `cohort member` does, with status 70).
   * @default none: the error is thrown from the network or timer event that hit it, so
   * an unhandled one ends the process with its message and a non-zero status
   */
  readonly onFatal?: (err: CohortError) => void;
  /**
   * Write diagnostics at this level and above to standard error as JSON lines
   * (`{"ts","level","member","msg"}`; readable text when standard error is a terminal).
   * Give `logger` instead to choose the format or the destination. @default none (silent)
   */
  readonly logLevel?: LogLevel;
  /**
   * Write diagnostics through this logger: a `Logger`, pino, or any object with
   * `debug/info/warn/error(fields, msg)` (its level, format and destination are its own).
   * @default none
   */
  readonly logger?: Logger | LoggerLike;
  /**
   * Prometheus metrics: `'HOST:PORT'` serves them over HTTP at `/metrics` (port 0 picks
   * one; see `metricsAddress`), `true` collects them for `metricsText()` without a
   * server. Needs `Endpoint.start` to serve. Off by default: then nothing is measured
   * beyond a few plain counters.
   * @default off
   */
  readonly metrics?: string | boolean;
}

/** What `Endpoint.join` takes: the group's handlers, and how long to wait. */
export interface JoinOptions extends GroupHandlers {
  /**
   * How long `join` waits for the first view (the join ordered, and the group's state
   * received) before it gives up: it rejects with `ERR_TIMEOUT`, and the endpoint
   * leaves the group again (join it anew once that leave is done). 0: wait for ever.
   * @default 60000
   */
  readonly timeoutMs?: number;
  /** Aborts the join: rejects with `ERR_ABORTED`, and the endpoint leaves the group again. */
  readonly signal?: AbortSignal;
}

/** Every option of `EndpointOptions`, by name, in the order of its documentation. */
const optionNames = [
  'id',
  'listen',
  'advertise',
  'network',
  'secret',
  'insecure',
  'tls',
  'groupAccess',
  'seeds',
  'startTimeoutMs',
  'signal',
  'heartbeatMs',
  'suspectTimeoutMs',
  'flushTimeoutMs',
  'retransmitMs',
  'ackDelayMs',
  'sendWindowMax',
  'sendWindowBytesMax',
  'bundleBytesMax',
  'suspectRefused',
  'lagTimeoutMs',
  'orderWindowMax',
  'orderWindowBytesMax',
  'membersMax',
  'pendingJoinsMax',
  'groupsPerEndpointMax',
  'messageBytesMax',
  'deliveryQueueMax',
  'deliveryQueueBytesMax',
  'pendingMulticastsMax',
  'pendingMulticastBytesMax',
  'stateBytesMax',
  'stateChunkBytes',
  'incarnation',
  'rejoin',
  'persist',
  'onHandlerError',
  'world',
  'onLog',
  'onFatal',
  'logLevel',
  'logger',
  'metrics',
] as const satisfies readonly (keyof EndpointOptions)[];

/** The options of `EndpointOptions` missing from `optionNames`: none, or this file does not compile. */
type MissingOptions = Exclude<keyof EndpointOptions, (typeof optionNames)[number]>;
const optionNamesComplete: [MissingOptions] extends [never] ? true : MissingOptions = true;

/** The names `Endpoint.start` and `Endpoint.open` accept (any other is `ERR_UNKNOWN_OPTION`). */
export const knownOptions: ReadonlySet<string> = new Set<string>(optionNamesComplete ? optionNames : []);

/** `startTimeoutMs` unless given: a minute, for members started by hand or one by one. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;

/** `timeoutMs` of `join` unless given. */
export const DEFAULT_JOIN_TIMEOUT_MS = 60_000;
