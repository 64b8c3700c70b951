/**
 * The public API: an `Endpoint` (one per process) and its `Group` handles.
 *
 * The endpoint runs the loop around the deterministic core: an input (a message from
 * the transport, a timer, an API call) goes into the core; the core's output goes out
 * (messages to the transport, events to the groups' handlers). Time, timers,
 * randomness and the transport are injected, so the same code runs over TCP and in
 * the simulator.
 *
 * Events reach the application one at a time, in the endpoint's single delivery order
 * across all its groups: a handler that returns a promise holds the next event (of
 * any group) until it settles. That is what makes the order consistent across
 * overlapping groups (G2) observable by the application, and it is the backpressure:
 * a slow handler slows delivery, never the protocol (other members go on).
 */
import { createHash, randomInt, X509Certificate } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { CoreConfig } from './core/config.js';
import { defaultCoreConfig } from './core/config.js';
import { GroupAccess } from './core/access.js';
import { CoreCounters } from './core/counters.js';
import { EndpointCore, leavePayload } from './core/endpoint-core.js';
import type { AppQueue, CoreEvent, GroupView } from './core/endpoint-core.js';
import type { EndpointView, Failure, FailureCause, LeaveCause, MemberRef, Message, Position, StatusReqMsg } from './core/types.js';
import { EntryKind, memberKey } from './core/types.js';
import { EndpointMetrics, groupTotals, newEndpointCounters, newGroupCounters, retireGroupCounters } from './endpoint-metrics.js';
import type { EndpointCounters, EndpointSnapshot, GroupCounters, MetricsServer, TransportSnapshot } from './endpoint-metrics.js';
import { ClosedError, CohortError, ErrorCode, InputError, OptionError, assertNever } from './errors.js';
import { Fill } from './fill.js';
import { Logger, isLogLevel, isLoggerLike, logLevels } from './log.js';
import type { LoggerLike } from './log.js';
import type { LogLevel } from './log.js';
import type { Clock, Rng, TimerHandle } from './runtime.js';
import type { Transport } from './transport/transport.js';
import { STATUS_HISTORY_MAX, STATUS_VERSION, encodeStatus } from './status.js';
import type { StatusDocument, StatusTransport, StatusViewChange } from './status.js';
import { defaultWireLimits } from './wire/codec.js';

/**
 * A view of a group as the application sees it: member ids in rank order, and what
 * changed since the previous view. Every member of the view receives the same views
 * in the same order (G4), each at the same point of the group's message stream (G5).
 *
 * Rank order is deterministic and the same everywhere, so it can decide roles without
 * any further messages: `members[0]` (the oldest member) is a natural leader, and a
 * member's index is its rank for partitioning work.
 */
export interface View {
  /**
   * The network this view belongs to: an identity fixed when the network was founded
   * (its founder and founding ballot, `id#incarnation/round`). A network founded anew
   * after a total failure has a new one, and its groups start over.
   */
  readonly network: string;
  /**
   * Strictly increasing per group, across its lives too: a group left by all its
   * members is forgotten, and when it is joined again its ids continue above every id
   * a forgotten group had (so they do not start at 1).
   */
  readonly id: number;
  /** Member ids, oldest first. */
  readonly members: readonly string[];
  /** Members new in this view (the joiner itself sees its own id here in its first view). */
  readonly joined: readonly string[];
  /** Members that left gracefully (`leave()` or `stop()`) since the previous view. */
  readonly left: readonly string[];
  /** Members removed since the previous view because they crashed, were cut off, or lagged. */
  readonly failed: readonly string[];
  /**
   * Why each member of `failed` was removed, in the same order. Agreed as part of the
   * view change, so every member reports the same reasons.
   */
  readonly failures: readonly MemberFailure[];
  /**
   * Why each member of `left` left, in the same order: `leave` (its application asked),
   * `handler-failed` (its `onEvent` threw or rejected, so it stopped), or
   * `checkpoint-failed` (its `checkpoint()` failed). Agreed, like `failures`.
   */
  readonly leaveCauses: readonly LeaveCause[];
  /**
   * The change in one line of text, the same at every member, e.g.
   * `"m3 failed: m1 heard nothing from it for 1012 ms (verified: it did not answer the view change)"`;
   * `"m4 joined"`; `"m2 left"`. See {@link viewReason}.
   */
  readonly reason: string;
  /** The same lists with incarnations, to tell a restarted member from its old self. */
  readonly refs: {
    /** {@link View.members} with incarnations. */
    readonly members: readonly MemberRef[];
    /** {@link View.joined} with incarnations. */
    readonly joined: readonly MemberRef[];
    /** {@link View.left} with incarnations. */
    readonly left: readonly MemberRef[];
    /** {@link View.failed} with incarnations. */
    readonly failed: readonly MemberRef[];
  };
}

/** Why a member was removed from a view as failed (see {@link View.failures}). */
export interface MemberFailure {
  /** The failed member's id. */
  readonly member: string;
  /** The failed member's incarnation. */
  readonly incarnation: number;
  /** The member whose suspicion removed it: the one that proposed the view change. */
  readonly suspectedBy: string;
  /**
   * `silence`: nothing heard for longer than the suspicion timeout; `refused`: its host
   * refused connections (the process is gone); `unresponsive`: it did not answer the
   * view change; `laggard`: alive but it held the group back for longer than the lag
   * timeout; `replaced`: it restarted as a new incarnation; `isolated`: it said it could
   * not hear a majority of the view; `slow-consumer`: it said its application stayed
   * behind (a group's queue of undelivered events full) for longer than the lag timeout.
   */
  readonly cause: FailureCause;
  /** How long `suspectedBy` had heard nothing from it when it proposed the change (ms). */
  readonly silentMs: number;
  /**
   * The suspicion was checked: the member did not answer the view change either, or
   * its new incarnation asked to join. False for a laggard, which answered.
   */
  readonly verified: boolean;
}

/**
 * One event of a group's ordered stream, as given to `onEvent` or by iterating the
 * group. A joiner's stream begins with its first `view`, then (for every joiner) a
 * `state`, then messages and further views in the group's total order.
 */
export type GroupEvent =
  | {
      /** A new view of the group was installed. */
      readonly type: 'view';
      /** The new view. */
      readonly view: View;
    }
  | {
      /**
       * The state this member starts from, received from an existing member: delivered
       * once, right after its first view. A member that starts the group — nobody in it
       * holds a state, because it is new, or everyone who had one is gone — gets no
       * `state` event: its first view is followed directly by the group's messages.
       */
      readonly type: 'state';
      /** What an existing member's `checkpoint()` returned at the join point (empty when it has no `checkpoint`). */
      readonly data: Uint8Array;
    }
  /**
   * A multicast, in the group's order. `data` is a view into a buffer the endpoint may
   * still retransmit to other members: treat it as read-only, and copy it
   * (`data.slice()`) to change it.
   */
  | {
      /** A message multicast to the group. */
      readonly type: 'message';
      /** The sender's member id. */
      readonly sender: string;
      /** The sender's incarnation, to tell a restarted sender from its old self. */
      readonly senderInc: number;
      /** The payload (read-only). */
      readonly data: Uint8Array;
      /** Whether it was sent with `{ safe: true }` (held by every member before delivery). */
      readonly safe: boolean;
    }
  | {
      /**
       * This member is in a minority (or alone) and cannot make progress (G9): it
       * delivers nothing until it rejoins a majority, usually as an `excluded` member.
       */
      readonly type: 'blocked';
    }
  | {
      /**
       * The others removed this member from the view. The handle is closed; the
       * endpoint rejoins as a new incarnation by itself, and the application joins
       * its groups again to get a fresh state.
       */
      readonly type: 'excluded';
    };

/** What the application gives when it joins a group. */
export interface GroupHandlers {
  /**
   * Receives the group's events one at a time, in order. Returning a promise holds
   * the next event (of every group of this endpoint) until it settles.
   */
  onEvent?: (event: GroupEvent) => void | Promise<void>;
  /**
   * Asked of one existing member at the exact point where a member joins: the state
   * the joiner starts from. Omit it for groups without state (the joiner gets an
   * empty one). If it throws, rejects or returns no `Uint8Array`, this member leaves
   * the group (`ERR_CHECKPOINT`, see `onError`) and another member provides the state;
   * if none can, the join fails with `ERR_CHECKPOINT`.
   */
  checkpoint?: () => Uint8Array | Promise<Uint8Array>;
  /**
   * On a joiner, while the group's state arrives: bytes received so far of the total,
   * for a progress bar. Called outside the group's order (the first view and the
   * `state` event wait for the whole state), at least once with `received === total`.
   * Errors thrown here are ignored.
   */
  onProgress?: (progress: StateProgress) => void;
  /**
   * Told once if `onEvent` throws or rejects (a `CohortError` with code `ERR_HANDLER`,
   * the handler's error as its `cause`). This member's replica can no longer be trusted
   * to match the others', so it delivers nothing more in the group, the calls waiting
   * on the group reject with that error, and it leaves the group (the others see it
   * leave). Without `onError` the error is logged at `error` level. Errors thrown here
   * are ignored. Join again for a fresh state.
   */
  onError?: (error: CohortError) => void;
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

/** How far a joiner's state transfer has come (see {@link GroupHandlers.onProgress}). */
export interface StateProgress {
  /** The group whose state is being transferred. */
  readonly group: string;
  /** Bytes received, a contiguous prefix of the state. */
  readonly received: number;
  /** The state's size in bytes. */
  readonly total: number;
}

/** The default of `multicast`'s options, shared: nothing to allocate per call. */
const noMulticastOptions: MulticastOptions = Object.freeze({});

/** Options of a multicast. */
export interface MulticastOptions {
  /**
   * Safe delivery: the message is delivered (and the promise resolves) only once every
   * member of the view holds it, so it survives its sender's crash (G7).
   * @default false
   */
  readonly safe?: boolean;
  /**
   * Stops waiting: the promise rejects with `ERR_ABORTED`. The message was handed to
   * the total order already and may still be delivered, to every member alike.
   */
  readonly signal?: AbortSignal;
}

/** Options of `Group.leave` and `Endpoint.stop`. */
export interface LeaveOptions {
  /**
   * `Group.leave`: stop waiting (rejects with `ERR_ABORTED`; the leave goes on).
   * `Endpoint.stop`: give up the graceful stop and close at once, as a crash would
   * (the others remove this endpoint after their timeout); rejects with `ERR_ABORTED`.
   */
  readonly signal?: AbortSignal;
}

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

/** `startTimeoutMs` unless given: a minute, for members started by hand or one by one. */
const DEFAULT_START_TIMEOUT_MS = 60_000;
/** Addresses remembered while starting (for `start`'s diagnosis): a bound, not a need. */
const HEARD_FROM_MAX = 4096;
/** While starting, what it waits for is logged this often. */
const START_LOG_EVERY_MS = 5_000;

/** `timeoutMs` of `join` unless given. */
const DEFAULT_JOIN_TIMEOUT_MS = 60_000;

/**
 * With `tls.idFrom: 'cn'` the others accept from this member only messages whose id is
 * its certificate's subject CN: a mismatch would make it unable to join, so say so now.
 */
function checkOwnCertificate(id: unknown, cert: unknown): void {
  if (typeof cert !== 'string' && !(cert instanceof Uint8Array)) return; // the transport names the problem
  let cn: string | undefined;
  try {
    cn = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert)).subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
  } catch {
    return; // not a certificate: the transport refuses it with its reason
  }
  if (cn !== id) {
    throw new OptionError(`option tls.cert names CN=${cn ?? '(none)'}, but option id is ${JSON.stringify(id)}: with tls.idFrom 'cn' (the default) a member's id must be its certificate's subject CN`);
  }
}

/** A timeout option as given (ms, 0: none), or an OptionError naming it. */
function checkTimeout(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new OptionError(`option ${name} must be a non-negative number of ms (0: no timeout), got ${String(ms)}`);
  return ms;
}

/** `signal` as given, or an OptionError when it is not an AbortSignal. */
function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw new OptionError('option signal must be an AbortSignal');
  return signal;
}

/**
 * `promise`, unless `timeoutMs` (0: none) passes or `signal` aborts first: then the
 * error `onGiveUp(aborted)` makes (it may act, e.g. undo). Timer and listener go once
 * settled.
 */
function settleWithin<T>(clock: Clock, promise: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, onGiveUp: (aborted: boolean) => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: TimerHandle | null = null;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer !== null) clock.clearTimer(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const giveUp = (aborted: boolean): void => {
      if (finish()) reject(onGiveUp(aborted));
    };
    const onAbort = (): void => giveUp(true);
    if (timeoutMs > 0) timer = clock.setTimer(timeoutMs, () => giveUp(false));
    if (signal !== undefined) {
      if (signal.aborted) return giveUp(true);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    promise.then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e: unknown) => {
        if (finish()) reject(e);
      },
    );
  });
}

const knownOptions = new Set([
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
  'onHandlerError',
  'world',
  'onLog',
  'onFatal',
  'logLevel',
  'logger',
  'metrics',
]);

const encoder = new TextEncoder();

/** Check a member id or group name: a non-empty string of at most `max` UTF-8 bytes. */
function checkName(what: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InputError(ErrorCode.badName, `${what} must be a non-empty string`);
  }
  if (/[\u0000-\u001f]/.test(value)) {
    throw new InputError(ErrorCode.badName, `${what} must not contain control characters`);
  }
  const bytes = encoder.encode(value).length;
  if (bytes > max) {
    throw new InputError(ErrorCode.nameTooLong, `${what} is ${bytes} bytes long; the limit is ${max}`);
  }
  return value;
}

/** An integer option of at least `min` (0 or 1). */
function intOption(opts: Record<string, unknown>, name: string, fallback: number, min: 0 | 1): number {
  const v = opts[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new OptionError(`option ${name} must be a ${min === 1 ? 'positive' : 'non-negative'} integer, got ${String(v)}`);
  }
  return v;
}

function positiveInt(opts: Record<string, unknown>, name: string, fallback: number): number {
  return intOption(opts, name, fallback, 1);
}

/** A bundle's length prefix takes up to five bytes of a data message's payload. */
const payloadLimit = defaultWireLimits.payloadBytesMax - 5;

/** `positiveInt`, at most `max` (the wire's payload limit). */
function boundedInt(opts: Record<string, unknown>, name: string, fallback: number, max: number): number {
  const v = positiveInt(opts, name, fallback);
  if (v > max) throw new OptionError(`option ${name} must be at most ${max}, got ${v}`);
  return v;
}

function flag(opts: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = opts[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new OptionError(`option ${name} must be true or false, got ${String(v)}`);
  return v;
}

function coreConfigFrom(opts: EndpointOptions): CoreConfig {
  const o = opts as unknown as Record<string, unknown>;
  const suspectTimeoutMs = positiveInt(o, 'suspectTimeoutMs', defaultCoreConfig.suspectTimeoutMs);
  const heartbeatMs = positiveInt(o, 'heartbeatMs', Math.min(defaultCoreConfig.heartbeatMs, Math.max(1, Math.floor(suspectTimeoutMs / 4))));
  if (heartbeatMs * 2 > suspectTimeoutMs) {
    throw new OptionError(`option heartbeatMs (${heartbeatMs}) must be at most half of suspectTimeoutMs (${suspectTimeoutMs})`);
  }
  return {
    ...defaultCoreConfig,
    heartbeatMs,
    suspectTimeoutMs,
    pauseThresholdMs: Math.max(heartbeatMs * 2, Math.floor(suspectTimeoutMs * 0.3)),
    flushTimeoutMs: positiveInt(o, 'flushTimeoutMs', Math.max(heartbeatMs * 2, Math.floor(suspectTimeoutMs / 2))),
    retransmitMs: positiveInt(o, 'retransmitMs', defaultCoreConfig.retransmitMs),
    ackDelayMs: intOption(o, 'ackDelayMs', defaultCoreConfig.ackDelayMs, 0),
    sendWindowMax: positiveInt(o, 'sendWindowMax', defaultCoreConfig.sendWindowMax),
    sendWindowBytesMax: positiveInt(o, 'sendWindowBytesMax', defaultCoreConfig.sendWindowBytesMax),
    bundleBytesMax: boundedInt(o, 'bundleBytesMax', defaultCoreConfig.bundleBytesMax, payloadLimit),
    suspectRefused: flag(o, 'suspectRefused', defaultCoreConfig.suspectRefused),
    lagTimeoutMs: positiveInt(o, 'lagTimeoutMs', suspectTimeoutMs * 5),
    orderWindowMax: positiveInt(o, 'orderWindowMax', defaultCoreConfig.orderWindowMax),
    orderWindowBytesMax: positiveInt(o, 'orderWindowBytesMax', defaultCoreConfig.orderWindowBytesMax),
    membersMax: positiveInt(o, 'membersMax', defaultCoreConfig.membersMax),
    pendingJoinsMax: positiveInt(o, 'pendingJoinsMax', defaultCoreConfig.pendingJoinsMax),
    groupsPerEndpointMax: positiveInt(o, 'groupsPerEndpointMax', defaultCoreConfig.groupsPerEndpointMax),
    messageBytesMax: boundedInt(o, 'messageBytesMax', defaultCoreConfig.messageBytesMax, payloadLimit),
    stateBytesMax: positiveInt(o, 'stateBytesMax', defaultCoreConfig.stateBytesMax),
    stateChunkBytes: positiveInt(o, 'stateChunkBytes', defaultCoreConfig.stateChunkBytes),
  };
}

/** Bounds of what waits in an endpoint for the application or for the network. */
interface QueueBounds {
  readonly deliveryEvents: number;
  readonly deliveryBytes: number;
  readonly pendingMulticasts: number;
  readonly pendingBytes: number;
}

function queueBoundsFrom(opts: EndpointOptions): QueueBounds {
  const o = opts as unknown as Record<string, unknown>;
  return {
    deliveryEvents: positiveInt(o, 'deliveryQueueMax', 8192),
    deliveryBytes: positiveInt(o, 'deliveryQueueBytesMax', 16 * 1024 * 1024),
    pendingMulticasts: positiveInt(o, 'pendingMulticastsMax', 65536),
    pendingBytes: positiveInt(o, 'pendingMulticastBytesMax', 64 * 1024 * 1024),
  };
}

function accessFrom(opts: EndpointOptions): GroupAccess {
  if (opts.groupAccess === undefined) return GroupAccess.open;
  try {
    return GroupAccess.from(opts.groupAccess);
  } catch (e) {
    throw new OptionError(`option ${(e as Error).message}`);
  }
}

/**
 * The network name the transport checks at the handshake: the name itself, plus the
 * access policy's digest when there is one, so that members with different policies
 * (which would decide group membership differently) never talk.
 */
function networkIdentity(network: string, access: GroupAccess): string {
  if (access.isOpen) return network;
  return `${network} (access ${createHash('sha256').update(access.canonical()).digest('hex').slice(0, 16)})`;
}

/** Sampling interval of the event-loop delay histogram, ms: a cheap timer, coarse enough. */
const loopDelayResolutionMs = 20;

/** Status replies an endpoint sends per second at most; more requests are ignored. */
const statusRepliesPerSecondMax = 100;

/** A view change for the status history, with its agreed reasons. */
function viewChange(
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

function toView(v: GroupView): View {
  const ids = (ms: readonly MemberRef[]): string[] => ms.map((m) => m.id);
  const view = {
    network: v.network,
    id: v.id,
    members: ids(v.members),
    joined: ids(v.joined),
    left: ids(v.left),
    failed: ids(v.failed),
    failures: v.failures.map(toMemberFailure),
    leaveCauses: v.leaveCauses,
    refs: { members: v.members, joined: v.joined, left: v.left, failed: v.failed },
  };
  return { ...view, reason: viewReason(view) };
}

function toMemberFailure(f: Failure): MemberFailure {
  return { member: f.member.id, incarnation: f.member.inc, suspectedBy: f.by.id, cause: f.cause, silentMs: f.silentMs, verified: f.verified };
}

/** One failure in words: what happened, who saw it, and whether it was checked. */
export function describeFailure(f: MemberFailure): string {
  const check = f.verified ? 'verified: it did not answer the view change' : 'unverified';
  switch (f.cause) {
    case 'silence':
      return `${f.member} failed: ${f.suspectedBy} heard nothing from it for ${f.silentMs} ms (${check})`;
    case 'refused':
      return `${f.member} failed: its host refused ${f.suspectedBy}'s connections, its process is gone (${f.silentMs} ms after its last message; ${check})`;
    case 'unresponsive':
      return `${f.member} failed: it did not answer ${f.suspectedBy}'s view change (silent for ${f.silentMs} ms)`;
    case 'laggard':
      return `${f.member} removed by ${f.suspectedBy}: alive but too slow, it held the group back (laggard; ${check})`;
    case 'replaced':
      return `${f.member} failed: it restarted as a new incarnation`;
    case 'isolated':
      return `${f.member} removed by ${f.suspectedBy}: it said it could not hear a majority of the view (a one-way or partial cut into it; ${check})`;
    case 'slow-consumer':
      return `${f.member} removed by ${f.suspectedBy}: a slow consumer, its application stayed behind (a group's queue of undelivered events stayed full for the lag timeout; ${check})`;
    default:
      return assertNever(f.cause);
  }
}

/**
 * A view change in one line: who joined, who left gracefully, who failed and why (see
 * {@link describeFailure}). A group's view that changes none of its members says why
 * it exists: the network's view changed, and every group gets a new view then, so that
 * its views mark the flushes its messages are delivered between (and a member that
 * reported `blocked` learns its quorum is back).
 */
export function viewReason(v: Pick<View, 'joined' | 'left' | 'failed' | 'failures'> & { readonly leaveCauses?: readonly LeaveCause[] }): string {
  const parts: string[] = [];
  if (v.joined.length > 0) parts.push(`${v.joined.join(', ')} joined`);
  const plain = v.left.filter((_, i) => (v.leaveCauses?.[i] ?? 'leave') === 'leave');
  if (plain.length > 0) parts.push(`${plain.join(', ')} left`);
  v.left.forEach((m, i) => {
    const cause = v.leaveCauses?.[i] ?? 'leave';
    if (cause === 'handler-failed') parts.push(`${m} left: its onEvent handler failed, so it stopped delivering here`);
    if (cause === 'checkpoint-failed') parts.push(`${m} left: its checkpoint failed, so it could not provide a joiner's state`);
  });
  v.failed.forEach((m, i) => {
    const f = v.failures[i];
    parts.push(f === undefined ? `${m} failed` : describeFailure(f));
  });
  return parts.length === 0 ? 'no member of the group changed: the network changed its view (every group gets a new view then, a flush point for its messages)' : parts.join('; ');
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** A call waiting for its entry's delivery: a multicast (with its payload's bytes) or a leave. */
interface PendingCall extends Deferred<void> {
  readonly multicast: boolean;
  readonly bytes: number;
}

function pendingCall(multicast: boolean, bytes: number): PendingCall {
  // Not through `deferred`: one object less per multicast.
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject, multicast, bytes };
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejections nobody waits for must not crash the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One queued application event, or a checkpoint to take, in delivery order. */
type Job =
  | {
      readonly kind: 'event';
      readonly group: string;
      /** The handle whose delivery queue counts it (see `queueEvent`). */
      readonly handle: Group | undefined;
      /** When the protocol delivered it (clock ms): see `deliveredAt`. */
      readonly at: number;
      readonly event: GroupEvent;
      readonly localId: number | null;
      readonly firstView: boolean;
      readonly rejoining?: boolean;
    }
  | { readonly kind: 'checkpoint'; readonly group: string; readonly joiner: MemberRef; readonly pos: Position }
  | { readonly kind: 'left'; readonly group: string; readonly localId: number }
  | { readonly kind: 'state-lost'; readonly group: string }
  | { readonly kind: 'resolve'; readonly localId: number }
  | { readonly kind: 'fail-pending'; readonly error: Error; readonly localIds: readonly number[] };

/**
 * A process's membership in the network, and the factory of its group handles.
 *
 * @example
 * ```ts
 * const ep = await Endpoint.start({ id: 'ctl-1', listen: '127.0.0.1:7001', seeds: ['127.0.0.1:7002'] });
 * const sector = await ep.join('atc/sector-xyz', { onEvent: (e) => apply(e), checkpoint: () => encode(state) });
 * await sector.multicast(new TextEncoder().encode('hello'));
 * await ep.stop();
 * ```
 */
export class Endpoint {
  /** This member's name, as given in `EndpointOptions.id`. */
  readonly id: string;
  private readonly world: EndpointWorld;
  private readonly cfg: CoreConfig;
  private readonly access: GroupAccess;
  private readonly seeds: readonly string[];
  /** Join every group again after an exclusion (option `rejoin`). */
  private readonly rejoin: boolean;
  /** A failed handler ends the process (option `onHandlerError: 'exit'`). */
  private readonly exitOnHandlerError: boolean;
  private readonly onLog: ((line: string, level: LogLevel) => void) | undefined;
  private readonly onFatal: ((err: CohortError) => void) | undefined;
  /** Set once an internal invariant broke: the endpoint is closed for good. */
  private fatalError: CohortError | null = null;
  private readonly logger: LoggerLike | undefined;
  /** The core's counters, kept across incarnations. */
  private readonly coreCounters = new CoreCounters();
  /** @internal The endpoint's own counters (per group, view changes). */
  readonly counters: EndpointCounters = newEndpointCounters();
  private readonly metrics: EndpointMetrics | null;
  private metricsServer: MetricsServer | null = null;
  private metricsServerClosed: Promise<void> = Promise.resolve();
  private retransmitsLogged = { at: 0, naks: 0, answered: 0, data: 0, state: 0 };
  private core: EndpointCore;
  private readonly groups = new Map<string, Group>();
  private readonly pending = new Map<number, PendingCall>();
  /** Bounds of the groups' delivery queues and of `pending` multicasts. */
  private readonly bounds: QueueBounds;
  /** The multicasts in `pending`, against `pendingMulticastsMax` (backpressure). */
  private readonly unsettled: Fill;
  /** Calls of `Group.ready` waiting for `unsettled` to drain. */
  private roomWaiters: Deferred<void>[] = [];
  /** Groups served by the current core whose delivery queue is full (see `Fill`). */
  private fullGroups = 0;
  /** Of those, the groups whose queue is at or above its bound now. */
  private overGroups = 0;
  /** What the core was last told of the application's queues (`setAppQueue`). */
  private toldQueue: AppQueue = 'ok';
  /** How many `drive` calls are running (they nest: a checkpoint given at once drives). */
  private driving = 0;
  /** When the current step began (clock ms): the delivery time of the events it queues. */
  private stepAt = 0;
  private eventAt = 0;

  /**
   * @internal When the protocol delivered the event being handed to the application
   * (clock ms) — earlier than now when a slow handler held it in the queue. The
   * simulator's recorders time histories with it: a network's life is the protocol's.
   */
  get deliveredAt(): number {
    return this.eventAt;
  }
  private readonly jobs: Job[] = [];
  private dispatching = false;
  private flushQueued = false;
  private readonly flushSends = (): void => {
    this.flushQueued = false;
    if (this.closed) return;
    this.guard(() => {
      this.core.flush(this.world.clock.now());
      this.drive();
    });
  };
  private timer: unknown = null;
  /** When `timer` fires (clock ms). */
  private timerDue = Infinity;
  private started = deferred<void>();
  /** Until the first view: the addresses any message came from (what `start` waits on). */
  private heardFrom: Set<string> | null = new Set();
  private stoppedD = deferred<void>();
  private stopping = false;
  private closed = false;
  private incarnations = 0;

  // ---------------------------------------------------------------- status (probes)
  /** Application traffic since start, for the status document's counters and rates. */
  /** Totals over every group this endpoint was ever in: what the status document reports. */
  private get counts(): { messagesSent: number; bytesSent: number; messagesDelivered: number; bytesDelivered: number } {
    const t = groupTotals(this.counters);
    return { messagesSent: t.multicasts, bytesSent: t.multicastBytes, messagesDelivered: t.delivered, bytesDelivered: t.deliveredBytes };
  }
  /** Counter snapshots: rates are taken against the older one (see `status`). */
  private samples: { at: number; counts: Endpoint['counts'] }[];
  private readonly startedAt: number;
  /** The last endpoint view changes, oldest first. */
  private readonly viewHistory: StatusViewChange[] = [];
  /** The last view changes per group, oldest first. */
  private readonly groupHistory = new Map<string, StatusViewChange[]>();
  /** Event-loop delay, for real processes only (`Endpoint.start`). */
  private loopDelay: IntervalHistogram | null = null;
  private loopDelaySince = 0;
  /** Status replies sent in the current second, to bound what probes can cost. */
  private statusReplies = { second: -1, count: 0 };

  private constructor(opts: EndpointOptions, world: EndpointWorld, cfg: CoreConfig, bounds: QueueBounds) {
    this.id = opts.id;
    this.world = world;
    this.cfg = cfg;
    this.bounds = bounds;
    this.unsettled = new Fill(bounds.pendingMulticasts, bounds.pendingBytes);
    this.access = accessFrom(opts);
    this.seeds = [...(opts.seeds ?? [])];
    this.rejoin = opts.rejoin ?? true;
    this.exitOnHandlerError = opts.onHandlerError === 'exit';
    this.onLog = opts.onLog;
    this.onFatal = opts.onFatal;
    this.logger = opts.logger ?? (opts.logLevel === undefined ? undefined : new Logger({ level: opts.logLevel, member: opts.id }));
    const inc = opts.incarnation ?? this.drawIncarnation();
    this.core = this.newCore(inc);
    this.metrics =
      opts.metrics === undefined || opts.metrics === false
        ? null
        : new EndpointMetrics({ member: this.id, core: this.coreCounters, endpoint: this.counters, snapshot: () => this.snapshot() });
    this.startedAt = world.clock.now();
    this.samples = [{ at: this.startedAt, counts: { ...this.counts } }];
  }

  /**
   * Start an endpoint and wait until it is a member of a network view (it founds one
   * when it has no seeds, or when started together with its seeds). Without `world`
   * it listens on TCP at `listen`.
   *
   * @throws OptionError when an option is missing, unknown or out of range (the
   *   message names it), or when listening beyond loopback without `secret`, `tls`
   *   or `insecure` (`ERR_INSECURE`).
   * @throws InputError when `id` is empty, too long or holds control characters.
   * @throws CohortError when it is not in a view within `startTimeoutMs`, or `signal`
   *   aborts it: everything it opened is closed first, and the code says why —
   *   `ERR_REFUSED` (a seed refused the handshake: another secret, an untrusted
   *   certificate, another network name), `ERR_UNREACHABLE` (no seed answered),
   *   `ERR_NO_QUORUM` (seeds answer, but not every seed is starting, so no network can
   *   be founded, or the network they are in cannot take this endpoint in), else
   *   `ERR_TIMEOUT`; `ERR_ABORTED` when aborted. The message names each seed's state.
   */
  static async start(opts: EndpointOptions): Promise<Endpoint> {
    let options = opts;
    const isObject = opts !== null && typeof opts === 'object';
    const timeoutMs = checkTimeout('startTimeoutMs', isObject ? (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) : 0);
    const signal = checkSignal(isObject ? opts.signal : undefined);
    if (signal?.aborted === true) throw new CohortError(ErrorCode.aborted, `start of endpoint ${String(opts.id)} aborted before it began`, { cause: signal.reason });
    const metricsAt = isObject && typeof opts.metrics === 'string' ? (await import('./transport/tcp.js')).parseHostPort(opts.metrics, 'option metrics') : null;
    if (isObject && opts.world === undefined) {
      // A real process: TCP, the monotonic clock, the operating system's randomness.
      if (typeof opts.listen !== 'string') throw new OptionError('option listen (host:port) is required without a world');
      for (const k of Object.keys(opts)) {
        if (!knownOptions.has(k)) throw new OptionError(`unknown option ${k}`, ErrorCode.unknownOption);
      }
      const { TcpTransport, parseHostPort } = await import('./transport/tcp.js');
      const { realClock, cryptoRng } = await import('./runtime-node.js');
      checkLogOptions(opts);
      if (Array.isArray(opts.seeds)) opts.seeds.forEach((seed, i) => parseHostPort(seed, `option seeds[${i}]`));
      if (opts.tls !== undefined && opts.tls !== null && typeof opts.tls === 'object' && (opts.tls.idFrom ?? 'cn') === 'cn') checkOwnCertificate(opts.id, opts.tls.cert);
      const transportLog = transportLogOf(opts);
      const transport = await TcpTransport.listen({
        listen: opts.listen,
        ...(opts.advertise === undefined ? {} : { advertise: opts.advertise }),
        network: networkIdentity(opts.network ?? 'cohort', accessFrom(opts)),
        ...(transportLog === undefined ? {} : { onLog: transportLog }),
        ...(opts.secret === undefined ? {} : { secret: opts.secret }),
        ...(opts.insecure === undefined ? {} : { insecure: opts.insecure }),
        ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      });
      options = { ...opts, world: { transport, clock: realClock(), rng: cryptoRng() } };
    }
    let ep: Endpoint;
    try {
      ep = Endpoint.open(metricsAt === null ? options : { ...options, metrics: true });
    } catch (err) {
      // A bad option: the listener opened above must not keep the process running.
      if (options !== opts) await options.world!.transport.close();
      throw err;
    }
    if (options !== opts) ep.monitorEventLoop();
    if (metricsAt === null) {
      await ep.waitStarted(timeoutMs, signal);
      return ep;
    }
    // Serving starts before the endpoint is in a view, so a joiner that waits can be watched.
    try {
      const { serveMetrics } = await import('./endpoint-metrics.js');
      ep.metricsServer = await serveMetrics(metricsAt.host, metricsAt.port, () => ep.metricsText());
    } catch (err) {
      ep.close();
      throw new OptionError(`option metrics ${opts.metrics as string}: cannot listen (${(err as Error).message})`);
    }
    ep.log(`metrics at http://${ep.metricsServer.address}/metrics`, 'info', { metrics: ep.metricsServer.address });
    await ep.waitStarted(timeoutMs, signal);
    return ep;
  }

  /**
   * Wait to be in a view; say what is awaited every `START_LOG_EVERY_MS`. On timeout or
   * abort, close everything and reject with the reason (see `start`).
   */
  private async waitStarted(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const clock = this.world.clock;
    let logTimer: TimerHandle | null = null;
    const logLater = (): void => {
      logTimer = clock.setTimer(START_LOG_EVERY_MS, () => {
        if (this.closed) return;
        this.log(`still starting: ${this.startDiagnosis().text}`, 'info');
        logLater();
      });
    };
    logLater();
    try {
      await settleWithin(clock, this.started.promise, timeoutMs, signal, (aborted) => {
        const d = this.startDiagnosis();
        const code = aborted ? ErrorCode.aborted : (d.code ?? ErrorCode.timeout);
        const err = new CohortError(code, `${aborted ? 'start aborted' : `not in a view after ${timeoutMs} ms (option startTimeoutMs)`}: ${d.text}`, aborted ? { cause: signal?.reason } : undefined);
        this.log(err.message, 'warn');
        this.close(err);
        return err;
      });
    } finally {
      if (logTimer !== null) clock.clearTimer(logTimer);
    }
  }

  /** What a starting endpoint waits for, in words, and the error code that names it (null: no better than a timeout). */
  private startDiagnosis(): { text: string; code: ErrorCode | null } {
    const seeds = this.seeds;
    const p = this.core.startProgress;
    if (seeds.length === 0) return { text: 'no seeds: founding a network of one', code: null };
    const transport = this.world.transport;
    const parts: string[] = [];
    let refused = 0;
    let answered = 0;
    for (const a of seeds) {
      const problem = transport.peerProblem?.(a) ?? null;
      const heard = this.heardFrom?.has(a) === true;
      if (heard) answered++;
      if (p.bootstrapping.includes(a)) parts.push(`${a} starting too`);
      else if (p.contact === a || p.known?.members.some((m) => m.addr === a) === true) parts.push(`${a} in the network`);
      else if (heard) parts.push(`${a} answers`);
      else if (problem !== null) {
        if (problem.kind === 'refused') refused++;
        parts.push(`${a} ${problem.kind === 'refused' ? 'refuses us' : 'unreachable'} (${problem.reason})`);
      } else parts.push(`${a} silent`);
    }
    let what: string;
    let code: ErrorCode | null;
    if (this.core.phase === 'joining') {
      what = `a network answered${p.contact === null ? '' : ` (coordinator ${p.contact})`} but has not taken this endpoint in: it may have no majority, or be changing its view`;
      code = ErrorCode.noQuorum;
    } else if (refused > 0 && answered === 0) {
      what = 'a seed refused the handshake';
      code = ErrorCode.refused;
    } else if (answered === 0) {
      what = 'no seed answers';
      code = ErrorCode.unreachable;
    } else {
      what = `no network answers, and founding one needs every seed starting at once (${p.bootstrapping.length + 1} of ${new Set([...seeds, this.address]).size} are)`;
      code = ErrorCode.noQuorum;
    }
    return { text: `${what}; ${parts.join(', ')}`, code };
  }

  /**
   * Start an endpoint without waiting: `ready` resolves once it is in a view. The
   * simulator uses this to start many endpoints at the same virtual instant.
   */
  static open(opts: EndpointOptions): Endpoint {
    if (opts === null || typeof opts !== 'object') throw new OptionError('options must be an object');
    for (const k of Object.keys(opts)) {
      if (!knownOptions.has(k)) throw new OptionError(`unknown option ${k}`, ErrorCode.unknownOption);
    }
    const cfg = coreConfigFrom(opts);
    const bounds = queueBoundsFrom(opts);
    checkName('id', opts.id, cfg.nameBytesMax);
    if (opts.seeds !== undefined && (!Array.isArray(opts.seeds) || opts.seeds.some((s) => typeof s !== 'string' || s.length === 0))) {
      throw new OptionError('option seeds must be an array of host:port strings');
    }
    if (opts.rejoin !== undefined && typeof opts.rejoin !== 'boolean') throw new OptionError('option rejoin must be a boolean');
    if (opts.onHandlerError !== undefined && opts.onHandlerError !== 'leave' && opts.onHandlerError !== 'exit') {
      throw new OptionError(`option onHandlerError must be 'leave' or 'exit', got ${JSON.stringify(opts.onHandlerError)}`);
    }
    if (opts.incarnation !== undefined && (!Number.isSafeInteger(opts.incarnation) || opts.incarnation < 0)) {
      throw new OptionError('option incarnation must be a non-negative integer');
    }
    checkLogOptions(opts);
    if (opts.metrics !== undefined && typeof opts.metrics !== 'boolean') {
      throw new OptionError(
        typeof opts.metrics === 'string'
          ? 'option metrics with an address serves HTTP: use Endpoint.start (or metrics: true and metricsText())'
          : `option metrics must be "host:port" or true, got ${String(opts.metrics)}`,
      );
    }
    const world = opts.world;
    if (world === undefined) {
      throw new OptionError('Endpoint.open needs option world (a transport, clock and rng); use Endpoint.start for TCP');
    }
    const ep = new Endpoint(opts, world, cfg, bounds);
    world.transport.onMessage((from, msg) => ep.onMessage(from, msg));
    world.transport.onRefused((addr) => ep.onRefused(addr));
    ep.core.start(world.clock.now());
    ep.drive();
    ep.scheduleTick();
    return ep;
  }

  /** Resolves once this endpoint is in a view of the network. */
  get ready(): Promise<void> {
    return this.started.promise;
  }

  /** @internal The clock this endpoint runs on (for the group handles' timers). */
  get clock(): Clock {
    return this.world.clock;
  }

  /** This endpoint's current incarnation (changes when it rejoins after exclusion). */
  get incarnation(): number {
    return this.core.self.inc;
  }

  /** The address other endpoints reach this one at. */
  get address(): string {
    return this.world.transport.address;
  }

  /** The endpoint-level view this endpoint has installed. */
  get view(): EndpointView {
    return this.core.currentView;
  }

  /** The handle of a group this endpoint joined (or is joining), if any. */
  group(name: string): Group | undefined {
    return this.groups.get(name);
  }

  /**
   * Where the metrics are served (`host:port`, the port picked when 0 was asked), or
   * `null` without option `metrics: 'HOST:PORT'`.
   */
  get metricsAddress(): string | null {
    return this.metricsServer?.address ?? null;
  }

  /**
   * The metrics now, in Prometheus' text exposition format 0.0.4 (what `/metrics`
   * serves).
   * @throws OptionError when the endpoint was started without option `metrics`.
   */
  metricsText(): string {
    if (this.metrics === null) throw new OptionError('metrics are off: start the endpoint with option metrics');
    return this.metrics.expose();
  }

  /**
   * Protocol counters, for status displays and tests. A snapshot; the numbers and
   * their meaning may change between versions.
   */
  stats(): ReturnType<EndpointCore['stats']> & {
    /** `'bootstrapping'`, `'joining'`, `'member'` (in a view), `'stopped'` or `'excluded'`. */
    phase: string;
    /** Member ids this endpoint suspects of having failed right now. */
    suspects: string[];
  } {
    return { ...this.core.stats(), phase: this.core.phase, suspects: this.core.suspected() };
  }

  /**
   * This endpoint's status document: view and coordinator, suspects, groups and their
   * members, counters and rates, flow control, event-loop delay and the last view
   * changes — what `cohort status` shows. Rates are measured since the previous call
   * that is at least a second old (or since start), and the event-loop histogram is
   * reset by each call, so two probes polling one endpoint share those windows.
   */
  status(): StatusDocument {
    const now = this.world.clock.now();
    // Rates over at least a second when possible: against the newest snapshot at
    // least a second old, and the current one becomes a snapshot once a second passed.
    const last = this.samples[this.samples.length - 1]!;
    const base = now - last.at >= 1000 || this.samples.length === 1 ? last : this.samples[0]!;
    if (now - last.at >= 1000) this.samples = [last, { at: now, counts: { ...this.counts } }];
    const windowMs = Math.max(0, now - base.at);
    const rate = (k: keyof Endpoint['counts']): number =>
      windowMs === 0 ? 0 : Math.round(((this.counts[k] - base.counts[k]) * 1000 * 100) / windowMs) / 100;
    const core = this.core.stats();
    const view = this.core.currentView;
    const members = view.members.map((m) => ({ id: m.id, incarnation: m.inc, address: m.addr }));
    let eventLoop: StatusDocument['eventLoop'] = null;
    if (this.loopDelay !== null) {
      const h = this.loopDelay;
      // The histogram records the time between its timer's runs, the sampling interval
      // included: the delay is what exceeds it.
      const ms = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, Math.round((ns - loopDelayResolutionMs * 1e6) / 1e4) / 100) : 0);
      eventLoop = { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), windowMs: Math.round(now - this.loopDelaySince) };
      h.reset();
      this.loopDelaySince = now;
    }
    const t = this.world.transport as Transport & { stats?: () => StatusTransport };
    let transport: StatusTransport | null = null;
    if (typeof t.stats === 'function') {
      const x = t.stats();
      transport = {
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
    return {
      version: STATUS_VERSION,
      time: new Date().toISOString(),
      endpoint: { id: this.id, incarnation: this.incarnation, address: this.address, phase: this.core.phase, rejoins: this.incarnations, uptimeMs: Math.round(now - this.startedAt) },
      view: { epoch: view.epoch, coordinator: members[0] ?? null, members, suspects: this.core.suspected().sort(), history: [...this.viewHistory] },
      groups: [...this.groups.values()].map((g) => ({
        name: g.name,
        viewId: g.view?.id ?? null,
        members: g.view?.members ?? [],
        history: [...(this.groupHistory.get(g.name) ?? [])],
      })),
      groupsOmitted: 0,
      counters: { ...this.counts },
      rates: {
        windowMs: Math.round(windowMs),
        messagesSentPerS: rate('messagesSent'),
        bytesSentPerS: rate('bytesSent'),
        messagesDeliveredPerS: rate('messagesDelivered'),
        bytesDeliveredPerS: rate('bytesDelivered'),
      },
      order: { delivered: core.delivered, held: core.held, stable: core.stable, unstable: Math.max(0, core.delivered - core.stable) },
      queues: { pending: this.pending.size, queued: core.queued, inFlight: core.inFlight, events: this.jobs.length },
      flow: this.core.flowState(),
      eventLoop,
      transport,
      truncated: false,
    };
  }

  /**
   * Join a group. Resolves once this member's first view of the group (and its state,
   * if the group has one) has been delivered to `onEvent`. An endpoint joins one
   * group at a time: a second `join` waits for the first.
   *
   * @param name - the group's name (1–256 UTF-8 bytes, no control characters)
   * @param handlers - `onEvent` for the group's events (without it, iterate the
   *   returned group) and `checkpoint` for its state
   * @throws CohortError `ERR_ALREADY_JOINED` when already in the group, `ERR_LIMIT`
   *   beyond `groupsPerEndpointMax`, `ERR_ACCESS_DENIED` when `groupAccess` forbids it.
   * @throws InputError when the name is empty, too long or malformed.
   * @throws ClosedError when the endpoint is stopped (and the promise rejects with it
   *   when the endpoint is excluded while joining).
   */
  async join(name: string, handlers: JoinOptions = {}): Promise<Group> {
    this.checkOpen();
    checkName('group name', name, this.cfg.nameBytesMax);
    if (handlers === null || typeof handlers !== 'object') throw new OptionError('handlers must be an object');
    for (const k of Object.keys(handlers)) {
      if (k !== 'onEvent' && k !== 'checkpoint' && k !== 'onProgress' && k !== 'onError' && k !== 'timeoutMs' && k !== 'signal') throw new OptionError(`unknown handler ${k}`, ErrorCode.unknownOption);
    }
    const timeoutMs = checkTimeout('timeoutMs', handlers.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
    const signal = checkSignal(handlers.signal);
    if (signal?.aborted === true) throw new CohortError(ErrorCode.aborted, `join of group ${name} aborted before it began`, { cause: signal.reason });
    if (this.groups.has(name)) throw new CohortError(ErrorCode.alreadyJoined, `already a member of group ${name}`);
    if (this.groups.size >= this.cfg.groupsPerEndpointMax) {
      throw new CohortError(ErrorCode.limit, `already in ${this.groups.size} groups; the limit is ${this.cfg.groupsPerEndpointMax} (option groupsPerEndpointMax)`);
    }
    if (!this.access.allowed(name, this.id)) {
      throw new CohortError(ErrorCode.accessDenied, `member ${this.id} is not allowed in group ${name} (option groupAccess)`);
    }
    let counters = this.counters.groups.get(name);
    if (counters === undefined) {
      counters = newGroupCounters();
      this.counters.groups.set(name, counters);
    }
    const g = new Group(this, name, handlers, counters, new Fill(this.bounds.deliveryEvents, this.bounds.deliveryBytes));
    this.groups.set(name, g);
    this.guard(() => {
      this.core.submit(this.world.clock.now(), EntryKind.join, name, new Uint8Array(0), false);
      this.drive();
    }, true);
    if (timeoutMs === 0 && signal === undefined) return g.joined.promise;
    return settleWithin(this.world.clock, g.joined.promise, timeoutMs, signal, (aborted) => {
      const why = this.joinDiagnosis(g);
      // Whatever happens to the join now, this member does not stay in the group.
      if (!this.closed) g.leave().catch(() => undefined);
      return aborted
        ? new CohortError(ErrorCode.aborted, `join of group ${name} aborted: ${why}; leaving the group again`, { cause: signal?.reason })
        : new CohortError(ErrorCode.timeout, `join of group ${name} not complete after ${timeoutMs} ms (option timeoutMs): ${why}; leaving the group again`);
    });
  }

  /** What a join waits for, in words. */
  private joinDiagnosis(g: Group): string {
    if (this.closed) return 'the endpoint is stopped';
    if (this.core.phase !== 'member') return `this endpoint is not in a network view (${this.core.phase})`;
    if (this.core.flowState().blocked) return 'the network has no majority this endpoint can reach (blocked)';
    if (this.core.wedged) return 'the network is changing its view';
    const self = this.core.self;
    if (this.core.groupMembers(g.name).some((m) => m.id === self.id && m.inc === self.inc)) return "waiting for the group's state";
    return 'the join is not ordered yet';
  }

  /**
   * Leave every group, then the network, gracefully; resolves when done. With
   * `signal`: an abort closes the endpoint at once and rejects with `ERR_ABORTED`.
   */
  async stop(options: LeaveOptions = {}): Promise<void> {
    const signal = checkSignal(options?.signal);
    if (signal === undefined) return this.stopGracefully();
    return settleWithin(this.world.clock, this.stopGracefully(), 0, signal, () => {
      const err = new CohortError(ErrorCode.aborted, `stop of endpoint ${this.id} aborted: closed at once`, { cause: signal.reason });
      this.close(err);
      return err;
    });
  }

  private async stopGracefully(): Promise<void> {
    if (this.closed) return;
    if (!this.stopping) {
      this.stopping = true;
      await Promise.all([...this.groups.values()].map((g) => g.leave().catch(() => undefined)));
      if (!this.closed) {
        this.guard(() => {
          this.core.leave(this.world.clock.now());
          this.drive();
        }, true);
      }
    }
    await this.stoppedD.promise;
    await this.metricsServerClosed;
  }

  // ---------------------------------------------------------------- internals used by Group

  /** @internal */
  submitMessage(group: string, data: Uint8Array, safe: boolean): Promise<void> {
    this.checkOpen();
    if (!(data instanceof Uint8Array)) throw new InputError(ErrorCode.badOption, 'multicast data must be a Uint8Array');
    if (data.length > this.cfg.messageBytesMax) {
      throw new InputError(ErrorCode.messageTooLarge, `message is ${data.length} bytes; the limit is ${this.cfg.messageBytesMax} (option messageBytesMax)`);
    }
    // The core copies the payload: the caller may reuse its buffer once this returns.
    // Multicasts of one synchronous run leave together, as bundles, when it ends.
    // Not through `guard`: a closure per multicast on the hot path.
    if (this.unsettled.full) {
      throw new CohortError(
        ErrorCode.backpressure,
        `multicast to group ${group} refused (not sent): ${this.unsettled.events} multicasts (${this.unsettled.bytes} bytes) of this endpoint are not delivered yet, the most it keeps (options pendingMulticastsMax ${this.unsettled.eventsMax}, pendingMulticastBytesMax ${this.unsettled.bytesMax}); await group.ready() before sending more`,
      );
    }
    let localId: number;
    try {
      localId = this.core.queue(this.world.clock.now(), EntryKind.app, group, data, safe);
    } catch (err) {
      throw this.fail(err);
    }
    const d = pendingCall(true, data.length);
    this.pending.set(localId, d);
    this.unsettled.add(data.length);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushSends);
    }
    return d.promise;
  }

  /** @internal */
  submitLeave(group: string, cause: LeaveCause = 'leave'): Promise<void> {
    let localId = 0;
    this.guard(() => {
      localId = this.core.submit(this.world.clock.now(), EntryKind.leave, group, leavePayload(cause), false);
    }, true);
    const d = pendingCall(false, 0);
    this.pending.set(localId, d);
    this.guard(() => this.drive(), true);
    return d.promise;
  }

  private checkOpen(): void {
    if (this.fatalError !== null) throw this.fatalError;
    if (this.closed || this.stopping) throw new ClosedError(`endpoint ${this.id} is stopped`);
  }

  private drawIncarnation(): number {
    // Real processes use the wall clock's milliseconds plus randomness; the simulator
    // draws from its seeded rng, so that runs replay.
    return this.world.rng.nextU32() * 2048 + this.world.rng.below(2048);
  }

  private newCore(inc: number): EndpointCore {
    const seeds = [...this.seeds];
    return new EndpointCore({
      self: { id: this.id, inc },
      addr: this.world.transport.address,
      seeds,
      config: this.cfg,
      rng: this.world.rng,
      access: this.access,
      counters: this.coreCounters,
    });
  }

  private onMessage(from: string, msg: Message): void {
    if (this.closed) return;
    // An operator's probe is answered here and never reaches the core: a prober is not
    // a member, so it can neither join, be suspected, nor change a view.
    if (msg.t === 'status-req') return this.answerStatus(from, msg);
    if (msg.t === 'status-reply') return;
    if (this.heardFrom !== null && this.heardFrom.size < HEARD_FROM_MAX) this.heardFrom.add(from);
    // `guard`, written out: a closure per received message would sit on the hot path.
    try {
      this.core.receive(this.world.clock.now(), from, msg);
      this.drive();
      if (this.world.checkInvariants === true) this.core.checkInvariants();
    } catch (err) {
      const fatal = this.fail(err);
      if (this.onFatal === undefined) throw fatal;
    }
  }

  /** Answer a `status-req` to the address it came from, at most `statusRepliesPerSecondMax` a second. */
  private answerStatus(from: string, msg: StatusReqMsg): void {
    const second = Math.floor(this.world.clock.now() / 1000);
    if (this.statusReplies.second !== second) this.statusReplies = { second, count: 0 };
    if (this.statusReplies.count >= statusRepliesPerSecondMax) return;
    this.statusReplies.count += 1;
    this.world.transport.send(from, { t: 'status-reply', from: this.core.self, id: msg.id, doc: encodeStatus(this.status()) });
  }

  /** Measure event-loop delay for the status document (real processes; stopped at close). */
  private monitorEventLoop(): void {
    if (this.loopDelay !== null || this.closed) return;
    this.loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
    this.loopDelay.enable();
    this.loopDelaySince = this.world.clock.now();
  }

  /** Keep `change` as the newest of `history`, dropping the oldest beyond the limit. */
  private static remember(history: StatusViewChange[], change: StatusViewChange): void {
    history.push(change);
    if (history.length > STATUS_HISTORY_MAX) history.splice(0, history.length - STATUS_HISTORY_MAX);
  }

  private onRefused(addr: string): void {
    if (this.closed) return;
    this.guard(() => {
      this.core.refused(this.world.clock.now(), addr);
      this.drive();
    });
  }

  private scheduleTick(): void {
    if (this.closed) return;
    const now = this.world.clock.now();
    const delay = Math.max(1, this.core.nextWakeAt() - now);
    this.timerDue = now + delay;
    this.timer = this.world.clock.setTimer(delay, () => {
      this.timer = null;
      this.timerDue = Infinity;
      if (this.closed) return;
      this.guard(() => {
        this.core.tick(this.world.clock.now());
        this.drive();
      });
      if (this.closed) return;
      // Only with a logger that will write it (pino's isLevelEnabled, or a Logger's enabled).
      if (this.logger !== undefined && debugEnabled(this.logger)) this.logRetransmissions();
      this.scheduleTick();
    });
  }

  /**
   * At level debug, at most once a second: what was sent again since the last report
   * (the core counts, it does not log, to keep its hot path quiet).
   */
  private logRetransmissions(): void {
    const now = this.world.clock.now();
    const last = this.retransmitsLogged;
    if (now - last.at < 1000) return;
    const c = this.coreCounters;
    const naks = c.naksSent - last.naks;
    const answered = c.naksAnswered - last.answered;
    const data = c.dataResent - last.data;
    const state = c.stateChunksResent - last.state;
    this.retransmitsLogged = { at: now, naks: c.naksSent, answered: c.naksAnswered, data: c.dataResent, state: c.stateChunksResent };
    if (naks + answered + data + state === 0) return;
    this.log(`retransmissions in the last ${Math.round(now - last.at)} ms: ${naks} NAKs sent, ${answered} entries resent to NAKs, ${data} own entries resent, ${state} state chunks resent`, 'debug', {
      naks,
      answered,
      data,
      state,
    });
  }

  /** Move the core's output out: messages to the transport, events to the queue. */
  private drive(): void {
    this.driving++;
    try {
      this.step();
    } finally {
      this.driving--;
    }
  }

  private step(): void {
    this.stepAt = this.world.clock.now();
    do {
      // Loop when an event replaced the core (exclusion): the new one has output too.
      for (let core = null; core !== this.core; ) {
        core = this.core;
        const out = core.takeOutput();
        for (const s of out.send) this.world.transport.send(s.to, s.msg);
        for (const e of out.events) this.onCoreEvent(e);
      }
      this.metrics?.afterStep();
      this.pump();
      // The application fell behind or caught up: the core's acks change (its output too).
    } while (this.syncBehind());
    // The core wants a tick sooner than the timer (a deferred ack): move the timer.
    const wake = this.core.nextWakeAt();
    if (this.timer !== null && wake < this.timerDue && Math.max(wake, this.world.clock.now() + 1) < this.timerDue) {
      this.world.clock.clearTimer(this.timer);
      this.timer = null;
      this.scheduleTick();
    }
  }

  private onCoreEvent(e: CoreEvent): void {
    switch (e.type) {
      case 'installed': {
        const c = this.counters;
        c.viewsInstalled++;
        if (e.joined.length > 0) c.viewChangesJoin++;
        if (e.left.length > 0) c.viewChangesLeave++;
        if (e.failed.length > 0) c.viewChangesFailure++;
        this.log(`view ${e.view.epoch}: ${e.view.members.map(memberKey).join(' ')}`, 'info');
        for (const f of e.failures) this.log(`view ${e.view.epoch}: ${describeFailure(toMemberFailure(f))}`, 'info');
        Endpoint.remember(this.viewHistory, viewChange(e.view.epoch, { ...e, members: e.view.members }));
        this.started.resolve();
        this.heardFrom = null;
        break;
      }
      case 'view': {
        const g = this.groups.get(e.group);
        if (g === undefined) break;
        let history = this.groupHistory.get(e.group);
        if (history === undefined) {
          // Bounded: histories of groups this endpoint is no longer in go first.
          if (this.groupHistory.size >= this.cfg.groupsPerEndpointMax) {
            for (const name of this.groupHistory.keys()) if (!this.groups.has(name)) this.groupHistory.delete(name);
          }
          history = [];
          this.groupHistory.set(e.group, history);
        }
        Endpoint.remember(history, viewChange(e.view.id, e.view));
        const firstView = !g.hasView;
        g.hasView = true;
        this.queueEvent(e.group, g, { type: 'view', view: toView(e.view) }, null, firstView);
        break;
      }
      case 'state':
        this.queueEvent(e.group, this.groups.get(e.group), { type: 'state', data: e.data }, null);
        break;
      case 'message': {
        const g = this.groups.get(e.group);
        if (g === undefined || g.left) {
          if (e.localId !== null) this.jobs.push({ kind: 'resolve', localId: e.localId });
          break;
        }
        g.counters.delivered++;
        g.counters.deliveredBytes += e.data.length;
        const event: GroupEvent = { type: 'message', sender: e.sender.id, senderInc: e.sender.inc, data: e.data, safe: e.safe };
        this.queueEvent(e.group, g, event, e.localId);
        break;
      }
      case 'state-progress': {
        const onProgress = this.groups.get(e.group)?.handlers.onProgress;
        try {
          onProgress?.({ group: e.group, received: e.received, total: e.total });
        } catch (err) {
          this.log(`onProgress of ${e.group} threw: ${String(err)}`, 'error');
        }
        break;
      }
      case 'state-request':
        this.jobs.push({ kind: 'checkpoint', group: e.group, joiner: e.joiner, pos: e.pos });
        break;
      case 'state-lost':
        this.jobs.push({ kind: 'state-lost', group: e.group });
        break;
      case 'duplicate': {
        const err = new CohortError(ErrorCode.duplicateId, `id ${this.id} is taken: ${e.live.id}#${e.live.inc}, a live member of the network at another address, holds it (ids are unique; a restart listens at the same address, or waits for the old one to be gone)`);
        this.log(err.message, 'error');
        this.close(err);
        break;
      }
      case 'group-left': {
        // Out of the group from here on in the stream: no blocked/excluded for it.
        const g = this.groups.get(e.group);
        if (g !== undefined) {
          g.left = true;
          this.unserve(g);
        }
        this.jobs.push({ kind: 'left', group: e.group, localId: e.localId });
        break;
      }
      case 'blocked':
        for (const g of this.groups.values()) {
          if (g.hasView && !g.left) this.queueEvent(g.name, g, { type: 'blocked' }, null);
        }
        break;
      case 'excluded':
        this.onExcluded();
        break;
      case 'stopped':
        this.close();
        break;
      case 'log':
        this.log(e.text, e.level);
        break;
      default:
        assertNever(e);
    }
  }

  /** Queue an event of group `name` for the application; `g`, its handle, counts it in its delivery queue. */
  private queueEvent(name: string, g: Group | undefined, event: GroupEvent, localId: number | null, firstView = false, rejoining = false): void {
    this.jobs.push({ kind: 'event', group: name, handle: g, at: this.stepAt, event, localId, firstView, rejoining });
    if (g !== undefined) this.fill(g, eventBytes(event), true);
  }

  /** @internal The application took `event` of `g` (its handler got it, or its iterator), or it was dropped. */
  took(g: Group, event: GroupEvent): void {
    this.fill(g, eventBytes(event), false);
    // Caught up outside a step (an iterator took it): tell the core now. (Within a
    // step, its end tells it.)
    if (this.driving === 0 && this.appQueue() !== this.toldQueue && !this.closed) this.guard(() => this.drive());
  }

  /** One event of `bytes` more (`add`) or less in `g`'s delivery queue. */
  private fill(g: Group, bytes: number, add: boolean): void {
    const f = g.backlog;
    const full = f.full;
    const over = f.over;
    if (add) f.add(bytes);
    else f.take(bytes);
    if (!g.served) return;
    if (f.full !== full) this.fullGroups += f.full ? 1 : -1;
    if (f.over !== over) this.overGroups += f.over ? 1 : -1;
  }

  /** `g` gets events from the current core again (it rejoins): its queue counts. */
  private serve(g: Group): void {
    if (g.served) return;
    g.served = true;
    if (g.backlog.full) this.fullGroups++;
    if (g.backlog.over) this.overGroups++;
  }

  /** `g` gets no more events from the core (it was left, failed, or the endpoint excluded): its queue holds nobody back. */
  private unserve(g: Group): void {
    if (!g.served) return;
    g.served = false;
    if (g.backlog.full) this.fullGroups--;
    if (g.backlog.over) this.overGroups--;
  }

  /** The application's queues, for the core: see `AppQueue`. */
  private appQueue(): AppQueue {
    return this.overGroups > 0 ? 'over' : this.fullGroups > 0 ? 'full' : 'ok';
  }

  /** Tell the core how the application's queues stand, when that changed; true if it did. */
  private syncBehind(): boolean {
    const q = this.appQueue();
    if (q === this.toldQueue || this.closed || this.core.phase !== 'member') return false;
    if (this.toldQueue === 'ok') {
      const full = [...this.groups.values()].filter((g) => g.served && g.backlog.full);
      this.log(`the application is behind in ${full.map((g) => `${g.name} (${g.backlog.events} events, ${g.backlog.bytes} bytes undelivered)`).join(', ')}: acknowledgements wait for it`, 'debug');
    }
    this.toldQueue = q;
    this.core.setAppQueue(this.world.clock.now(), q);
    return true;
  }

  /**
   * After an exclusion, `g` rejoins with a fresh state: if its application was behind,
   * the events it had not taken yet are dropped — the new view and state supersede
   * them — so a consumer too slow for the group catches up at once instead of falling
   * further behind with every incarnation (and its memory stays bounded). Kept: its
   * first view (its join resolves with it) and the `excluded` that says what happened.
   */
  private dropUndelivered(g: Group): void {
    let kept = 0;
    let dropped = 0;
    for (let i = 0; i < this.jobs.length; i++) {
      const j = this.jobs[i]!;
      if (j.kind === 'event' && j.handle === g && !j.firstView && j.event.type !== 'excluded') dropped++;
      else this.jobs[kept++] = j;
    }
    this.jobs.length = kept;
    dropped += g.dropBuffered();
    const bytes = g.backlog.bytes;
    g.backlog.clear();
    for (const j of this.jobs) if (j.kind === 'event' && j.handle === g) g.backlog.add(eventBytes(j.event));
    this.log(`group ${g.name}: ${dropped} undelivered events dropped (${bytes} bytes): the application was behind at the exclusion, and the view and state it rejoins with supersede them`, 'warn', { group: g.name });
  }

  /** Excluded: tell every group, fail what is pending, and come back as a new incarnation. */
  private onExcluded(): void {
    this.log(`excluded from the network; rejoining as a new incarnation`, 'warn');
    const err = new ClosedError(`endpoint ${this.id} was excluded from the view`, ErrorCode.excluded);
    // Multicasts still pending fail, but only after the deliveries already queued
    // (some of them are these multicasts' own): a caller must not resend what it saw.
    this.jobs.push({ kind: 'fail-pending', error: err, localIds: [...this.pending.keys()] });
    const rejoin: Group[] = [];
    for (const g of [...this.groups.values()]) {
      if (g.left) continue;
      if (this.rejoin && !g.isLeaving && g.failed === null) {
        // Back in as the new incarnation (below): the handle stays, its events go on.
        if (g.hasView) this.queueEvent(g.name, g, { type: 'excluded' }, null, false, true);
        rejoin.push(g);
        continue;
      }
      if (g.hasView) {
        // The handle ends after the events queued before the exclusion; from now on it
        // sends nothing (the new incarnation is not in the group).
        g.refusing = new ClosedError(`excluded from group ${g.name}`, ErrorCode.excluded);
        this.queueEvent(g.name, g, { type: 'excluded' }, null);
      } else {
        // Its join never completed: the join fails, and there is no stream to end.
        g.close(err);
        this.dropGroup(g.name);
      }
    }
    // The new core serves only the groups that rejoin; their queues start over if full.
    for (const g of this.groups.values()) this.unserve(g);
    this.toldQueue = 'ok';
    for (const g of rejoin) {
      if (g.backlog.full) this.dropUndelivered(g);
      this.serve(g);
    }
    const lastView = this.core.currentView;
    this.incarnations += 1;
    const inc = this.drawIncarnation();
    this.core = new EndpointCore({
      self: { id: this.id, inc },
      addr: this.world.transport.address,
      seeds: this.seeds,
      lastView,
      config: this.cfg,
      rng: this.world.rng,
      // Local ids stay unique across incarnations: old ones may still be pending.
      firstLocalId: this.core.nextLocalIdValue,
      counters: this.coreCounters,
    });
    this.core.start(this.world.clock.now());
    // Its first entries: the joins of the groups it was in, ahead of any new multicast.
    for (const g of rejoin) this.core.submit(this.world.clock.now(), EntryKind.join, g.name, new Uint8Array(0), false);
    if (rejoin.length > 0) this.log(`rejoining ${rejoin.length === 1 ? 'group' : 'groups'} ${rejoin.map((g) => g.name).join(', ')} as the new incarnation`, 'info');
    // The new core's first output is sent by the drive() that called us.
  }

  /**
   * Run a step of the core. A throw from it is a broken invariant (a bug): the endpoint
   * stops at once rather than go on half-alive with a core in an unknown state — its
   * connections close, so the others remove it as crashed — and the error is reported:
   * logged, passed to `onFatal`, and thrown (always from an API call, which must not
   * appear to succeed; from an event of the network or a timer only without `onFatal`).
   */
  private guard(step: () => void, fromApi = false): void {
    if (this.fatalError !== null) throw this.fatalError;
    try {
      step();
      if (this.world.checkInvariants === true) this.core.checkInvariants();
    } catch (err) {
      const fatal = this.fail(err);
      if (fromApi || this.onFatal === undefined) throw fatal;
    }
  }

  /** Stop for good after a broken invariant; returns the error every later call gets. */
  private fail(err: unknown): CohortError {
    if (this.fatalError !== null) return this.fatalError;
    const what = err instanceof Error ? err.message : String(err);
    const fatal = new CohortError(ErrorCode.internal, `endpoint ${this.id}: internal error, endpoint stopped: ${what}`, { cause: err });
    this.fatalError = fatal;
    const stack = err instanceof Error && err.stack !== undefined ? { stack: err.stack } : undefined;
    this.log(`fatal: ${fatal.message}`, 'error', stack);
    this.close(fatal);
    for (const g of this.groups.values()) g.close(fatal);
    this.started.reject(fatal);
    this.onFatal?.(fatal);
    return fatal;
  }

  private close(reason?: CohortError): void {
    if (this.closed) return;
    this.closed = true;
    this.loopDelay?.disable();
    if (this.timer !== null) this.world.clock.clearTimer(this.timer);
    void this.world.transport.close();
    this.metrics?.close();
    if (this.metricsServer !== null) this.metricsServerClosed = this.metricsServer.close();
    const err = reason ?? new ClosedError(`endpoint ${this.id} is stopped`);
    // Never in a view: `ready` (and `start`) must not wait for ever.
    this.started.reject(err);
    for (const d of this.pending.values()) d.reject(err);
    this.pending.clear();
    this.unsettled.clear();
    for (const w of this.roomWaiters) w.reject(err);
    this.roomWaiters = [];
    this.stoppedD.resolve();
  }

  /** Dispatch queued jobs one at a time; an async handler holds the queue. */
  private pump(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.jobs.length > 0) {
        const job = this.jobs.shift()!;
        const result = this.runJob(job);
        if (result !== undefined) {
          result.then(
            () => this.resume(),
            (err: unknown) => {
              this.log(`handler failed: ${String(err)}`, 'error');
              this.resume();
            },
          );
          return;
        }
      }
      this.dispatching = false;
    } catch (err) {
      this.dispatching = false;
      throw err;
    }
  }

  private resume(): void {
    this.dispatching = false;
    this.drive();
  }

  /** Run one job; returns a promise when it must be awaited before the next. */
  private runJob(job: Job): Promise<void> | undefined {
    switch (job.kind) {
      case 'resolve':
        this.settle(job.localId);
        return undefined;
      case 'fail-pending':
        for (const id of job.localIds) this.takePending(id)?.reject(job.error);
        return undefined;
      case 'left': {
        const g = this.groups.get(job.group);
        if (g !== undefined) {
          g.left = true;
          this.dropGroup(job.group);
          g.finish();
        }
        this.settle(job.localId);
        return undefined;
      }
      case 'checkpoint': {
        const g = this.groups.get(job.group);
        if (g?.failed != null) return undefined;
        const take = g?.handlers.checkpoint;
        const give = (data: Uint8Array): void => {
          if (!(data instanceof Uint8Array)) return this.checkpointFailed(job.group, `returned ${typeof data}, not a Uint8Array`);
          this.guard(() => {
            this.core.provideState(this.world.clock.now(), job.group, job.joiner, job.pos, data);
            this.drive();
          });
        };
        if (take === undefined) {
          give(new Uint8Array(0));
          return undefined;
        }
        let r: Uint8Array | Promise<Uint8Array>;
        try {
          r = take();
        } catch (err) {
          this.checkpointFailed(job.group, `threw (${err instanceof Error ? err.message : String(err)})`, err);
          return undefined;
        }
        if (r instanceof Uint8Array) {
          give(r);
          return undefined;
        }
        return Promise.resolve(r).then(give, (err: unknown) => this.checkpointFailed(job.group, `rejected (${err instanceof Error ? err.message : String(err)})`, err));
      }
      case 'state-lost': {
        const g = this.groups.get(job.group);
        if (g === undefined || g.failed !== null) return undefined;
        const err = new CohortError(ErrorCode.checkpoint, `group ${job.group} has a state, but the last member that had it could not provide it (its checkpoint failed): this member leaves the group again`);
        this.failGroup(g, err, null, 'leave');
        return undefined;
      }
      case 'event': {
        const g = job.handle;
        if (g === undefined || this.groups.get(job.group) !== g) {
          if (g !== undefined) this.took(g, job.event);
          if (job.localId !== null) this.settle(job.localId);
          return undefined;
        }
        if (g.failed !== null) {
          // Its handler failed: this member delivers nothing more in the group (what it
          // would deliver, its state may no longer reflect) while it leaves.
          this.took(g, job.event);
          if (job.localId !== null) this.rejectLocal(job.localId, g.failed);
          if (job.event.type === 'excluded') this.dropGroup(g.name);
          return undefined;
        }
        let r: void | Promise<void>;
        this.eventAt = job.at;
        try {
          r = g.deliver(job.event);
        } catch (err) {
          this.handlerFailed(g, job, err, 'threw');
          return undefined;
        }
        const after = (): void => {
          if (job.localId !== null) this.settle(job.localId);
          if (job.firstView) g.joined.resolve(g);
          if (job.event.type === 'excluded' && job.rejoining !== true) {
            g.close(new ClosedError(`excluded from group ${g.name}`, ErrorCode.excluded));
            this.dropGroup(g.name);
          }
        };
        if (r instanceof Promise) return r.then(after, (err: unknown) => this.handlerFailed(g, job, err, 'rejected'));
        after();
        return undefined;
      }
      default:
        return assertNever(job);
    }
  }

  /** Out of group `name` for good: its handle and its per-group counters go. */
  private dropGroup(name: string): void {
    const g = this.groups.get(name);
    if (g !== undefined) this.unserve(g);
    this.groups.delete(name);
    retireGroupCounters(this.counters, name);
  }

  /**
   * A group's `onEvent` threw or rejected: its replica of the group's state may now
   * differ from the others', so it must not go on as if it did not. Delivery in the
   * group stops here, the calls waiting on it reject with `ERR_HANDLER`, the handle
   * reports it (`onError`, else the log at error level), and the member leaves the
   * group — an agreed view change for the others.
   */
  private handlerFailed(g: Group, job: { readonly event: GroupEvent; readonly localId: number | null }, cause: unknown, how: 'threw' | 'rejected'): void {
    const err = new CohortError(
      ErrorCode.handler,
      `the onEvent handler of group ${g.name} ${how} on a ${job.event.type} event (${cause instanceof Error ? cause.message : String(cause)}): this member stops delivering in ${g.name} and leaves it`,
      { cause },
    );
    this.failGroup(g, err, job.localId, 'handler-failed');
    if (this.exitOnHandlerError) {
      process.stderr.write(`cohort: ${err.message}; exiting (option onHandlerError: 'exit')\n`);
      process.exit(1);
    }
  }

  /**
   * A provider's `checkpoint()` failed: never a made-up (empty) state. This member
   * leaves the group at once, though it owes joiners their state (`abandonProvision`):
   * another member that has the state provides it, or the joiners fail with
   * `ERR_CHECKPOINT` if none has. Here, the group fails as after a handler failure.
   */
  private checkpointFailed(group: string, how: string, cause?: unknown): void {
    const g = this.groups.get(group);
    if (g === undefined || g.failed !== null) return;
    const err = new CohortError(ErrorCode.checkpoint, `the checkpoint of group ${group} ${how}: a joiner's state cannot come from this member, which leaves the group`, cause === undefined ? undefined : { cause });
    this.failGroup(g, err, null, null);
    if (this.closed || g.left) return;
    this.guard(() => {
      this.core.abandonProvision(this.world.clock.now(), group);
      this.drive();
    });
  }

  /** Stop delivery in `g`: calls waiting on it reject with `err`, the handle is told, and (with `leave`) the member leaves. */
  private failGroup(g: Group, err: CohortError, localId: number | null, leave: LeaveCause | null): void {
    g.failed = err;
    this.unserve(g);
    this.log(err.message, 'error', { group: g.name });
    if (localId !== null) this.rejectLocal(localId, err);
    g.close(err);
    if (g.handlers.onError !== undefined) {
      try {
        g.handlers.onError(err);
      } catch {
        // Its own failure changes nothing: the group is being left already.
      }
    }
    if (leave !== null && !this.closed && !g.left) g.leaveAfterFailure(leave);
  }

  private rejectLocal(localId: number, err: Error): void {
    this.takePending(localId)?.reject(err);
  }

  private settle(localId: number): void {
    this.takePending(localId)?.resolve();
  }

  /** The call waiting for `localId`, no longer pending (its multicast makes room). */
  private takePending(localId: number): PendingCall | undefined {
    const d = this.pending.get(localId);
    if (d === undefined) return undefined;
    this.pending.delete(localId);
    if (d.multicast) {
      const full = this.unsettled.full;
      this.unsettled.take(d.bytes);
      if (full && !this.unsettled.full) {
        const waiters = this.roomWaiters;
        this.roomWaiters = [];
        for (const w of waiters) w.resolve();
      }
    }
    return d;
  }

  /** @internal Resolves when `multicast` takes messages again (see `Group.ready`). */
  room(): Promise<void> {
    if (this.fatalError !== null) return Promise.reject(this.fatalError);
    if (this.closed || this.stopping) return Promise.reject(new ClosedError(`endpoint ${this.id} is stopped`));
    if (!this.unsettled.full) return Promise.resolve();
    const d = deferred<void>();
    this.roomWaiters.push(d);
    return d.promise;
  }

  private log(line: string, level: LogLevel, fields?: Readonly<Record<string, unknown>>): void {
    this.onLog?.(`[${this.id}] ${line}`, level);
    this.logger?.[level]({ member: this.id, ...fields }, line);
  }

  /** The gauges of the metrics, read at scrape time. */
  private snapshot(): EndpointSnapshot {
    const st = this.core.stats();
    const t = this.world.transport as Partial<{ stats(): Omit<TransportSnapshot, 'bufferedBytes'>; bufferedBytes(to: string): number }>;
    let transport: TransportSnapshot | null = null;
    if (typeof t.stats === 'function' && typeof t.bufferedBytes === 'function') {
      let bufferedBytes = 0;
      for (const m of this.core.currentView.members) if (m.addr !== this.address) bufferedBytes += t.bufferedBytes(m.addr);
      transport = { ...t.stats(), bufferedBytes };
    }
    return {
      epoch: st.epoch,
      members: this.core.currentView.members.length,
      suspected: this.core.suspected().length,
      groups: this.groups.size,
      sendQueue: st.queued,
      inFlight: st.inFlight,
      pendingMulticasts: this.pending.size,
      unstableEntries: Math.max(0, st.held - st.stable),
      deliveryQueue: this.jobs.length,
      transport,
    };
  }
}

/** Check `logLevel` and `logger`: a known level, a `Logger`, not both. */
function checkLogOptions(opts: EndpointOptions): void {
  if (opts.logLevel !== undefined && !isLogLevel(opts.logLevel)) {
    throw new OptionError(`option logLevel must be one of ${logLevels.join(', ')}, got ${String(opts.logLevel)}`);
  }
  if (opts.logger !== undefined && !isLoggerLike(opts.logger)) throw new OptionError('option logger must have debug, info, warn and error methods (a Logger, pino, …)');
  if (opts.logger !== undefined && opts.logLevel !== undefined) throw new OptionError('options logger and logLevel exclude each other (a logger has its level)');
  if (opts.onLog !== undefined && typeof opts.onLog !== 'function') throw new OptionError('option onLog must be a function');
  if (opts.onFatal !== undefined && typeof opts.onFatal !== 'function') throw new OptionError('option onFatal must be a function');
}

/** Whether `logger` writes debug records (a logger that cannot say is taken to). */
function debugEnabled(logger: LoggerLike): boolean {
  if (logger instanceof Logger) return logger.enabled('debug');
  const l = logger as Partial<{ isLevelEnabled(level: string): boolean }>;
  return typeof l.isLevelEnabled === 'function' ? l.isLevelEnabled('debug') : true;
}

/** The TCP transport's diagnostics go to `onLog` and to the logger, like the endpoint's. */
function transportLogOf(opts: EndpointOptions): ((line: string, level: LogLevel) => void) | undefined {
  const logger = opts.logger ?? (opts.logLevel === undefined ? undefined : new Logger({ level: opts.logLevel, member: opts.id }));
  const onLog = opts.onLog;
  if (logger === undefined) return onLog;
  return (line: string, level: LogLevel): void => {
    onLog?.(line, level);
    logger[level]({ member: opts.id }, line);
  };
}

/**
 * A handle on this endpoint's membership of one group.
 *
 * Also an async iterator over the group's events when no `onEvent` handler was given:
 * `for await (const e of group) { … }`.
 */
export class Group implements AsyncIterable<GroupEvent> {
  /** The group's name. */
  readonly name: string;
  /** @internal */ readonly handlers: GroupHandlers;
  /** @internal */ readonly joined = deferred<Group>();
  /** @internal */ hasView = false;
  /** @internal */ left = false;
  /** @internal Set when `onEvent` failed: the group delivers nothing more and is being left. */
  failed: CohortError | null = null;
  /** @internal What this handle multicast and delivered (shared with the endpoint's metrics). */
  readonly counters: GroupCounters;
  /** @internal Events delivered by the protocol and not yet taken by the application. */
  readonly backlog: Fill;
  /** @internal The endpoint's current core delivers into this handle (false once excluded, unless it rejoins). */
  served = true;
  private readonly endpoint: Endpoint;
  private closedError: Error | null = null;
  /**
   * @internal Set at an exclusion the handle does not survive (option `rejoin: false`):
   * the calls refuse with it at once, while the events queued before the exclusion
   * are still delivered (the handle closes after them).
   */
  refusing: Error | null = null;
  private leaving: Promise<void> | null = null;

  /** @internal A leave was asked for. */
  get isLeaving(): boolean {
    return this.leaving !== null;
  }
  private currentView: View | null = null;
  private readonly buffered: GroupEvent[] = [];
  private waiter: Deferred<IteratorResult<GroupEvent>> | null = null;

  /** @internal */
  constructor(endpoint: Endpoint, name: string, handlers: GroupHandlers, counters: GroupCounters, backlog: Fill) {
    this.endpoint = endpoint;
    this.name = name;
    this.handlers = handlers;
    this.counters = counters;
    this.backlog = backlog;
  }

  /** The last view delivered to this handle, or `null` before the first. */
  get view(): View | null {
    return this.currentView;
  }

  /**
   * Multicast `data` to the group in total order. Resolves once this member has
   * delivered it (after its handler processed it), in order.
   * @throws InputError when `data` is too large; ClosedError after leave, stop or exclusion.
   */
  multicast(data: Uint8Array, options: MulticastOptions = noMulticastOptions): Promise<void> {
    if (this.closedError !== null) throw this.closedError;
    if (this.refusing !== null) throw this.refusing;
    if (this.leaving !== null) throw new ClosedError(`group ${this.name} is being left`);
    if (options === null || typeof options !== 'object') throw new OptionError('multicast options must be an object');
    // for-in, not Object.keys: no array per multicast on the hot path.
    for (const k in options) {
      if (k !== 'safe' && k !== 'signal') throw new OptionError(`unknown multicast option ${k}`, ErrorCode.unknownOption);
    }
    const safe = options.safe;
    if (safe !== undefined && safe !== true && safe !== false) throw new OptionError(`multicast option safe must be a boolean, got ${JSON.stringify(safe)}`);
    const signal = options.signal;
    if (signal !== undefined && (!(signal instanceof AbortSignal) || signal.aborted)) {
      checkSignal(signal);
      throw new CohortError(ErrorCode.aborted, `multicast to group ${this.name} aborted before it was sent`, { cause: signal.reason });
    }
    const p = this.endpoint.submitMessage(this.name, data, safe === true);
    this.counters.multicasts++;
    this.counters.multicastBytes += data.length;
    if (signal === undefined) return p;
    return settleWithin(this.endpoint.clock, p, 0, signal, () => new CohortError(ErrorCode.aborted, `multicast to group ${this.name} aborted: no longer waited for (it may still be delivered)`, { cause: signal.reason }));
  }

  /**
   * Leave the group gracefully: a view change for the others, without a timeout (G11).
   * With `signal`: an abort stops the waiting (rejects with `ERR_ABORTED`); the leave goes on.
   */
  leave(options: LeaveOptions = {}): Promise<void> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (this.refusing !== null) return Promise.reject(this.refusing);
    const signal = checkSignal(options?.signal);
    if (this.leaving === null) this.leaving = this.endpoint.submitLeave(this.name);
    if (signal === undefined) return this.leaving;
    return settleWithin(this.endpoint.clock, this.leaving, 0, signal, () => new CohortError(ErrorCode.aborted, `leave of group ${this.name} no longer waited for (the leave goes on)`, { cause: signal.reason }));
  }

  /**
   * Wait until `multicast` takes messages again: at once, unless this endpoint's
   * multicasts not yet delivered reached `pendingMulticastsMax` (or its bytes), until
   * they have drained to half of it. For a sender that does not await each multicast:
   * `await group.ready(); void group.multicast(bytes);`.
   * With `signal`: an abort stops the waiting (rejects with `ERR_ABORTED`).
   */
  ready(options: LeaveOptions = {}): Promise<void> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (this.refusing !== null) return Promise.reject(this.refusing);
    const signal = checkSignal(options?.signal);
    const room = this.endpoint.room();
    if (signal === undefined) return room;
    return settleWithin(this.endpoint.clock, room, 0, signal, () => new CohortError(ErrorCode.aborted, `wait for room to multicast to group ${this.name} aborted`, { cause: signal.reason }));
  }

  /** @internal */
  deliver(event: GroupEvent): void | Promise<void> {
    if (event.type === 'view') this.currentView = event.view;
    if (this.handlers.onEvent !== undefined) {
      this.endpoint.took(this, event);
      return this.handlers.onEvent(event);
    }
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      this.endpoint.took(this, event);
      w.resolve({ value: event, done: false });
    } else {
      this.buffered.push(event);
    }
    return undefined;
  }

  /** @internal Drop the events the iterator has not taken yet (see `Endpoint.dropUndelivered`); returns how many. */
  dropBuffered(): number {
    const n = this.buffered.length;
    this.buffered.length = 0;
    return n;
  }

  /** @internal Leave after a failed handler: `leave()` itself refuses once closed. */
  leaveAfterFailure(cause: LeaveCause): void {
    if (this.leaving === null) this.leaving = this.endpoint.submitLeave(this.name, cause);
    this.leaving.catch(() => undefined);
  }

  /** @internal */
  finish(): void {
    this.close(new ClosedError(`group ${this.name} was left`));
  }

  /** @internal */
  close(err: Error): void {
    // The first reason stands: a group left after its handler failed stays failed.
    this.closedError ??= err;
    if (this.waiter !== null) {
      this.waiter.resolve({ value: undefined, done: true });
      this.waiter = null;
    }
    this.joined.reject(err);
  }

  /**
   * The group's events, when it was joined without `onEvent`: `for await (const e of
   * group)`. Ends after the group is left, or the endpoint stopped or excluded. Events
   * wait for the iterator; when `deliveryQueueMax` of them wait, this member stops
   * acknowledging, so the group's senders wait for it (and it is removed as a slow
   * consumer if that lasts `lagTimeoutMs`).
   */
  [Symbol.asyncIterator](): AsyncIterator<GroupEvent> {
    return {
      next: (): Promise<IteratorResult<GroupEvent>> => {
        const e = this.buffered.shift();
        if (e !== undefined) {
          this.endpoint.took(this, e);
          return Promise.resolve({ value: e, done: false });
        }
        if (this.closedError !== null) return Promise.resolve({ value: undefined, done: true });
        this.waiter = deferred();
        return this.waiter.promise;
      },
    };
  }
}

/** The payload bytes an event holds in a delivery queue. */
function eventBytes(e: GroupEvent): number {
  return e.type === 'message' || e.type === 'state' ? e.data.length : 0;
}

/** SHA-256 of a string, in hex: used by the digest state of the examples and the tool. */
export function sha256hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A random incarnation for real processes: milliseconds since the epoch, plus noise. */
export function freshIncarnation(nowMs: number): number {
  return nowMs * 1024 + randomInt(1024);
}
