/**
 * The fault proxy's settings: the faults of a link, the proxy's options, their limits,
 * and their validation.
 *
 * Intuition: a test changes faults while bytes flow, so a bad value must be refused
 * whole, before anything changes (`validateSettings` returns the new faults, or
 * throws `OptionError`), and every number has a bound, so that no timer overflows and
 * no value means "forever" by accident. The pipes (`fault-pipe.ts`) then read the
 * settings in force at each step; the proxy (`fault-proxy.ts`) applies them.
 */
import { ErrorCode, OptionError } from '../errors.js';

/** Which direction(s) of every connection a {@link FaultProxy.set} applies to. */
export const Direction = {
  /** Client → target: bytes the proxy's clients send. */
  up: 'up',
  /** Target → client: bytes the target sends back. */
  down: 'down',
  /** Both directions, each with its own copy of the settings. */
  both: 'both',
} as const;
/** One of {@link Direction}'s values. */
export type Direction = (typeof Direction)[keyof typeof Direction];

/** The faults of one direction of the link. Every connection applies them independently. */
export interface LinkFaults {
  /**
   * Delay added to every chunk before it is forwarded, in milliseconds (at most one
   * hour). A change applies to chunks read after it; chunks already held keep their
   * release time.
   * @default 0
   */
  latencyMs: number;
  /**
   * Extra delay drawn uniformly from `0..jitterMs` per chunk, in milliseconds (at most
   * one hour). Bytes are never reordered: a chunk is released no earlier than the one
   * read before it on the same connection.
   * @default 0
   */
  jitterMs: number;
  /**
   * Rate cap in bytes per second, applied after the delay (0 = unlimited; otherwise at
   * least 1). Output is paced in slices of at most 50 ms worth of bytes.
   * @default 0
   */
  bandwidthBytesPerS: number;
  /**
   * Hold every byte (and a FIN) until unset, then release them in order, each no
   * earlier than its own release time. Reading continues until `heldBytesMax`.
   * @default false
   */
  stall: boolean;
  /**
   * Reset the connection (destroy both sockets with a TCP RST) once this many bytes
   * have been forwarded in this direction on it (0 = off). Exactly that many bytes are
   * forwarded first. Counted per connection, from the connection's start or from the
   * `set()` that changed the limit, whichever is later; it applies to every connection,
   * including ones accepted later.
   * @default 0
   */
  resetAfterBytes: number;
  /**
   * Silently drop every byte, including bytes already held, while keeping the
   * connections open: a dead link. A FIN is not dropped but held until unset (a real
   * FIN would be retransmitted after the link heals). New connections are still
   * accepted and dialled.
   * @default false
   */
  blackhole: boolean;
}

/** The faults of a link with nothing injected: a transparent pipe. */
export const DEFAULT_LINK_FAULTS: Readonly<LinkFaults> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  bandwidthBytesPerS: 0,
  stall: false,
  resetAfterBytes: 0,
  blackhole: false,
});

/** Argument of {@link FaultProxy.set}: the faults to change, and where. */
export type FaultSettings = Partial<LinkFaults> & {
  /**
   * Which direction(s) the given faults apply to.
   * @default 'both'
   */
  direction?: Direction;
};

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Address to listen on, `host:port` or `[ipv6]:port`; port 0 picks a free one. */
  listen: string;
  /** Address every accepted connection is piped to, `host:port` or `[ipv6]:port`. */
  target: string;
  /**
   * Diagnostics, one line each: listening, connections, fault changes, resets, errors.
   * @default none
   */
  onLog?: (line: string) => void;
  /**
   * Source of uniform numbers in [0, 1) for jitter (values outside are clamped; a
   * throw counts as 0).
   * @default Math.random
   */
  rng?: () => number;
  /**
   * Most bytes held per connection and direction (waiting for latency, a stall, the
   * bandwidth cap or a slow receiver); at least 64 KiB. Above it the proxy stops reading
   * the source socket (TCP backpressure) until there is room again.
   * @default 64 MiB
   */
  heldBytesMax?: number;
  /**
   * How long dialling the target may take before the accepted connection is dropped.
   * @default 10_000
   */
  connectTimeoutMs?: number;
}

/** Counters of one direction, summed over every connection. */
export interface DirectionStats {
  /** Bytes written to the destination socket. */
  forwarded: number;
  /** Bytes dropped by a blackhole. */
  dropped: number;
  /** Bytes held right now, over all open connections. */
  held: number;
  /** The most bytes any one connection ever held in this direction (never above `heldBytesMax`). */
  heldPeak: number;
  /** How many times reading from a source socket was paused because its queue was full. */
  pauses: number;
}

/** A snapshot of {@link FaultProxy.stats}. */
export interface FaultProxyStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Connections reset by the proxy (`reset()` or `resetAfterBytes`). */
  resets: number;
  /** Client → target. */
  up: DirectionStats;
  /** Target → client. */
  down: DirectionStats;
}

/** A parsed `host:port`. */
export interface HostPort {
  /** Host name or IP address, without brackets. */
  host: string;
  /** Port number, 0–65535. */
  port: number;
}

/** Limits on options, so that no timer overflows and no option means "forever" by accident. */
export const FAULT_PROXY_LIMITS = {
  /** Largest `latencyMs` and `jitterMs`: one hour. */
  delayMsMax: 3_600_000,
  /** Smallest non-zero `bandwidthBytesPerS`. */
  bandwidthMin: 1,
  /** Smallest `heldBytesMax`: one socket read. */
  heldBytesMin: 64 * 1024,
  /** Largest `connectTimeoutMs`: ten minutes. */
  connectTimeoutMsMax: 600_000,
} as const;

/** `heldBytesMax` unless given: 64 MiB per connection and direction. */
export const DEFAULT_HELD_BYTES_MAX = 64 * 1024 * 1024;
/** `connectTimeoutMs` unless given. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

const faultKeys: readonly (keyof LinkFaults)[] = [
  'latencyMs',
  'jitterMs',
  'bandwidthBytesPerS',
  'stall',
  'resetAfterBytes',
  'blackhole',
];
const optionKeys: readonly (keyof FaultProxyOptions)[] = [
  'listen',
  'target',
  'onLog',
  'rng',
  'heldBytesMax',
  'connectTimeoutMs',
];

/** One direction: the directions a `set()` with `direction` touches. */
export type Side = 'up' | 'down';

/** Parse `host:port` or `[ipv6]:port`. Throws `OptionError` naming `what` if malformed. */
export function parseAddress(address: string, what = 'address'): HostPort {
  if (typeof address !== 'string') throw new OptionError(`${what} must be a "host:port" string`);
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(address);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === undefined || !(port >= 0 && port <= 65_535)) {
    throw new OptionError(`${what} must be "host:port" or "[ipv6]:port" with a port 0-65535, got "${address}"`);
  }
  return { host: m[1], port };
}

/** Format a host and port as `host:port`, bracketing IPv6 addresses. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `v` if it is a (whole, with `integer`) number in `min..max`; else throws `OptionError` naming `name`. */
export function checkNumber(name: string, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new OptionError(`${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

function checkBoolean(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new OptionError(`${name} must be a boolean, got ${String(v)}`);
  return v;
}

/** Validates a `set()` argument (throws `OptionError` naming the bad fault); returns the faults to apply and the sides they apply to. */
export function validateSettings(settings: FaultSettings): { faults: Partial<LinkFaults>; sides: Side[] } {
  if (typeof settings !== 'object' || settings === null) throw new OptionError('faults must be an object');
  const faults: Partial<LinkFaults> = {};
  let sides: Side[] = ['up', 'down'];
  for (const [key, v] of Object.entries(settings)) {
    switch (key) {
      case 'direction':
        if (v === Direction.up) sides = ['up'];
        else if (v === Direction.down) sides = ['down'];
        else if (v !== Direction.both) throw new OptionError(`direction must be 'up', 'down' or 'both', got ${String(v)}`);
        break;
      case 'latencyMs':
      case 'jitterMs':
        faults[key] = checkNumber(key, v, 0, FAULT_PROXY_LIMITS.delayMsMax, false);
        break;
      case 'bandwidthBytesPerS': {
        const n = checkNumber(key, v, 0, Number.MAX_SAFE_INTEGER, false);
        if (n !== 0 && n < FAULT_PROXY_LIMITS.bandwidthMin) {
          throw new OptionError(`bandwidthBytesPerS must be 0 (unlimited) or at least ${FAULT_PROXY_LIMITS.bandwidthMin}, got ${n}`);
        }
        faults[key] = n;
        break;
      }
      case 'resetAfterBytes':
        faults[key] = checkNumber(key, v, 0, Number.MAX_SAFE_INTEGER, true);
        break;
      case 'stall':
      case 'blackhole':
        faults[key] = checkBoolean(key, v);
        break;
      default:
        throw new OptionError(`unknown fault "${key}" (known: direction, ${faultKeys.join(', ')})`, ErrorCode.unknownOption);
    }
  }
  return { faults, sides };
}

/** The faults that differ from the defaults, as `key=value` words, or `none`. */
export function describeFaults(f: Readonly<LinkFaults>): string {
  const parts = faultKeys.filter((k) => f[k] !== DEFAULT_LINK_FAULTS[k]).map((k) => `${k}=${String(f[k])}`);
  return parts.length === 0 ? 'none' : parts.join(' ');
}

/** The options of {@link FaultProxyOptions}, checked and defaulted. */
export interface ResolvedProxyOptions {
  readonly listen: HostPort;
  readonly target: HostPort;
  readonly onLog: ((line: string) => void) | undefined;
  readonly rng: () => number;
  readonly heldBytesMax: number;
  readonly connectTimeoutMs: number;
}

/** Checks the options of `FaultProxy.start` and fills in the defaults; throws `OptionError` naming the bad one. */
export function resolveProxyOptions(opts: FaultProxyOptions): ResolvedProxyOptions {
  if (typeof opts !== 'object' || opts === null) throw new OptionError('FaultProxy options must be an object');
  for (const key of Object.keys(opts)) {
    if (!(optionKeys as readonly string[]).includes(key)) {
      throw new OptionError(`unknown option "${key}" (known: ${optionKeys.join(', ')})`, ErrorCode.unknownOption);
    }
  }
  const listen = parseAddress(opts.listen, 'listen');
  const target = parseAddress(opts.target, 'target');
  if (target.port === 0) throw new OptionError(`target port must be 1-65535, got "${opts.target}"`);
  if (opts.onLog !== undefined && typeof opts.onLog !== 'function') throw new OptionError('onLog must be a function');
  if (opts.rng !== undefined && typeof opts.rng !== 'function') throw new OptionError('rng must be a function');
  const heldBytesMax =
    opts.heldBytesMax === undefined
      ? DEFAULT_HELD_BYTES_MAX
      : checkNumber('heldBytesMax', opts.heldBytesMax, FAULT_PROXY_LIMITS.heldBytesMin, Number.MAX_SAFE_INTEGER, true);
  const connectTimeoutMs =
    opts.connectTimeoutMs === undefined
      ? DEFAULT_CONNECT_TIMEOUT_MS
      : checkNumber('connectTimeoutMs', opts.connectTimeoutMs, 1, FAULT_PROXY_LIMITS.connectTimeoutMsMax, true);
  return { listen, target, onLog: opts.onLog, rng: opts.rng ?? Math.random, heldBytesMax, connectTimeoutMs };
}
