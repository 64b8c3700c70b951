/**
 * Typed errors. A caller's mistake throws a `CohortError` subclass whose `code` a
 * program can switch on and whose message names what was wrong. Faults of the world
 * (a bad frame, a silent peer) are never thrown at the caller: they are counted and
 * dropped, or become suspicions. A broken invariant of our own crashes through
 * `assert()`.
 */

/**
 * Machine-readable error codes, one per kind of mistake: the `code` of every
 * {@link CohortError}. Switch on these rather than on messages, which may change.
 *
 * @example
 * ```ts
 * try {
 *   await group.multicast(bytes);
 * } catch (err) {
 *   if (err instanceof CohortError && err.code === ErrorCode.messageTooLarge) split(bytes);
 *   else throw err;
 * }
 * ```
 */
export const ErrorCode = {
  /** An option or argument of the wrong type or out of range (`OptionError`). */
  badOption: 'ERR_BAD_OPTION',
  /** An option or handler name the API does not know: usually a typo (`OptionError`). */
  unknownOption: 'ERR_UNKNOWN_OPTION',
  /** A multicast payload above `messageBytesMax` (`InputError`). */
  messageTooLarge: 'ERR_MESSAGE_TOO_LARGE',
  /** A member id or group name above 256 UTF-8 bytes (`InputError`). */
  nameTooLong: 'ERR_NAME_TOO_LONG',
  /** A member id or group name that is empty or holds control characters (`InputError`). */
  badName: 'ERR_BAD_NAME',
  /** A call on a stopped endpoint or a left group (`ClosedError`). */
  closed: 'ERR_CLOSED',
  /** `join` of a group this endpoint is already in (or joining). */
  alreadyJoined: 'ERR_ALREADY_JOINED',
  /** The endpoint was excluded from the view; pending calls reject with this (`ClosedError`). */
  excluded: 'ERR_EXCLUDED',
  /** A frame that cannot be decoded (`WireError`, from `decodeMessage`). */
  wire: 'ERR_WIRE',
  /** A configured limit was reached: `groupsPerEndpointMax`, or a simulator run's event bound. */
  limit: 'ERR_LIMIT',
  /**
   * A `checkpoint()` threw, rejected or returned something other than a `Uint8Array`:
   * that member leaves the group (its handle fails with this code), and the joiner's
   * state comes from another member that has it — or, if none has, the join rejects
   * with this code. A joiner never gets a made-up empty state.
   */
  checkpoint: 'ERR_CHECKPOINT',
  /** Listening beyond loopback without a secret, and without saying `insecure`. */
  insecure: 'ERR_INSECURE',
  /** A member not allowed in a group (option groupAccess). */
  accessDenied: 'ERR_ACCESS_DENIED',
  /**
   * Nothing could be reached: a probe's target, or (`Endpoint.start` timed out or was
   * aborted) every seed — nothing listens there, or the connection failed.
   */
  unreachable: 'ERR_UNREACHABLE',
  /**
   * The handshake was refused: authentication (another secret, an untrusted
   * certificate) or another network name — a probe's target, or a seed that
   * `Endpoint.start` waited for.
   */
  refused: 'ERR_REFUSED',
  /**
   * `Endpoint.start` timed out or was aborted while seeds answer: too few of them are
   * starting to found a network (a founding needs every seed), or the network they
   * belong to cannot take this endpoint in (it has no majority).
   */
  noQuorum: 'ERR_NO_QUORUM',
  /** A probe's target did not answer in time; `Endpoint.start` or `join` took longer than its timeout. */
  timeout: 'ERR_TIMEOUT',
  /** `listen` cannot be bound: another process listens there, or the port needs privileges. */
  addressInUse: 'ERR_ADDRESS_IN_USE',
  /**
   * `Endpoint.start`: a live member of the network, at another address, has this id;
   * ids are unique, so this endpoint is refused (the live one stays).
   */
  duplicateId: 'ERR_DUPLICATE_ID',
  /** The call's `signal` aborted it. */
  aborted: 'ERR_ABORTED',
  /**
   * `multicast` refused a message (it is not sent): the endpoint's multicasts not yet
   * delivered here reached `pendingMulticastsMax` or `pendingMulticastBytesMax`, and
   * have not drained to half of it since. `await group.ready()` waits for room.
   */
  backpressure: 'ERR_BACKPRESSURE',
  /**
   * A group's `onEvent` handler threw or rejected: this member stopped delivering in
   * that group and leaves it (see `GroupHandlers.onError`).
   */
  handler: 'ERR_HANDLER',
  /**
   * An invariant of Cohort itself broke (a bug, never the caller's mistake): the
   * endpoint stopped at once, its connections closed, so the others remove it as
   * crashed. Pending calls reject with it; see the endpoint option `onFatal`.
   */
  internal: 'ERR_INTERNAL',
  /**
   * A persisted log holds a damaged record or segment header before its tail (a torn
   * last write is cut off at open; damage anywhere else is refused with this code,
   * naming the file and byte offset): `CorruptLogError`.
   */
  corrupt: 'ERR_CORRUPT',
  /**
   * A durable group's multicast was delivered, but can no longer be on disk where its
   * `durable` option asked: too many members of its group's view left the network
   * before they had it on disk.
   */
  notDurable: 'ERR_NOT_DURABLE',
  /** A durable endpoint's disk failed (a write or a flush): the endpoint closes with this code. */
  disk: 'ERR_DISK',
} as const;
/** One of the {@link ErrorCode} values, such as `'ERR_CLOSED'`. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error Cohort throws on purpose. */
export class CohortError extends Error {
  /** What kind of mistake this is; stable, unlike the message. */
  readonly code: ErrorCode;
  /**
   * An error of kind `code`.
   *
   * @param code - what kind of mistake this is
   * @param message - a sentence naming what was wrong (the option, the limit)
   * @param options - `cause`: the underlying error, if any
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CohortError';
    this.code = code;
  }
}

/** An option is missing, of the wrong type, out of range, or not known at all. */
export class OptionError extends CohortError {
  /**
   * A bad option.
   *
   * @param message - names the bad option
   * @param code - {@link ErrorCode.badOption} unless the option is not known at all
   */
  constructor(message: string, code: ErrorCode = ErrorCode.badOption) {
    super(code, message);
    this.name = 'OptionError';
  }
}

/** A message, group name or member id exceeds a limit or is malformed. */
export class InputError extends CohortError {
  /**
   * Bad input.
   *
   * @param code - which limit or rule the input broke
   * @param message - what the input was and what the limit is
   */
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'InputError';
  }
}

/** A call on an endpoint or group handle that is stopped, left, or excluded. */
export class ClosedError extends CohortError {
  /**
   * A call on something closed.
   *
   * @param message - what was closed, and why
   * @param code - {@link ErrorCode.closed}, or {@link ErrorCode.excluded} after an exclusion
   */
  constructor(message: string, code: ErrorCode = ErrorCode.closed) {
    super(code, message);
    this.name = 'ClosedError';
  }
}

/** A status probe failed: the target is unreachable, refused us, or did not answer (`code` says which). */
export class ProbeError extends CohortError {
  /**
   * A failed probe.
   *
   * @param code - {@link ErrorCode.unreachable}, {@link ErrorCode.refused} or {@link ErrorCode.timeout}
   * @param message - the target, and why the probe failed
   */
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'ProbeError';
  }
}

/** A frame that cannot be decoded: truncated, oversized, or malformed. */
export class WireError extends CohortError {
  /**
   * An undecodable frame.
   *
   * @param message - what is wrong with the frame, and where
   */
  constructor(message: string) {
    super(ErrorCode.wire, message);
    this.name = 'WireError';
  }
}

/**
 * A persisted log is damaged before its tail: a record or segment header whose
 * checksum, length or index is wrong, with valid data after it (or in a segment that
 * is not the last). Opening the log refuses it rather than lose what follows.
 */
export class CorruptLogError extends CohortError {
  /**
   * A damaged log.
   *
   * @param file - the segment file, as named in its directory
   * @param offset - the byte offset in `file` where the damaged record or header starts
   * @param message - what is wrong there
   */
  constructor(
    readonly file: string,
    readonly offset: number,
    message: string,
  ) {
    super(ErrorCode.corrupt, `corrupt log: ${file} at byte ${offset}: ${message}`);
    this.name = 'CorruptLogError';
  }
}

/** Thrown when an invariant of Cohort itself is broken: a bug, never a user error. */
export class AssertionFailure extends Error {
  /**
   * A broken invariant.
   *
   * @param message - the invariant that was broken
   */
  constructor(message: string) {
    super(message);
    this.name = 'AssertionFailure';
  }
}

/** Crash on a broken invariant. */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never): never {
  throw new AssertionFailure(`unexpected value: ${JSON.stringify(value)}`);
}
