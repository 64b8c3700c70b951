/**
 * Options of the TCP transport: their documented type, defaults, and resolution into
 * the checked, defaulted form the transport runs on.
 *
 * Intuition: every option is checked once, at `TcpTransport.listen`, with an
 * `OptionError` naming the option and the bad value, so the socket code can trust
 * what it reads. The secret is turned into the network key here, and TLS material is
 * tried in a secure context here, so a bad certificate fails at start, not at the
 * first connection. Unknown keys are rejected: a misspelt option must not silently
 * leave a default (an insecure one, say) in place.
 */
import * as tls from 'node:tls';
import { ErrorCode, OptionError } from '../errors.js';
import { defaultWireLimits } from '../wire/codec.js';
import { isLoopback, isWildcard, parseHostPort } from './address.js';
import { FRAME_LENGTH_MAX } from './frame-parser.js';
import { NETWORK_BYTES_MAX } from './handshake.js';
import { SECRET_BYTES_MIN, networkKey } from './secure.js';

/** How much a transport diagnostic matters (the levels of `Logger`). */
export type TransportLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Options of `TcpTransport.listen`. Unknown keys are rejected with `OptionError`. */
export interface TcpTransportOptions {
  /**
   * Where to listen, as `host:port`: an IPv4 address (`127.0.0.1:7000`), a host name
   * (`localhost:7000`), or a bracketed IPv6 address (`[::1]:7000`). Port 0 picks a
   * free port. A wildcard host (`0.0.0.0`, `[::]`) needs `advertise`, since nobody can
   * dial it.
   */
  readonly listen: string;
  /**
   * The address other endpoints should dial to reach this one, as `host:port` (e.g.
   * the public address when behind NAT or a proxy). Port 0 stands for the port
   * actually bound. It is sent in every handshake and becomes `from` of our messages.
   * @default the bound address with the real port, e.g. `127.0.0.1:41234`
   */
  readonly advertise?: string;
  /**
   * The network name (1–255 UTF-8 bytes). Connections between endpoints of different
   * networks are refused in the handshake, with the reason logged on both sides.
   * @default 'cohort'
   */
  readonly network?: string;
  /**
   * Largest frame accepted (and sent), in bytes, excluding the 4-byte length prefix.
   * A longer frame closes the connection. At most 2^32 − 1.
   * @default 64 MiB (67_108_864), the codec's `defaultWireLimits.frameBytesMax`
   */
  readonly frameBytesMax?: number;
  /**
   * Unsent bytes allowed per peer (our queue plus the socket's own buffer) before new
   * frames to that peer are dropped and counted in `framesDropped`.
   * @default 64 MiB (67_108_864)
   */
  readonly peerQueueBytesMax?: number;
  /**
   * How long a dial may take to establish the TCP connection (DNS included).
   * Milliseconds.
   * @default 2000
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long a connection may take to complete the handshake; a connection that has
   * not is closed. Also bounds how long a half-closed connection may linger.
   * Milliseconds.
   * @default 2000
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * Backoff after the first failed dial to a peer; it doubles with every further
   * failure up to `reconnectMaxMs`, with jitter (each delay is drawn from its upper
   * half). Milliseconds.
   * @default 50
   */
  readonly reconnectMinMs?: number;
  /**
   * Largest backoff between dials to a peer. Milliseconds.
   * @default 1000
   */
  readonly reconnectMaxMs?: number;
  /**
   * The network secret every member shares (at least 16 bytes; a string is taken as
   * its UTF-8 bytes). With it, each connection runs a mutual challenge–response before
   * anything else (the secret never crosses the wire) and every later frame is
   * encrypted and authenticated with keys of that connection alone (AES-256-GCM), so an
   * endpoint without the secret can neither join, read, inject nor replay. All members
   * of a network need the same secret; a peer without it, or with another, is refused
   * and the refusal is logged with its address. See `./secure.ts`.
   * @default none
   */
  readonly secret?: Uint8Array | string;
  /**
   * TLS with mutual certificate authentication (PEM texts or buffers): every connection
   * is TLS 1.3, both sides present a certificate, and each must be signed by `ca` and
   * valid now (an expired, not-yet-valid or untrusted certificate is refused, and the
   * refusal logged with the peer's address). For deployments with a PKI. Peers are
   * addressed by IP, so host names in certificates are not checked: the CA decides who
   * is a member. May be combined with `secret`.
   *
   * `idFrom` binds member ids to certificates: with `'cn'` (the default) every message
   * a peer sends must carry, as its sender's id, the subject common name (CN) of the
   * certificate that peer's connection presented; others are dropped and logged. So a
   * holder of a certificate can speak only as the member its certificate names, and
   * per-group access lists hold. `'none'`: any id (the CA alone decides membership).
   * @default none
   */
  readonly tls?: { readonly key: string | Uint8Array; readonly cert: string | Uint8Array; readonly ca: string | Uint8Array; readonly idFrom?: 'cn' | 'none' };
  /**
   * Connections accepted from one remote IP address and open at once; more are closed
   * as soon as they arrive (logged once per second). Bounds what one host can hold of
   * ours, e.g. by connecting and never completing the handshake.
   * @default 64
   */
  readonly connectionsPerAddressMax?: number;
  /**
   * Allow listening on an address other than loopback without a secret. Without a
   * secret anyone who can reach the port can join, read and send; say so explicitly.
   * @default false
   */
  readonly insecure?: boolean;
  /**
   * Receives one line per notable event: refused or failed connections, bad frames,
   * dropped frames, duplicate connections resolved. Exceptions it throws are ignored.
   * @default none (silent)
   */
  readonly onLog?: (line: string, level: TransportLogLevel) => void;
}


const optionNames: ReadonlySet<string> = new Set([
  'listen',
  'advertise',
  'network',
  'frameBytesMax',
  'peerQueueBytesMax',
  'connectTimeoutMs',
  'handshakeTimeoutMs',
  'reconnectMinMs',
  'reconnectMaxMs',
  'secret',
  'insecure',
  'tls',
  'connectionsPerAddressMax',
  'onLog',
]);

/** Defaults of the optional numeric and string options, in one place. */
const defaults = {
  network: 'cohort',
  frameBytesMax: defaultWireLimits.frameBytesMax,
  peerQueueBytesMax: 64 * 1024 * 1024,
  connectTimeoutMs: 2000,
  handshakeTimeoutMs: 2000,
  reconnectMinMs: 50,
  reconnectMaxMs: 1000,
  connectionsPerAddressMax: 64,
} as const;

/** The options after {@link resolveOptions}: checked, defaulted, parsed. */
export interface ResolvedOptions {
  readonly listen: HostPort;
  readonly advertise: HostPort | null;
  readonly network: string;
  readonly frameBytesMax: number;
  readonly peerQueueBytesMax: number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly connectionsPerAddressMax: number;
  /** TLS settings shared by the server and every dial, or null without TLS. */
  readonly tls: TlsFiles | null;
  /** With TLS: whose id a peer may send as (see `TcpTransportOptions.tls`). */
  readonly tlsIdFrom: 'cn' | 'none';
  /** The network key derived from the secret, or null without one. */
  readonly key: Buffer | null;
  readonly onLog: ((line: string, level: TransportLogLevel) => void) | null;
}

type HostPort = { readonly host: string; readonly port: number };
type TlsFiles = { readonly key: Buffer; readonly cert: Buffer; readonly ca: Buffer };

function intOption(o: Record<string, unknown>, name: keyof typeof defaults, min: number, max: number): number {
  const v = o[name];
  if (v === undefined) return defaults[name] as number;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new OptionError(`option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

/**
 * Checks `options` and fills in the defaults. The checks run in a fixed order, so
 * that of several bad options the same one is always named.
 *
 * @throws OptionError naming the option, for an unknown, missing or invalid one, and
 *   for listening beyond loopback without a secret, TLS or `insecure: true`.
 */
export function resolveOptions(options: TcpTransportOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  const o = options as unknown as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!optionNames.has(k)) throw new OptionError(`unknown option ${k}`, ErrorCode.unknownOption);
  }
  const { listen, advertise } = resolveAddresses(o);
  const network = resolveNetwork(o);
  const onLog = o['onLog'];
  if (onLog !== undefined && typeof onLog !== 'function') throw new OptionError('option onLog must be a function');
  const msMax = 2 ** 31 - 1; // the largest delay setTimeout honours
  const reconnectMinMs = intOption(o, 'reconnectMinMs', 1, msMax);
  const reconnectMaxMs = intOption(o, 'reconnectMaxMs', 1, msMax);
  if (reconnectMaxMs < reconnectMinMs) {
    throw new OptionError(`option reconnectMaxMs (${reconnectMaxMs}) must be at least reconnectMinMs (${reconnectMinMs})`);
  }
  const key = resolveKey(o, network);
  const { tls: tlsOpts, tlsIdFrom } = resolveTls(o);
  const insecure = o['insecure'];
  if (insecure !== undefined && typeof insecure !== 'boolean') throw new OptionError('option insecure must be a boolean');
  if (key === null && tlsOpts === null && insecure !== true && !isLoopback(listen.host)) {
    throw new OptionError(
      `refusing to listen on ${JSON.stringify(o['listen'])} without a secret or TLS: anyone who can reach it could join, read and send; ` +
        'give a secret (--secret-file) or TLS certificates (--tls-cert, --tls-key, --tls-ca), or say insecure: true (--insecure)',
      ErrorCode.insecure,
    );
  }
  return {
    listen,
    advertise,
    network,
    key,
    frameBytesMax: intOption(o, 'frameBytesMax', 1, FRAME_LENGTH_MAX),
    peerQueueBytesMax: intOption(o, 'peerQueueBytesMax', 1, Number.MAX_SAFE_INTEGER),
    connectTimeoutMs: intOption(o, 'connectTimeoutMs', 1, msMax),
    handshakeTimeoutMs: intOption(o, 'handshakeTimeoutMs', 1, msMax),
    reconnectMinMs,
    reconnectMaxMs,
    connectionsPerAddressMax: intOption(o, 'connectionsPerAddressMax', 1, 1_000_000),
    tls: tlsOpts,
    tlsIdFrom,
    onLog: (onLog as ((line: string) => void) | undefined) ?? null,
  };
}

/** `listen` (required) and `advertise` (required with a wildcard `listen`). */
function resolveAddresses(o: Record<string, unknown>): { listen: HostPort; advertise: HostPort | null } {
  if (typeof o['listen'] !== 'string') {
    throw new OptionError('option listen is required: a "host:port" string such as "127.0.0.1:0"');
  }
  const listen = parseHostPort(o['listen'], 'option listen');
  let advertise: HostPort | null = null;
  if (o['advertise'] !== undefined) {
    if (typeof o['advertise'] !== 'string') throw new OptionError('option advertise must be a "host:port" string');
    advertise = parseHostPort(o['advertise'], 'option advertise');
  } else if (isWildcard(listen.host)) {
    throw new OptionError(
      `option listen is the wildcard address ${JSON.stringify(o['listen'])}, which peers cannot dial: ` +
        'give option advertise, the address they should dial',
    );
  }
  return { listen, advertise };
}

function resolveNetwork(o: Record<string, unknown>): string {
  if (o['network'] === undefined) return defaults.network;
  const n = o['network'];
  const ok =
    typeof n === 'string' &&
    n.length > 0 &&
    Buffer.byteLength(n, 'utf8') <= NETWORK_BYTES_MAX &&
    Buffer.from(n, 'utf8').toString('utf8') === n; // no lone surrogates
  if (!ok) {
    throw new OptionError(
      `option network must be a string of 1 to ${NETWORK_BYTES_MAX} UTF-8 bytes, got ${JSON.stringify(n)}`,
    );
  }
  return n;
}

/** The network key from option `secret`, or null without one. */
function resolveKey(o: Record<string, unknown>, network: string): Buffer | null {
  const secret = o['secret'];
  if (secret === undefined) return null;
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret instanceof Uint8Array ? secret : null;
  if (bytes === null) throw new OptionError('option secret must be a Uint8Array or a string');
  if (bytes.length < SECRET_BYTES_MIN) {
    throw new OptionError(`option secret is ${bytes.length} bytes; at least ${SECRET_BYTES_MIN} are needed (e.g. 32 random bytes)`);
  }
  return networkKey(bytes, network);
}

/** Option `tls`, tried in a secure context so that bad material fails here. */
function resolveTls(o: Record<string, unknown>): { tls: TlsFiles | null; tlsIdFrom: 'cn' | 'none' } {
  const t = o['tls'];
  if (t === undefined) return { tls: null, tlsIdFrom: 'none' };
  if (t === null || typeof t !== 'object') throw new OptionError('option tls must be an object { key, cert, ca } of PEM texts');
  const tt = t as Record<string, unknown>;
  for (const k of Object.keys(tt)) if (k !== 'key' && k !== 'cert' && k !== 'ca' && k !== 'idFrom') throw new OptionError(`unknown option tls.${k}`, ErrorCode.unknownOption);
  if (tt['idFrom'] !== undefined && tt['idFrom'] !== 'cn' && tt['idFrom'] !== 'none') throw new OptionError(`option tls.idFrom must be 'cn' or 'none', got ${JSON.stringify(tt['idFrom'])}`);
  const tlsIdFrom = tt['idFrom'] === 'none' ? 'none' : 'cn';
  const pem = (name: string): Buffer => {
    const v = tt[name];
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    if (v instanceof Uint8Array) return Buffer.from(v);
    throw new OptionError(`option tls.${name} is required: a PEM text`);
  };
  const files: TlsFiles = { key: pem('key'), cert: pem('cert'), ca: pem('ca') };
  try {
    tls.createSecureContext({ ...files, minVersion: 'TLSv1.3' });
  } catch (e) {
    throw new OptionError(`option tls: ${errorText(e)}`);
  }
  return { tls: files, tlsIdFrom };
}

/** The text of a thrown value, for option errors and log lines. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
