/**
 * The checks of an endpoint's options, and what they turn into: the core's
 * configuration, the bounds of the endpoint's queues, the group access policy and the
 * network identity the transport checks at the handshake.
 *
 * Intuition: options come from JavaScript callers and configuration files, so nothing
 * about their types can be assumed. Each is checked once, where it enters, and a bad
 * one throws an `OptionError` (or `InputError` for names) whose message names it; past
 * these checks the endpoint works on typed values only.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { CoreConfig } from '../core/config.js';
import { defaultCoreConfig } from '../core/config.js';
import { GroupAccess } from '../core/access.js';
import { CohortError, ErrorCode, InputError, OptionError } from '../errors.js';
import { Logger, isLogLevel, isLoggerLike, logLevels } from '../log.js';
import type { LogLevel } from '../log.js';
import { defaultWireLimits } from '../wire/codec.js';
import { DEFAULT_JOIN_TIMEOUT_MS, knownOptions } from './options.js';
import type { EndpointOptions, EndpointWorld, JoinOptions } from './options.js';


/**
 * With `tls.idFrom: 'cn'` the others accept from this member only messages whose id is
 * its certificate's subject CN: a mismatch would make it unable to join, so say so now.
 */
export function checkOwnCertificate(id: unknown, cert: unknown): void {
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
export function checkTimeout(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new OptionError(`option ${name} must be a non-negative number of ms (0: no timeout), got ${String(ms)}`);
  return ms;
}

/** `signal` as given, or an OptionError when it is not an AbortSignal. */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw new OptionError('option signal must be an AbortSignal');
  return signal;
}

/** Refuse an option name `EndpointOptions` does not have (`ERR_UNKNOWN_OPTION`). */
export function checkKnownOptions(opts: object): void {
  for (const k of Object.keys(opts)) {
    if (!knownOptions.has(k)) throw new OptionError(`unknown option ${k}`, ErrorCode.unknownOption);
  }
}

const encoder = new TextEncoder();

/** Check a member id or group name: a non-empty string of at most `max` UTF-8 bytes. */
export function checkName(what: string, value: unknown, max: number): string {
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

/** The core's configuration from the options: their values, or defaults derived from the timeouts given. */
export function coreConfigFrom(opts: EndpointOptions): CoreConfig {
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
export interface QueueBounds {
  /** Undelivered events of one group (`deliveryQueueMax`). */
  readonly deliveryEvents: number;
  /** Their payload bytes (`deliveryQueueBytesMax`). */
  readonly deliveryBytes: number;
  /** Own multicasts not yet delivered here (`pendingMulticastsMax`). */
  readonly pendingMulticasts: number;
  /** Their payload bytes (`pendingMulticastBytesMax`). */
  readonly pendingBytes: number;
}

/** The queue bounds from the options (`deliveryQueueMax`, `pendingMulticastsMax` and their bytes). */
export function queueBoundsFrom(opts: EndpointOptions): QueueBounds {
  const o = opts as unknown as Record<string, unknown>;
  return {
    deliveryEvents: positiveInt(o, 'deliveryQueueMax', 8192),
    deliveryBytes: positiveInt(o, 'deliveryQueueBytesMax', 16 * 1024 * 1024),
    pendingMulticasts: positiveInt(o, 'pendingMulticastsMax', 65536),
    pendingBytes: positiveInt(o, 'pendingMulticastBytesMax', 64 * 1024 * 1024),
  };
}

/** The group access policy of option `groupAccess` (open without it). */
export function accessFrom(opts: EndpointOptions): GroupAccess {
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
export function networkIdentity(network: string, access: GroupAccess): string {
  if (access.isOpen) return network;
  return `${network} (access ${createHash('sha256').update(access.canonical()).digest('hex').slice(0, 16)})`;
}

/** Check `logLevel` and `logger`: a known level, a `Logger`, not both. */
export function checkLogOptions(opts: EndpointOptions): void {
  if (opts.logLevel !== undefined && !isLogLevel(opts.logLevel)) {
    throw new OptionError(`option logLevel must be one of ${logLevels.join(', ')}, got ${String(opts.logLevel)}`);
  }
  if (opts.logger !== undefined && !isLoggerLike(opts.logger)) throw new OptionError('option logger must have debug, info, warn and error methods (a Logger, pino, …)');
  if (opts.logger !== undefined && opts.logLevel !== undefined) throw new OptionError('options logger and logLevel exclude each other (a logger has its level)');
  if (opts.onLog !== undefined && typeof opts.onLog !== 'function') throw new OptionError('option onLog must be a function');
  if (opts.onFatal !== undefined && typeof opts.onFatal !== 'function') throw new OptionError('option onFatal must be a function');
}

/** The TCP transport's diagnostics go to `onLog` and to the logger, like the endpoint's. */
export function transportLogOf(opts: EndpointOptions): ((line: string, level: LogLevel) => void) | undefined {
  const logger = opts.logger ?? (opts.logLevel === undefined ? undefined : new Logger({ level: opts.logLevel, member: opts.id }));
  const onLog = opts.onLog;
  if (logger === undefined) return onLog;
  return (line: string, level: LogLevel): void => {
    onLog?.(line, level);
    logger[level]({ member: opts.id }, line);
  };
}

/**
 * Check the options of `Endpoint.open` (and so of `start`), in the order a caller
 * meets their problems; returns the core's configuration, the queue bounds and the world.
 */
/** Check option `persist` (what `Endpoint.start` opens); returns its directory and whether it flushes. */
export function checkPersistOptions(persist: unknown): { dir: string; sync: boolean; checkpointBytes: number; segmentBytes: number } {
  if (persist === null || typeof persist !== 'object') throw new OptionError('option persist must be an object: { dir, sync? }');
  const p = persist as Record<string, unknown>;
  for (const k of Object.keys(p)) {
    if (k !== 'dir' && k !== 'sync' && k !== 'log' && k !== 'votes' && k !== 'checkpointBytes' && k !== 'segmentBytes') throw new OptionError(`unknown option persist.${k}`, ErrorCode.unknownOption);
  }
  if (p.log === undefined && (typeof p.dir !== 'string' || p.dir === '')) throw new OptionError('option persist.dir must be a directory path');
  if (p.sync !== undefined && typeof p.sync !== 'boolean') throw new OptionError(`option persist.sync must be a boolean, got ${JSON.stringify(p.sync)}`);
  const bytes = (name: string, fallback: number): number => {
    const v = p[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 4096) throw new OptionError(`option persist.${name} must be an integer of at least 4096 bytes, got ${JSON.stringify(v)}`);
    return v;
  };
  const mib64 = 64 * 1024 * 1024;
  return { dir: typeof p.dir === 'string' ? p.dir : '', sync: p.sync !== false, checkpointBytes: bytes('checkpointBytes', mib64), segmentBytes: bytes('segmentBytes', mib64) };
}

export function checkOpenOptions(opts: EndpointOptions): { cfg: CoreConfig; bounds: QueueBounds; world: EndpointWorld } {
  if (opts === null || typeof opts !== 'object') throw new OptionError('options must be an object');
  checkKnownOptions(opts);
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
  if (opts.persist !== undefined && (opts.persist === null || typeof opts.persist !== 'object' || opts.persist.log === undefined)) {
    checkPersistOptions(opts.persist);
    throw new OptionError('option persist needs Endpoint.start (which opens its dir), or an opened log');
  }
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
  return { cfg, bounds, world };
}

/**
 * Check `join`'s group name and options (after the endpoint was found open); returns
 * how long to wait and the signal to stop on.
 */
export function checkJoinOptions(name: string, handlers: JoinOptions, nameBytesMax: number): { timeoutMs: number; signal: AbortSignal | undefined } {
  checkName('group name', name, nameBytesMax);
  if (handlers === null || typeof handlers !== 'object') throw new OptionError('handlers must be an object');
  for (const k of Object.keys(handlers)) {
    if (k !== 'onEvent' && k !== 'checkpoint' && k !== 'onProgress' && k !== 'onError' && k !== 'timeoutMs' && k !== 'signal') throw new OptionError(`unknown handler ${k}`, ErrorCode.unknownOption);
  }
  const timeoutMs = checkTimeout('timeoutMs', handlers.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
  const signal = checkSignal(handlers.signal);
  if (signal?.aborted === true) throw new CohortError(ErrorCode.aborted, `join of group ${name} aborted before it began`, { cause: signal.reason });
  return { timeoutMs, signal };
}

/** Whether this endpoint may join group `name` now: not in it yet, below `groupsMax`, allowed by `access`. */
export function checkCanJoin(j: { name: string; id: string; groups: ReadonlyMap<string, unknown>; groupsMax: number; access: GroupAccess }): void {
  const { name, groups } = j;
  if (groups.has(name)) throw new CohortError(ErrorCode.alreadyJoined, `already a member of group ${name}`);
  if (groups.size >= j.groupsMax) {
    throw new CohortError(ErrorCode.limit, `already in ${groups.size} groups; the limit is ${j.groupsMax} (option groupsPerEndpointMax)`);
  }
  if (!j.access.allowed(name, j.id)) {
    throw new CohortError(ErrorCode.accessDenied, `member ${j.id} is not allowed in group ${name} (option groupAccess)`);
  }
}
