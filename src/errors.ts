/**
 * Typed errors. A caller's mistake throws a `CohortError` subclass whose `code` a
 * program can switch on and whose message names what was wrong. Faults of the world
 * (a bad frame, a silent peer) are never thrown at the caller: they are counted and
 * dropped, or become suspicions. A broken invariant of our own crashes through
 * `assert()`.
 */

/** Machine-readable error codes, one per kind of mistake. */
export const ErrorCode = {
  badOption: 'ERR_BAD_OPTION',
  unknownOption: 'ERR_UNKNOWN_OPTION',
  messageTooLarge: 'ERR_MESSAGE_TOO_LARGE',
  nameTooLong: 'ERR_NAME_TOO_LONG',
  badName: 'ERR_BAD_NAME',
  closed: 'ERR_CLOSED',
  alreadyJoined: 'ERR_ALREADY_JOINED',
  excluded: 'ERR_EXCLUDED',
  wire: 'ERR_WIRE',
  limit: 'ERR_LIMIT',
  checkpoint: 'ERR_CHECKPOINT',
  /** Listening beyond loopback without a secret, and without saying `insecure`. */
  insecure: 'ERR_INSECURE',
  /** A member not allowed in a group (option groupAccess). */
  accessDenied: 'ERR_ACCESS_DENIED',
  /** A probe's target cannot be reached: nothing listens there, or the connection failed. */
  unreachable: 'ERR_UNREACHABLE',
  /** A probe's target refused the connection: authentication (secret, TLS) or network name. */
  refused: 'ERR_REFUSED',
  /** A probe's target did not answer in time. */
  timeout: 'ERR_TIMEOUT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error Cohort throws on purpose. */
export class CohortError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CohortError';
    this.code = code;
  }
}

/** An option is missing, of the wrong type, out of range, or not known at all. */
export class OptionError extends CohortError {
  constructor(message: string, code: ErrorCode = ErrorCode.badOption) {
    super(code, message);
    this.name = 'OptionError';
  }
}

/** A message, group name or member id exceeds a limit or is malformed. */
export class InputError extends CohortError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'InputError';
  }
}

/** A call on an endpoint or group handle that is stopped, left, or excluded. */
export class ClosedError extends CohortError {
  constructor(message: string, code: ErrorCode = ErrorCode.closed) {
    super(code, message);
    this.name = 'ClosedError';
  }
}

/** A status probe failed: the target is unreachable, refused us, or did not answer (`code` says which). */
export class ProbeError extends CohortError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'ProbeError';
  }
}

/** A frame that cannot be decoded: truncated, oversized, or malformed. */
export class WireError extends CohortError {
  constructor(message: string) {
    super(ErrorCode.wire, message);
    this.name = 'WireError';
  }
}

/** Thrown when an invariant of Cohort itself is broken: a bug, never a user error. */
export class AssertionFailure extends Error {
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
