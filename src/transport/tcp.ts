/**
 * The TCP transport: endpoints in separate processes (or machines) reach each other
 * at `host:port` addresses over one TCP connection per pair.
 *
 * Intuition: the protocol core retransmits everything that matters, so this transport
 * promises little — messages on one connection arrive in order, a connection break
 * may lose whatever was in flight — and spends its care on the two things the core
 * cannot do for it: surviving hostile or broken input without throwing, and keeping
 * memory bounded whatever the peers do.
 *
 * ## Design, and why
 *
 * - **Framing.** Every frame is a 4-byte big-endian unsigned length, then that many
 *   bytes. The length is checked against a limit *before* anything is buffered for
 *   it (a tiny limit until the handshake completes, `frameBytesMax` after), and a
 *   frame body grows its buffer geometrically as bytes actually arrive, so four bytes
 *   of header cannot make us allocate 64 MiB. An oversized or undecodable frame closes
 *   that one connection (logged, counted in `badFrames`); nothing is thrown.
 * - **Received bytes are copied** into a buffer owned by one frame before decoding:
 *   `decodeMessage` returns payload views into its input, and Node may reuse the
 *   buffers it hands to `'data'` listeners. Each frame's buffer is never reused.
 * - **Handshake.** The first frame in each direction is a small binary hello (format
 *   below). It names the network, so two clusters on one host cannot talk by mistake,
 *   and it carries the sender's *advertised* address, which becomes `from` of every
 *   message on that connection — the address the handler can answer to, even when the
 *   socket's remote port is ephemeral or the peer sits behind NAT.
 * - **One connection per pair, used both ways.** When both endpoints dial each other at
 *   once, each side ends up with two open connections; both apply the same rule and
 *   keep the one dialed by the endpoint whose advertised address sorts lower (by UTF-16
 *   code units, `<`); if both were dialed by the same endpoint (it restarted), the newer
 *   one. The rule uses only addresses both sides learned in the handshakes, so both
 *   pick the same connection. The loser is half-closed (`end()`), not destroyed: its
 *   peer reads until our FIN and we read until theirs, so frames already written to it
 *   still arrive. Frames not yet written are queued per *peer*, not per connection,
 *   so they simply go out on the kept one. An endpoint that accepts a connection from
 *   a higher address dials back, so a pair always ends on the lower one's dial, whoever
 *   spoke first: the path between two endpoints is predictable (a proxy in front of an
 *   endpoint carries its links to every lower address); a dial-back that fails (a
 *   one-way NAT) leaves the accepted connection in service.
 * - **Batching.** `send` encodes the message once (straight into its length-prefixed
 *   frame; a message object sent to several peers in one turn, as a multicast is, is
 *   encoded once for all of them) and queues it on its peer; a microtask writes each
 *   peer's queue with a single `socket.write` once the code that sent has finished
 *   (everything one input caused leaves together, and at once). Sockets have
 *   `noDelay` set: the batching is ours, Nagle's delay would only add latency. Large
 *   frames are encoded into buffers of their own and read as views of the socket's
 *   chunk, so a 10 KiB multicast is not copied on its way through the transport.
 * - **Backpressure.** A peer's frames waiting in our queue plus its socket's
 *   `writableLength` may not exceed `peerQueueBytesMax`; past it, new frames to that
 *   peer are dropped and counted (`framesDropped`). `bufferedBytes(to)` exposes the sum.
 * - **Reconnection.** A send to a peer without a connection dials it. A failed dial
 *   drops that peer's queued frames (so a dead peer cannot pin memory, and no stale
 *   burst follows a long outage) and sets an exponential backoff with jitter before the
 *   next attempt; sends during the backoff queue (bounded) and a timer dials when it
 *   ends. The backoff is reset only once a *data* frame arrives from the peer, so a
 *   peer that accepts and then immediately closes us still backs off.
 * - **Self-sends** are queued and delivered from a `setImmediate`, by
 *   reference (no encoding), like the in-memory transport: the handler never runs
 *   inside `send`.
 *
 * - **Who may connect.** The network name alone guards against mistakes, not attacks.
 *   With a network `secret` the handshake authenticates both sides and every later
 *   frame is encrypted (`secure.ts`); with `tls`, TLS 1.3 with mutual certificates
 *   does. Listening beyond loopback requires one of them, or `insecure: true`.
 *   Accepted connections are bounded per remote address (`connectionsPerAddressMax`),
 *   and each one that has not completed its handshake to a 4 KiB frame and
 *   `handshakeTimeoutMs`.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Message } from '../core/types.js';
import { CohortError, ErrorCode, OptionError } from '../errors.js';
import { Writer } from '../wire/buffer.js';
import { decodeMessage, defaultWireLimits, resolveWireLimits, writeMessage, writeMessageHead, type WireLimits } from '../wire/codec.js';
import { NONCE_BYTES, Opener, PROOF_BYTES, RECORD_PLAIN_BYTES, SECRET_BYTES_MIN, Sealer, TAG_BYTES, freshNonce, networkKey, proof, proofMatches, sessionKeys, transcript } from './secure.js';
import type { MessageHandler, PeerProblem, RefusedHandler, Transport } from './transport.js';

// ---------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------

/** Options of {@link TcpTransport.listen}. Unknown keys are rejected with `OptionError`. */
/** How much a transport diagnostic matters (the levels of `Logger`). */
export type TransportLogLevel = 'debug' | 'info' | 'warn' | 'error';

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

/** Counters of the TCP transport, since it started. */
export interface TcpTransportStats {
  /** Message frames written to sockets (handshakes and self-sends excluded). */
  readonly framesSent: number;
  /** Message frames received and decoded (handshakes excluded). */
  readonly framesReceived: number;
  /** Bytes written to sockets: every length prefix, handshake and frame. */
  readonly bytesSent: number;
  /** Bytes read from sockets, everything included. */
  readonly bytesReceived: number;
  /**
   * Frames dropped before reaching a socket: over `peerQueueBytesMax`, over
   * `frameBytesMax`, to an invalid address, or queued for a peer that could not be
   * dialed.
   */
  readonly framesDropped: number;
  /** Open connections in use now: at most one per peer. */
  readonly connections: number;
  /** Connections closed for a bad frame: oversized, undecodable, or a bad handshake. */
  readonly badFrames: number;
  /** Handshakes that ended in a refusal, refused by us or by the peer. */
  readonly refused: number;
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

interface Resolved {
  readonly listen: { readonly host: string; readonly port: number };
  readonly advertise: { readonly host: string; readonly port: number } | null;
  readonly network: string;
  readonly frameBytesMax: number;
  readonly peerQueueBytesMax: number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly connectionsPerAddressMax: number;
  /** TLS settings shared by the server and every dial, or null without TLS. */
  readonly tls: { readonly key: Buffer; readonly cert: Buffer; readonly ca: Buffer } | null;
  /** With TLS: whose id a peer may send as (see `TcpTransportOptions.tls`). */
  readonly tlsIdFrom: 'cn' | 'none';
  /** The network key derived from the secret, or null without one. */
  readonly key: Buffer | null;
  readonly onLog: ((line: string, level: TransportLogLevel) => void) | null;
}

/** The largest value a 4-byte length prefix can hold. */
const FRAME_LENGTH_MAX = 0xffff_ffff;
const LENGTH_PREFIX_BYTES = 4;
/** Payloads from this size on are encoded into a frame buffer of their own (no copy out). */
const FRESH_FRAME_PAYLOAD_BYTES = 4096;
/** Room for a message's fields around its payload; the writer grows if it needs more. */
const FRESH_FRAME_SLACK_BYTES = 1024;
/** Frames averaging this size or more go to the socket as they are (writev), not concatenated. */
const WRITEV_FRAME_BYTES = 4096;

function intOption(o: Record<string, unknown>, name: keyof typeof defaults, min: number, max: number): number {
  const v = o[name];
  if (v === undefined) return defaults[name] as number;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new OptionError(`option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function resolveOptions(options: TcpTransportOptions): Resolved {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  const o = options as unknown as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!optionNames.has(k)) throw new OptionError(`unknown option ${k}`, ErrorCode.unknownOption);
  }
  if (typeof o['listen'] !== 'string') {
    throw new OptionError('option listen is required: a "host:port" string such as "127.0.0.1:0"');
  }
  const listen = parseHostPort(o['listen'], 'option listen');
  let advertise: { host: string; port: number } | null = null;
  if (o['advertise'] !== undefined) {
    if (typeof o['advertise'] !== 'string') throw new OptionError('option advertise must be a "host:port" string');
    advertise = parseHostPort(o['advertise'], 'option advertise');
  } else if (isWildcard(listen.host)) {
    throw new OptionError(
      `option listen is the wildcard address ${JSON.stringify(o['listen'])}, which peers cannot dial: ` +
        'give option advertise, the address they should dial',
    );
  }
  let network: string = defaults.network;
  if (o['network'] !== undefined) {
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
    network = n;
  }
  const onLog = o['onLog'];
  if (onLog !== undefined && typeof onLog !== 'function') throw new OptionError('option onLog must be a function');
  const msMax = 2 ** 31 - 1; // the largest delay setTimeout honours
  const reconnectMinMs = intOption(o, 'reconnectMinMs', 1, msMax);
  const reconnectMaxMs = intOption(o, 'reconnectMaxMs', 1, msMax);
  if (reconnectMaxMs < reconnectMinMs) {
    throw new OptionError(`option reconnectMaxMs (${reconnectMaxMs}) must be at least reconnectMinMs (${reconnectMinMs})`);
  }
  let key: Buffer | null = null;
  const secret = o['secret'];
  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret instanceof Uint8Array ? secret : null;
    if (bytes === null) throw new OptionError('option secret must be a Uint8Array or a string');
    if (bytes.length < SECRET_BYTES_MIN) {
      throw new OptionError(`option secret is ${bytes.length} bytes; at least ${SECRET_BYTES_MIN} are needed (e.g. 32 random bytes)`);
    }
    key = networkKey(bytes, network);
  }
  let tlsOpts: Resolved['tls'] = null;
  let tlsIdFrom: 'cn' | 'none' = 'none';
  const t = o['tls'];
  if (t !== undefined) {
    if (t === null || typeof t !== 'object') throw new OptionError('option tls must be an object { key, cert, ca } of PEM texts');
    const tt = t as Record<string, unknown>;
    for (const k of Object.keys(tt)) if (k !== 'key' && k !== 'cert' && k !== 'ca' && k !== 'idFrom') throw new OptionError(`unknown option tls.${k}`, ErrorCode.unknownOption);
    if (tt['idFrom'] !== undefined && tt['idFrom'] !== 'cn' && tt['idFrom'] !== 'none') throw new OptionError(`option tls.idFrom must be 'cn' or 'none', got ${JSON.stringify(tt['idFrom'])}`);
    tlsIdFrom = tt['idFrom'] === 'none' ? 'none' : 'cn';
    const pem = (name: string): Buffer => {
      const v = tt[name];
      if (typeof v === 'string') return Buffer.from(v, 'utf8');
      if (v instanceof Uint8Array) return Buffer.from(v);
      throw new OptionError(`option tls.${name} is required: a PEM text`);
    };
    tlsOpts = { key: pem('key'), cert: pem('cert'), ca: pem('ca') };
    try {
      tls.createSecureContext({ ...tlsOpts, minVersion: 'TLSv1.3' });
    } catch (e) {
      throw new OptionError(`option tls: ${errorText(e)}`);
    }
  }
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

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host);
  return false;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || (net.isIPv6(host) && /^[0:]+$/.test(host));
}

// ---------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------

/** Longest address accepted, in characters; addresses travel in the handshake. */
const ADDRESS_CHARS_MAX = 300;
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isHostName(host: string): boolean {
  if (host.length > 253) return false;
  const labels = host.split('.');
  if (!labels.every((l) => HOST_LABEL.test(l))) return false;
  // An all-numeric last label is a malformed IPv4 address (`1.2.3`, `256.1.1.1`),
  // never a name: no top-level domain is numeric.
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

/**
 * Parses and validates a `host:port` address: an IPv4 address (`127.0.0.1:7000`), a
 * host name (`node-1.example:7000`), or a bracketed IPv6 address (`[::1]:7000`). The
 * port is a decimal integer from 0 to 65535 without leading zeros. The host is
 * returned as written (brackets removed), not resolved or normalised.
 *
 * @param what - Names the value in error messages (e.g. `option listen`).
 * @throws OptionError naming the address and what is wrong with it.
 */
export function parseHostPort(s: string, what = 'address'): { host: string; port: number } {
  if (typeof s !== 'string') throw new OptionError(`${what} must be a "host:port" string, got ${typeof s}`);
  const bad = (why: string): never => {
    throw new OptionError(`${what} ${JSON.stringify(s)} is not a valid host:port: ${why}`);
  };
  if (s.length === 0) bad('it is empty');
  if (s.length > ADDRESS_CHARS_MAX) bad(`it is longer than ${ADDRESS_CHARS_MAX} characters`);
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) bad('"]" is missing after the IPv6 address');
    host = s.slice(1, close);
    if (s[close + 1] !== ':') bad('":port" must follow "]"');
    portText = s.slice(close + 2);
    if (!net.isIPv6(host)) bad(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) bad('the ":port" is missing');
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) bad('an IPv6 address must be in brackets, e.g. "[::1]:7000"');
    if (host === '') bad('the host is empty');
    if (!net.isIPv4(host) && !isHostName(host)) bad(`${JSON.stringify(host)} is neither an IPv4 address nor a host name`);
  }
  if (!/^(?:0|[1-9][0-9]{0,4})$/.test(portText) || Number(portText) > 65535) {
    bad(`the port ${JSON.stringify(portText)} is not an integer from 0 to 65535`);
  }
  return { host, port: Number(portText) };
}

/**
 * Formats a host and port as an address {@link parseHostPort} accepts: IPv6 hosts
 * (any host containing `:`) in brackets, `[::1]:7000`; others as `host:7000`.
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------

/*
 * The handshake frame (inside the usual 4-byte length prefix), all integers big-endian:
 *
 * | Offset | Size  | Field                                                             |
 * |--------|-------|-------------------------------------------------------------------|
 * | 0      | 6     | magic: ASCII "COHORT"                                             |
 * | 6      | 1     | format version: 2                                                 |
 * | 7      | 1     | kind: 1 hello (dialer), 2 hello-ack (acceptor), 3 refuse          |
 * |        |       | (acceptor), 4 proof (dialer, with a secret only)                  |
 * | 8      | 2 + n | network name: u16 byte length n (1–255), then UTF-8               |
 * | …      | 2 + m | sender's advertised address: u16 length m (1–300), then UTF-8     |
 * | …      | 2 + r | reason: u16 length r (0–1024), then UTF-8; empty unless refuse    |
 * | …      | 1     | authentication: 0 none, 1 network secret                          |
 * | …      | 2 + k | nonce: u16 length k (0 or 32), then bytes                         |
 * | …      | 2 + p | proof: u16 length p (0 or 32), then bytes (HMAC-SHA256)           |
 *
 * The frame must end exactly after the proof, and is at most 4 KiB (the frame limit
 * before a connection's handshake completes). Exchange: the dialer sends hello; the
 * acceptor checks it and answers hello-ack, or refuse with a human-readable reason
 * (e.g. `network mismatch: expected "a", got "b"`) and closes. Only then may either
 * side send message frames. The dialer also checks the ack's network name.
 *
 * With a network secret (`secure.ts`) the hello carries the dialer's nonce, the
 * hello-ack the acceptor's nonce and proof, and the dialer answers with a proof frame;
 * the acceptor treats the connection as open only once that proof checks out. Both
 * sides must agree on using a secret, or the acceptor refuses saying which side lacks
 * it. From then on every frame travels inside encrypted records.
 *
 * A change of layout bumps the version; an acceptor that reads a hello with the right
 * magic but another version refuses it with a reason saying both versions.
 */

/** The handshake frame kinds (the byte at offset 7). */
export const HandshakeKind = { hello: 1, helloAck: 2, refuse: 3, proof: 4 } as const;
/** A handshake frame kind. */
export type HandshakeKind = (typeof HandshakeKind)[keyof typeof HandshakeKind];

/** The handshake format version this build speaks. */
export const HANDSHAKE_VERSION = 2;
const MAGIC = Buffer.from('COHORT', 'ascii');
const NETWORK_BYTES_MAX = 255;
const REASON_BYTES_MAX = 1024;
/** Frame limit before the handshake completes: a hello is far smaller. */
const HANDSHAKE_FRAME_BYTES_MAX = 4096;

interface Handshake {
  readonly kind: HandshakeKind;
  readonly network: string;
  readonly address: string;
  readonly reason: string;
  /** True when the sender uses a network secret. */
  readonly auth: boolean;
  readonly nonce: Buffer;
  readonly proof: Buffer;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EMPTY = Buffer.alloc(0);

/** Cuts `s` to at most `max` UTF-8 bytes, on a character boundary. */
function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** The length-prefixed handshake frame. */
function encodeHandshake(h: Handshake): Buffer {
  const network = Buffer.from(h.network, 'utf8');
  const address = Buffer.from(h.address, 'utf8');
  const reason = Buffer.from(truncateUtf8(h.reason, REASON_BYTES_MAX), 'utf8');
  const body = MAGIC.length + 2 + 2 + network.length + 2 + address.length + 2 + reason.length + 1 + 2 + h.nonce.length + 2 + h.proof.length;
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + body);
  let at = out.writeUInt32BE(body, 0);
  at += MAGIC.copy(out, at);
  at = out.writeUInt8(HANDSHAKE_VERSION, at);
  at = out.writeUInt8(h.kind, at);
  for (const field of [network, address, reason]) {
    at = out.writeUInt16BE(field.length, at);
    at += field.copy(out, at);
  }
  at = out.writeUInt8(h.auth ? 1 : 0, at);
  for (const field of [h.nonce, h.proof]) {
    at = out.writeUInt16BE(field.length, at);
    at += field.copy(out, at);
  }
  return out;
}

/** The result of reading a handshake frame: the handshake, or why it is unusable. */
type HandshakeRead =
  | { readonly ok: true; readonly hs: Handshake }
  | { readonly ok: false; readonly error: string; readonly otherVersion?: number };

function decodeHandshake(frame: Buffer): HandshakeRead {
  if (frame.length < MAGIC.length + 2 || !frame.subarray(0, MAGIC.length).equals(MAGIC)) {
    return { ok: false, error: 'not a Cohort handshake (bad magic)' };
  }
  const version = frame[MAGIC.length]!;
  if (version !== HANDSHAKE_VERSION) {
    return {
      ok: false,
      error: `handshake version mismatch: this endpoint speaks ${HANDSHAKE_VERSION}, the peer ${version}`,
      otherVersion: version,
    };
  }
  const kind = frame[MAGIC.length + 1]!;
  if (kind !== HandshakeKind.hello && kind !== HandshakeKind.helloAck && kind !== HandshakeKind.refuse && kind !== HandshakeKind.proof) {
    return { ok: false, error: `unknown handshake kind ${kind}` };
  }
  let at = MAGIC.length + 2;
  const fields: string[] = [];
  for (const [name, min, max] of [
    ['network', 1, NETWORK_BYTES_MAX],
    ['address', 1, ADDRESS_CHARS_MAX],
    ['reason', 0, REASON_BYTES_MAX],
  ] as const) {
    if (frame.length - at < 2) return { ok: false, error: `handshake truncated before ${name}` };
    const n = frame.readUInt16BE(at);
    at += 2;
    if (n < min || n > max) return { ok: false, error: `handshake ${name} of ${n} bytes (allowed ${min}–${max})` };
    if (frame.length - at < n) return { ok: false, error: `handshake truncated in ${name}` };
    try {
      fields.push(strictUtf8.decode(frame.subarray(at, at + n)));
    } catch {
      return { ok: false, error: `handshake ${name} is not valid UTF-8` };
    }
    at += n;
  }
  if (frame.length - at < 1) return { ok: false, error: 'handshake truncated before authentication' };
  const authByte = frame[at++]!;
  if (authByte > 1) return { ok: false, error: `unknown handshake authentication ${authByte}` };
  const blobs: Buffer[] = [];
  for (const [name, size] of [
    ['nonce', NONCE_BYTES],
    ['proof', PROOF_BYTES],
  ] as const) {
    if (frame.length - at < 2) return { ok: false, error: `handshake truncated before ${name}` };
    const n = frame.readUInt16BE(at);
    at += 2;
    if (n !== 0 && n !== size) return { ok: false, error: `handshake ${name} of ${n} bytes (allowed 0 or ${size})` };
    if (frame.length - at < n) return { ok: false, error: `handshake truncated in ${name}` };
    blobs.push(frame.subarray(at, at + n));
    at += n;
  }
  if (at !== frame.length) return { ok: false, error: `${frame.length - at} trailing bytes after the handshake` };
  return { ok: true, hs: { kind, network: fields[0]!, address: fields[1]!, reason: fields[2]!, auth: authByte === 1, nonce: blobs[0]!, proof: blobs[1]! } };
}

// ---------------------------------------------------------------------------------
// Stream framing
// ---------------------------------------------------------------------------------

/** A frame body buffer starts at this size (unless the chunk at hand holds the whole frame) and doubles. */
const BODY_INITIAL_BYTES = 64 * 1024;

/**
 * Splits a byte stream into length-prefixed frames. Each frame is handed out in a
 * fresh buffer that the parser never touches again, so decoded views stay valid.
 */
class FrameParser {
  private readonly header = Buffer.alloc(LENGTH_PREFIX_BYTES);
  private headerLen = 0;
  /** Length of the frame being read, or -1 while reading a length prefix. */
  private need = -1;
  private body: Buffer | null = null;
  private bodyLen = 0;

  /**
   * Feeds `chunk`. Calls `onFrame` for every complete frame and stops early when it
   * returns false. `limit()` is read at each length prefix (it changes once the
   * handshake completes). Returns an error text when a length exceeds the limit (the
   * stream is then unusable), else null.
   */
  push(chunk: Buffer, limit: () => number, onFrame: (frame: Buffer) => boolean): string | null {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.need < 0) {
        let len: number;
        if (this.headerLen === 0 && n - off >= LENGTH_PREFIX_BYTES) {
          len = chunk.readUInt32BE(off);
          off += LENGTH_PREFIX_BYTES;
        } else {
          const k = Math.min(LENGTH_PREFIX_BYTES - this.headerLen, n - off);
          chunk.copy(this.header, this.headerLen, off, off + k);
          this.headerLen += k;
          off += k;
          if (this.headerLen < LENGTH_PREFIX_BYTES) return null;
          this.headerLen = 0;
          len = this.header.readUInt32BE(0);
        }
        const max = limit();
        if (len > max) return `a frame of ${len} bytes exceeds the limit of ${max}`;
        if (len === 0) {
          if (!onFrame(Buffer.alloc(0))) return null;
          continue;
        }
        this.need = len;
        // The chunk may end right after the length prefix: wait for the body.
        if (off === n) return null;
      }
      const avail = n - off;
      const rest = this.need - this.bodyLen;
      if (this.body === null && avail >= rest) {
        // The common case: the whole frame is in this chunk. A large part of the chunk
        // is used as it is (it pins at most four times its size); a small frame gets an
        // exact-size copy, so that it does not pin the chunk.
        let frame: Buffer;
        if (rest * 4 >= n) frame = chunk.subarray(off, off + rest);
        else {
          frame = Buffer.allocUnsafe(rest);
          chunk.copy(frame, 0, off, off + rest);
        }
        off += rest;
        this.need = -1;
        if (!onFrame(frame)) return null;
        continue;
      }
      const k = Math.min(avail, rest);
      this.reserve(this.bodyLen + k);
      chunk.copy(this.body!, this.bodyLen, off, off + k);
      this.bodyLen += k;
      off += k;
      if (this.bodyLen === this.need) {
        const body = this.body!;
        const frame = body.length === this.need ? body : body.subarray(0, this.need);
        this.body = null;
        this.bodyLen = 0;
        this.need = -1;
        if (!onFrame(frame)) return null;
      }
    }
    return null;
  }

  /** Grows the body buffer to hold `size` bytes: geometric, so memory follows the bytes received. */
  private reserve(size: number): void {
    const cap = this.body === null ? 0 : this.body.length;
    if (size <= cap) return;
    const next = Buffer.allocUnsafe(Math.min(this.need, Math.max(size, cap * 2, BODY_INITIAL_BYTES)));
    if (this.body !== null) this.body.copy(next, 0, 0, this.bodyLen);
    this.body = next;
  }
}

// ---------------------------------------------------------------------------------
// Connections and peers
// ---------------------------------------------------------------------------------

/** Lifecycle of a connection. */
const ConnState = {
  /** Dialed, TCP connect in progress. */
  connecting: 'connecting',
  /** Connected, handshake not complete. */
  handshake: 'handshake',
  /** Handshake done; the peer's current connection, or a duplicate about to be retired. */
  open: 'open',
  /** Half-closed by us or by the peer (duplicate, refusal, FIN): no more writes. */
  closing: 'closing',
  /** The socket closed. */
  closed: 'closed',
} as const;
type ConnState = (typeof ConnState)[keyof typeof ConnState];

class Conn {
  state: ConnState;
  /** The peer's advertised address, from its handshake; `from` of its messages. */
  remote: string | null = null;
  /** The peer record this connection serves (set once open). */
  peer: Peer | null = null;
  /** Connect, handshake or lingering timer. */
  timer: NodeJS.Timeout | null = null;
  /** True after we refused the handshake: further input is ignored. */
  discard = false;
  /** The last socket error, for the log line when it closes. */
  error: string | null = null;
  /** The dial was refused (ECONNREFUSED): the host is up, nothing listens at the address. */
  refused = false;
  /** The handshake was refused, by the peer or by us (secret, certificate, network name). */
  handshakeRefused = false;
  /** With `tls.idFrom`: the only sender id this connection's peer may use; null: any. */
  certId: string | null = null;
  /** A message with another id was dropped and logged (once per connection). */
  idMismatchLogged = false;
  /** Message frames received on this connection. */
  messages = 0;
  readonly parser = new FrameParser();
  /** The parser's callbacks for this connection, made once (not per chunk read). */
  frameLimit: () => number = () => 0;
  frameHandler: (frame: Buffer) => boolean = () => false;
  /** With a secret: our handshake nonce, and the peer's once known. */
  nonceSelf: Buffer | null = null;
  noncePeer: Buffer | null = null;
  /** Acceptor with a secret: the dialer's advertised address while its proof is awaited. */
  pendingRemote: string | null = null;
  /** With a secret, once the handshake completed: record protection each way. */
  sealer: Sealer | null = null;
  opener: Opener | null = null;

  constructor(
    readonly socket: net.Socket,
    /** True if we dialed it. */
    readonly dialed: boolean,
    /** For a dialed connection, the address we dialed (the peer's key). */
    readonly dialKey: string | null,
    /** The socket's remote address, for logs. */
    readonly label: string,
  ) {
    this.state = dialed ? ConnState.connecting : ConnState.handshake;
  }
}

interface Peer {
  /** The address we send to (a dialed address, or the advertised address in a hello). */
  readonly key: string;
  /** The open connection frames go out on. */
  conn: Conn | null;
  /** Our dial in progress, not yet open. */
  dialing: Conn | null;
  /** Encoded, length-prefixed frames not yet written (a large data frame as its head, then its payload). */
  queue: Buffer[];
  queuedBytes: number;
  /** Frames in `queue` (a frame is one buffer, or a head and its payload). */
  queuedFrames: number;
  /** Consecutive failed dials (reset once the peer sends us a message). */
  failures: number;
  /** Why the last dial failed (cleared once the peer sends us a message). */
  problem: PeerProblem | null;
  /** `performance.now()` before which we do not dial. */
  retryAt: number;
  retryTimer: NodeJS.Timeout | null;
  /** True while dropping for a full queue, to log once per episode. */
  dropping: boolean;
}

/** `host:port` of a socket's remote end, for logs. */
function socketLabel(socket: net.Socket): string {
  const a = socket.remoteAddress;
  return a === undefined ? 'unknown' : formatHostPort(a, socket.remotePort ?? 0);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Keep-alive probes start after this much idle time: finds peers that vanished without a FIN. */
const KEEPALIVE_MS = 10_000;

// ---------------------------------------------------------------------------------
// The transport
// ---------------------------------------------------------------------------------

/**
 * A {@link Transport} over TCP: see the module comment for the design. Create one with
 * {@link TcpTransport.listen}.
 *
 * Guarantees, on top of the `Transport` contract: messages from one endpoint to
 * another arrive in the order sent while one connection carries them (when a
 * connection is replaced — a reconnect, or the duplicate of a simultaneous dial being
 * retired — frames still in flight on the old one may arrive after the first frames on
 * the new one, or be lost with it); `send` never throws for a fault
 * of the network and never calls the handler; bad input from the network is logged,
 * counted and closes its connection, never throws; memory per peer is bounded by
 * `peerQueueBytesMax` (outgoing) and `frameBytesMax` (incoming). `send` may throw
 * `AssertionFailure` for a message the codec cannot encode, which is a bug of the
 * caller.
 *
 * Exceptions thrown by the handler are not caught: they propagate from the socket's
 * event (an uncaught exception, as for any event listener), after the connection they
 * came from is destroyed, since its stream position is lost.
 */
export class TcpTransport implements Transport {
  /** The advertised address: what peers dial, and `from` of our messages at their end. */
  readonly address: string;

  private readonly o: Resolved;
  private readonly server: net.Server;
  private readonly recvLimits: Readonly<WireLimits>;
  private readonly sendLimits: Readonly<WireLimits>;
  private readonly writer = new Writer(1024);
  private handler: MessageHandler | null = null;
  private refusedHandler: RefusedHandler | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly peers = new Map<string, Peer>();
  private readonly conns = new Set<Conn>();
  private dirty = new Set<Peer>();
  private spareDirty = new Set<Peer>();
  private selfQueue: Message[] = [];
  /** The last message encoded this turn and its frame (null: too large), shared by its peers. */
  private lastMsg: Message | null = null;
  /** Its frame: one buffer, or a head and the payload it is followed by (see `encodeFrame`). */
  private lastFrame: Buffer[] | null = null;
  private flushQueued = false;
  private selfImmediate: NodeJS.Immediate | null = null;
  /** Accepted connections open per remote IP address. */
  private readonly acceptedFrom = new Map<string, number>();
  private lastLimitLogAt = -Infinity;
  /** `performance.now()` of the last sweep of idle peer records (`sweepIdlePeers`). */
  private lastSweepAt = 0;
  private readonly counters = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    framesDropped: 0,
    badFrames: 0,
    refused: 0,
  };

  private constructor(server: net.Server, o: Resolved, address: string) {
    this.server = server;
    this.o = o;
    this.address = address;
    this.recvLimits = resolveWireLimits({ frameBytesMax: o.frameBytesMax });
    // The encoder's own frame limit is the prefix's range; `frameBytesMax` is checked
    // after encoding, so an oversized message is dropped and counted, not thrown.
    this.sendLimits = resolveWireLimits({ frameBytesMax: FRAME_LENGTH_MAX });
    if (o.tls === null) {
      server.on('connection', (socket) => this.onAccept(socket));
    } else {
      // The peer's address, noted when TCP connects: by the time TLS fails the socket may be gone.
      const labels = new WeakMap<net.Socket, string>();
      server.on('connection', (raw: net.Socket) => labels.set(raw, socketLabel(raw)));
      server.on('secureConnection', (socket: tls.TLSSocket) => {
        if (!socket.authorized) {
          this.counters.refused++;
          const why = socket.authorizationError === undefined ? 'no certificate' : String(socket.authorizationError);
          this.log(`refusing a TLS connection from ${socketLabel(socket)}: its certificate is not accepted (${why})`, 'warn');
          socket.destroy();
          return;
        }
        this.onAccept(socket);
      });
      server.on('tlsClientError', (e, socket) => {
        this.counters.refused++;
        const raw = (socket as unknown as { _parent?: net.Socket })._parent;
        this.log(`refusing a TLS connection from ${(raw === undefined ? undefined : labels.get(raw)) ?? socketLabel(socket)}: ${errorText(e)}`, 'warn');
      });
    }
    server.on('error', (e) => this.log(`server error: ${errorText(e)}`, 'error'));
  }

  /**
   * Binds a listening socket and returns the transport, ready to send and receive.
   *
   * @throws OptionError (as a rejection) for invalid, missing or unknown options.
   * @throws the system error (as a rejection) when the address cannot be bound,
   *   e.g. `EADDRINUSE` or `EADDRNOTAVAIL`.
   */
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const o = resolveOptions(options);
    const server =
      o.tls === null
        ? net.createServer({ allowHalfOpen: false })
        : // Client certificates are checked in 'secureConnection' (below), before a byte is
          // read, so that the refusal can say why (expired, untrusted, missing).
          tls.createServer({ ...o.tls, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', handshakeTimeout: o.handshakeTimeoutMs, allowHalfOpen: false });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        const where = formatHostPort(o.listen.host, o.listen.port);
        if (e.code === 'EADDRINUSE') reject(new CohortError(ErrorCode.addressInUse, `cannot listen at ${where}: another process listens there (EADDRINUSE)`, { cause: e }));
        else if (e.code === 'EADDRNOTAVAIL') reject(new CohortError(ErrorCode.badOption, `cannot listen at ${where}: no interface of this host has that address (EADDRNOTAVAIL)`, { cause: e }));
        else if (e.code === 'EACCES') reject(new CohortError(ErrorCode.addressInUse, `cannot listen at ${where}: permission denied (EACCES; ports below 1024 need privileges)`, { cause: e }));
        else reject(e);
      };
      server.once('error', onError);
      server.listen({ host: o.listen.host, port: o.listen.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const bound = server.address() as net.AddressInfo;
    const address =
      o.advertise === null
        ? formatHostPort(bound.address, bound.port)
        : formatHostPort(o.advertise.host, o.advertise.port === 0 ? bound.port : o.advertise.port);
    return new TcpTransport(server, o, address);
  }

  /**
   * Queues `msg` for `to`; it is written at the end of this event-loop turn, together
   * with everything else queued for `to`. To our own address it is delivered to the
   * handler from a later turn. Dropped and counted (never thrown) when `to` is not a
   * valid address, the peer's queue is full, or the frame exceeds `frameBytesMax`.
   * No-op once closed.
   */
  send(to: string, msg: Message): void {
    if (this.closed) return;
    if (to === this.address) {
      this.selfQueue.push(msg);
      if (this.selfImmediate === null) this.selfImmediate = setImmediate(this.deliverSelf);
      return;
    }
    let peer = this.peers.get(to);
    if (peer === undefined) {
      // Checked once per new peer: a dial needs a host and a port other than 0.
      let why: string | null = null;
      try {
        if (parseHostPort(to).port === 0) why = `address ${JSON.stringify(to)} has port 0, which cannot be dialed`;
      } catch (e) {
        why = errorText(e);
      }
      if (why !== null) {
        this.counters.framesDropped++;
        this.log(`dropping a ${msg.t} message: ${why}`, 'warn');
        return;
      }
      peer = this.newPeer(to);
    }
    const buffered = this.peerBuffered(peer);
    if (buffered >= this.o.peerQueueBytesMax) {
      this.dropFull(peer, msg);
      return;
    }
    // The core sends one message object to every member in a loop: encode it once.
    // The cache lives for this turn only, so it never outlives the caller's object.
    let frame: Buffer[] | null;
    if (msg === this.lastMsg) {
      frame = this.lastFrame;
    } else {
      frame = this.encodeFrame(msg);
      this.lastMsg = msg;
      this.lastFrame = frame;
    }
    if (frame === null) {
      this.counters.framesDropped++;
      return;
    }
    const size = frame.length === 1 ? frame[0]!.length : frame[0]!.length + frame[1]!.length;
    if (buffered + size > this.o.peerQueueBytesMax) {
      this.dropFull(peer, msg);
      return;
    }
    peer.dropping = false;
    for (const piece of frame) peer.queue.push(piece);
    peer.queuedBytes += size;
    peer.queuedFrames += 1;
    this.dirty.add(peer);
    this.schedule();
  }

  /** Installs the single handler for arriving messages, replacing any previous one. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** Told when a dial is refused (ECONNREFUSED): the endpoint that was there is gone. */
  onRefused(handler: RefusedHandler): void {
    this.refusedHandler = handler;
  }

  /**
   * Stops listening, destroys every socket (unsent frames are dropped), clears every
   * timer, and resolves once the server has closed. Idempotent; `send` is a no-op
   * afterwards and the handler is never called again.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.handler = null;
    this.refusedHandler = null;

    if (this.selfImmediate !== null) clearImmediate(this.selfImmediate);
    this.selfImmediate = null;
    this.selfQueue = [];
    this.lastMsg = null;
    this.lastFrame = null;
    this.dirty.clear();
    for (const peer of this.peers.values()) {
      if (peer.retryTimer !== null) clearTimeout(peer.retryTimer);
      peer.retryTimer = null;
      peer.queue = [];
      peer.queuedBytes = 0;
      peer.queuedFrames = 0;
    }
    this.peers.clear();
    for (const conn of this.conns) {
      if (conn.timer !== null) clearTimeout(conn.timer);
      conn.timer = null;
      conn.state = ConnState.closed;
      conn.socket.destroy();
    }
    this.conns.clear();
    this.closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    return this.closing;
  }

  /** A snapshot of the counters. */
  /** With `tls.idFrom: 'cn'`: the subject CN of the peer's certificate (the only id it may send as); else null. */
  private certIdOf(socket: net.Socket): string | null {
    if (this.o.tls === null || this.o.tlsIdFrom !== 'cn' || !(socket instanceof tls.TLSSocket)) return null;
    const cn = socket.getPeerCertificate().subject?.CN;
    // A certificate without one CN names nobody: it may send as no id.
    return typeof cn === 'string' ? cn : '';
  }

  /** Why the last dial to `to` failed, or null once it sent us a message (see `Transport`). */
  peerProblem(to: string): PeerProblem | null {
    return this.peers.get(to)?.problem ?? null;
  }

  stats(): TcpTransportStats {
    let connections = 0;
    for (const peer of this.peers.values()) if (peer.conn !== null) connections++;
    return { ...this.counters, connections };
  }

  /**
   * Bytes queued for `to` and not yet taken by the kernel: our queue plus the socket's
   * `writableLength`. New frames to `to` are dropped while this is at
   * `peerQueueBytesMax`. 0 for an unknown peer and for our own address.
   */
  bufferedBytes(to: string): number {
    const peer = this.peers.get(to);
    return peer === undefined ? 0 : this.peerBuffered(peer);
  }

  // -- sending ------------------------------------------------------------------

  private peerBuffered(peer: Peer): number {
    const conn = peer.conn;
    return peer.queuedBytes + (conn === null ? 0 : conn.socket.writableLength);
  }

  private newPeer(key: string): Peer {
    this.sweepIdlePeers();
    const peer: Peer = {
      key,
      conn: null,
      dialing: null,
      queue: [],
      queuedBytes: 0,
      queuedFrames: 0,
      failures: 0,
      problem: null,
      retryAt: 0,
      retryTimer: null,
      dropping: false,
    };
    this.peers.set(key, peer);
    return peer;
  }

  /**
   * Forgets the records of peers nobody uses any more: no connection, no dial, nothing
   * queued, and a backoff that ended more than `reconnectMaxMs` ago (so a dial would go
   * at once anyway; only the failure count is lost). Without this, every address that
   * connected once and left after a failed dial-back (a status probe, a departed
   * member) would keep its record for good. Runs when a new peer appears, at most once
   * a second, so it costs at most one pass over the records a second.
   */
  private sweepIdlePeers(): void {
    const now = performance.now();
    if (now - this.lastSweepAt < 1000) return;
    this.lastSweepAt = now;
    for (const peer of this.peers.values()) {
      if (peer.conn === null && peer.dialing === null && peer.queue.length === 0 && peer.retryTimer === null && now - peer.retryAt > this.o.reconnectMaxMs) {
        this.peers.delete(peer.key);
      }
    }
  }

  private dropFull(peer: Peer, msg: Message): void {
    this.counters.framesDropped++;
    if (!peer.dropping) {
      peer.dropping = true;
      this.log(`dropping frames to ${peer.key} (first: ${msg.t}): ${this.peerBuffered(peer)} bytes unsent, peerQueueBytesMax is ${this.o.peerQueueBytesMax}`, 'warn');
    }
  }

  /**
   * Encodes `msg` once, straight after a 4-byte length slot, and returns a copy of the
   * whole length-prefixed frame; null (dropped, counted) if it exceeds `frameBytesMax`.
   */
  private encodeFrame(msg: Message): Buffer[] | null {
    const w = this.writer;
    // Without record encryption (which seals whole frames), a large data payload is not
    // copied at all: the frame is its head, then the payload itself.
    if (msg.t === 'data' && msg.payload.length >= FRESH_FRAME_PAYLOAD_BYTES && this.o.key === null) {
      w.reset();
      w.ensure(LENGTH_PREFIX_BYTES);
      w.pos = LENGTH_PREFIX_BYTES;
      try {
        writeMessageHead(w, msg, this.sendLimits, true);
        const size = w.pos - LENGTH_PREFIX_BYTES + msg.payload.length;
        if (size > this.o.frameBytesMax) {
          this.log(`dropping a ${msg.t} frame of ${size} bytes: frameBytesMax is ${this.o.frameBytesMax}`, 'warn');
          return null;
        }
        const head = Buffer.from(w.buf.subarray(0, w.pos)); // a copy: the writer is reused
        head.writeUInt32BE(size, 0);
        return [head, Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.length)];
      } finally {
        w.release();
      }
    }
    // A large payload is encoded into a buffer of its own, which becomes the frame; a
    // small message into the reused buffer, then copied out.
    const payload = msg.t === 'data' ? msg.payload.length : msg.t === 'state-chunk' ? msg.data.length : 0;
    const fresh = payload >= FRESH_FRAME_PAYLOAD_BYTES;
    // Not zero-filled: the frame is the bytes written, [0, pos).
    if (fresh) w.resetOnto(Buffer.allocUnsafeSlow(LENGTH_PREFIX_BYTES + payload + FRESH_FRAME_SLACK_BYTES));
    else w.reset();
    w.ensure(LENGTH_PREFIX_BYTES);
    w.pos = LENGTH_PREFIX_BYTES;
    try {
      writeMessage(w, msg, this.sendLimits);
      const size = w.pos - LENGTH_PREFIX_BYTES;
      if (size > this.o.frameBytesMax) {
        this.log(`dropping a ${msg.t} frame of ${size} bytes: frameBytesMax is ${this.o.frameBytesMax}`, 'warn');
        return null;
      }
      let frame: Buffer;
      if (fresh) {
        const bytes = w.detach();
        frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      } else {
        frame = Buffer.from(w.buf.subarray(0, w.pos)); // a copy: the writer is reused
      }
      frame.writeUInt32BE(size, 0);
      return [frame];
    } finally {
      w.release();
    }
  }

  private schedule(): void {
    if (!this.flushQueued && !this.closed) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
  }

  private readonly flushNow = (): void => this.flush();

  /**
   * Once the code that sent has run to its end (a microtask): write every dirty peer's
   * queue. Everything one input caused leaves in one write per peer, without waiting
   * for the rest of the event-loop turn.
   */
  private flush(): void {
    this.flushQueued = false;
    this.lastMsg = null;
    this.lastFrame = null;
    if (this.closed) return;
    // Swapped, not copied: a peer made dirty while flushing waits for the next flush.
    const dirty = this.dirty;
    this.dirty = this.spareDirty;
    for (const peer of dirty) this.flushPeer(peer);
    dirty.clear();
    this.spareDirty = dirty;
  }

  /** Self-sends, from a later turn: a chain of them never starves I/O and timers. */
  private readonly deliverSelf = (): void => {
    this.selfImmediate = null;
    const self = this.selfQueue;
    this.selfQueue = [];
    for (const msg of self) {
      const h = this.handler;
      if (this.closed || h === null) break;
      h(this.address, msg);
    }
  };

  private flushPeer(peer: Peer): void {
    if (this.closed || peer.queue.length === 0) return;
    let conn = peer.conn;
    if (conn !== null && (conn.socket.destroyed || !conn.socket.writable)) {
      // Broken, its 'close' not yet emitted: writing would only lose the frames.
      this.detach(conn);
      conn = null;
    }
    if (conn === null) {
      this.ensureDial(peer);
      return;
    }
    const frames = peer.queue;
    const bytes = peer.queuedBytes;
    const count = peer.queuedFrames;
    peer.queue = [];
    peer.queuedBytes = 0;
    peer.queuedFrames = 0;
    if (conn.sealer !== null) {
      // Encrypted: whole frames packed into records of up to RECORD_PLAIN_BYTES.
      let sent = 0;
      for (let i = 0; i < frames.length; ) {
        let j = i;
        let size = 0;
        while (j < frames.length && (j === i || size + frames[j]!.length <= RECORD_PLAIN_BYTES)) size += frames[j++]!.length;
        const record = conn.sealer.seal(j - i === 1 ? frames[i]! : Buffer.concat(frames.slice(i, j), size));
        conn.socket.write(record);
        sent += record.length;
        i = j;
      }
      this.counters.framesSent += count;
      this.counters.bytesSent += sent;
      return;
    }
    // One write per turn: a single frame as is; several small ones concatenated (one
    // buffer for the kernel); large ones handed over together, uncopied (one writev).
    if (frames.length === 1) conn.socket.write(frames[0]!);
    else if (bytes < frames.length * WRITEV_FRAME_BYTES) conn.socket.write(Buffer.concat(frames, bytes));
    else {
      conn.socket.cork();
      for (const f of frames) conn.socket.write(f);
      conn.socket.uncork();
    }
    this.counters.framesSent += count;
    this.counters.bytesSent += bytes;
  }

  // -- dialing ------------------------------------------------------------------

  private ensureDial(peer: Peer): void {
    if (peer.dialing !== null || peer.retryTimer !== null || peer.conn !== null) return;
    const wait = peer.retryAt - performance.now();
    if (wait > 0) {
      peer.retryTimer = setTimeout(() => {
        peer.retryTimer = null;
        if (!this.closed && this.peers.get(peer.key) === peer) this.flushPeer(peer);
      }, Math.ceil(wait));
      return;
    }
    this.dial(peer);
  }

  private dial(peer: Peer): void {
    const { host, port } = parseHostPort(peer.key); // validated when the peer was created
    let socket: net.Socket;
    try {
      socket =
        this.o.tls === null
          ? net.connect({ host, port, allowHalfOpen: false })
          : tls.connect({ host, port, ...this.o.tls, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    } catch (e) {
      // Node rejects some inputs synchronously; treat it like any failed dial.
      const delay = this.dialFailed(peer);
      this.counters.framesDropped += peer.queuedFrames;
      peer.queue = [];
      peer.queuedBytes = 0;
      peer.queuedFrames = 0;
      this.log(`dial ${peer.key} failed: ${errorText(e)}; next attempt in ${delay} ms or later`, 'debug');
      return;
    }
    const conn = new Conn(socket, true, peer.key, peer.key);
    peer.dialing = conn;
    this.conns.add(conn);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.error = `connect timed out after ${this.o.connectTimeoutMs} ms`;
      socket.destroy();
    }, this.o.connectTimeoutMs);
    socket.once(this.o.tls === null ? 'connect' : 'secureConnect', () => {
      if (conn.state !== ConnState.connecting) return;
      conn.certId = this.certIdOf(socket);
      conn.state = ConnState.handshake;
      this.armHandshakeTimer(conn);
      if (this.o.key !== null) conn.nonceSelf = freshNonce();
      this.writeRaw(conn, this.handshake(HandshakeKind.hello, '', conn.nonceSelf ?? EMPTY));
    });
    this.wire(conn);
  }

  /**
   * Records a failed dial (or a dialed connection closed before the peer said
   * anything) and sets the backoff; returns the delay.
   */
  private dialFailed(peer: Peer): number {
    peer.failures++;
    const base = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.min(peer.failures - 1, 30));
    // Jitter in the upper half, so endpoints that lost a peer together do not redial in lockstep.
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    peer.retryAt = performance.now() + delay;
    return delay;
  }

  // -- connections --------------------------------------------------------------

  private onAccept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? '?';
    const n = this.acceptedFrom.get(ip) ?? 0;
    if (n >= this.o.connectionsPerAddressMax) {
      this.counters.refused++;
      const now = performance.now();
      if (now - this.lastLimitLogAt > 1000) {
        this.lastLimitLogAt = now;
        this.log(`refusing a connection from ${socketLabel(socket)}: ${n} open from ${ip} already (connectionsPerAddressMax)`, 'warn');
      }
      socket.destroy();
      return;
    }
    this.acceptedFrom.set(ip, n + 1);
    socket.once('close', () => {
      const left = (this.acceptedFrom.get(ip) ?? 1) - 1;
      if (left <= 0) this.acceptedFrom.delete(ip);
      else this.acceptedFrom.set(ip, left);
    });
    const conn = new Conn(socket, false, null, socketLabel(socket));
    conn.certId = this.certIdOf(socket);
    this.conns.add(conn);
    this.armHandshakeTimer(conn);
    this.wire(conn);
  }

  /** Socket options and listeners common to dialed and accepted connections. */
  private wire(conn: Conn): void {
    const socket = conn.socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    conn.frameLimit = (): number =>
      conn.state === ConnState.handshake
        ? HANDSHAKE_FRAME_BYTES_MAX
        : conn.opener !== null
          ? Math.max(this.o.frameBytesMax + LENGTH_PREFIX_BYTES, RECORD_PLAIN_BYTES) + TAG_BYTES
          : this.o.frameBytesMax;
    conn.frameHandler = (frame: Buffer): boolean => this.onFrame(conn, frame);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (e) => {
      conn.error = errorText(e);
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'ECONNREFUSED') conn.refused = true;
      // A certificate refused by either side: the host answered, and said no.
      else if (/SSL|TLS|CERT/.test(code)) conn.handshakeRefused = true;
    });
    socket.on('end', () => this.onEnd(conn));
    socket.on('close', () => this.onClose(conn));
  }

  private armHandshakeTimer(conn: Conn): void {
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.error = `handshake not completed within ${this.o.handshakeTimeoutMs} ms`;
      conn.socket.destroy();
    }, this.o.handshakeTimeoutMs);
  }

  /** Our handshake frame of `kind`. */
  private handshake(kind: HandshakeKind, reason = '', nonce: Buffer = EMPTY, proofBytes: Buffer = EMPTY): Buffer {
    return encodeHandshake({ kind, network: this.o.network, address: this.address, reason, auth: this.o.key !== null, nonce, proof: proofBytes });
  }

  private writeRaw(conn: Conn, bytes: Buffer): void {
    conn.socket.write(bytes);
    this.counters.bytesSent += bytes.length;
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (!this.readable(conn)) return;
    this.counters.bytesReceived += chunk.length;
    const error = conn.parser.push(chunk, conn.frameLimit, conn.frameHandler);
    if (error !== null) this.bad(conn, error);
  }

  /** One complete frame; returns false when the connection must not be read further. */
  private onFrame(conn: Conn, frame: Buffer): boolean {
    if (!this.readable(conn)) return false;
    if (conn.state === ConnState.handshake) return this.onHandshake(conn, frame);
    if (conn.opener !== null) return this.onRecord(conn, frame);
    return this.onMessageFrame(conn, frame);
  }

  /** An encrypted record: authenticate, then every whole frame inside it, in order. */
  private onRecord(conn: Conn, record: Buffer): boolean {
    let plain: Buffer;
    try {
      plain = conn.opener!.open(record);
    } catch {
      return this.bad(conn, 'a record failed authentication (forged, replayed, reordered or corrupted)');
    }
    let at = 0;
    while (at < plain.length) {
      if (plain.length - at < LENGTH_PREFIX_BYTES) return this.bad(conn, 'a record ends inside a length prefix');
      const len = plain.readUInt32BE(at);
      at += LENGTH_PREFIX_BYTES;
      if (len > this.o.frameBytesMax) return this.bad(conn, `a frame of ${len} bytes exceeds the limit of ${this.o.frameBytesMax}`);
      if (plain.length - at < len) return this.bad(conn, 'a record ends inside a frame');
      // The plaintext buffer is ours alone and never reused: views into it stay valid.
      if (!this.onMessageFrame(conn, plain.subarray(at, at + len))) return false;
      at += len;
    }
    return true;
  }

  /** One message frame (plain, or out of a record). */
  private onMessageFrame(conn: Conn, frame: Buffer): boolean {
    let msg: Message;
    try {
      msg = decodeMessage(frame, this.recvLimits);
    } catch (e) {
      this.bad(conn, `undecodable frame: ${errorText(e)}`);
      return false;
    }
    this.counters.framesReceived++;
    conn.messages++;
    const peer = conn.peer;
    if (peer !== null && (peer.failures > 0 || peer.problem !== null) && peer.conn === conn) {
      peer.failures = 0;
      peer.problem = null;
    }
    // TLS with ids bound to certificates: a peer speaks only as the member its
    // certificate names (an operator's status probe changes nothing and is answered).
    if (conn.certId !== null && msg.from.id !== conn.certId && msg.t !== 'status-req' && msg.t !== 'status-reply') {
      this.counters.framesDropped++;
      if (!conn.idMismatchLogged) {
        conn.idMismatchLogged = true;
        this.log(`dropping messages from ${conn.remote ?? conn.label}: they claim id ${JSON.stringify(msg.from.id)}, its certificate names ${JSON.stringify(conn.certId)} (tls.idFrom)`, 'warn');
      }
      return true;
    }
    const h = this.handler;
    if (h !== null) {
      try {
        h(conn.remote!, msg);
      } catch (e) {
        // Our place in the stream is lost with the rest of this chunk: drop the connection.
        conn.error = `the message handler threw: ${errorText(e)}`;
        conn.socket.destroy();
        throw e;
      }
    }
    return this.readable(conn);
  }

  /** True while input on `conn` is still wanted (the handler may close things mid-chunk). */
  private readable(conn: Conn): boolean {
    return !this.closed && !conn.discard && conn.state !== ConnState.closed;
  }

  private onHandshake(conn: Conn, frame: Buffer): boolean {
    const read = decodeHandshake(frame);
    if (conn.dialed) {
      const key = conn.dialKey!;
      if (!read.ok) return this.bad(conn, `bad handshake from ${key}: ${read.error}`);
      const hs = read.hs;
      if (hs.kind === HandshakeKind.refuse) {
        this.counters.refused++;
        conn.error = `refused by ${key}: ${hs.reason}`;
        conn.handshakeRefused = true;
        conn.socket.destroy();
        return false;
      }
      if (hs.kind !== HandshakeKind.helloAck) {
        return this.bad(conn, `bad handshake from ${key}: expected hello-ack`);
      }
      if (hs.network !== this.o.network) {
        this.counters.refused++;
        conn.error = `refusing ${key}: ${this.networkMismatch(hs.network)}`;
        conn.handshakeRefused = true;
        conn.socket.destroy();
        return false;
      }
      if (!this.validPeerAddress(hs.address)) {
        return this.bad(conn, `bad handshake from ${key}: bad advertised address ${JSON.stringify(hs.address)}`);
      }
      if (hs.address !== key) {
        this.log(`${key} advertises itself as ${hs.address}; its messages come from that address`, 'info');
      }
      if (this.o.key !== null) {
        if (!hs.auth || hs.nonce.length === 0 || hs.proof.length === 0) {
          this.counters.refused++;
          conn.error = `refusing ${key}: it does not prove the network secret`;
          conn.handshakeRefused = true;
          conn.socket.destroy();
          return false;
        }
        const t = transcript(this.o.network, this.address, hs.address, conn.nonceSelf!, hs.nonce);
        if (!proofMatches(proof(this.o.key, 'acceptor', t), hs.proof)) {
          // Say why before closing, so that the acceptor logs who failed, too.
          this.counters.refused++;
          conn.error = `refusing ${key}: authentication failed: its proof of the network secret is wrong (another secret?)`;
          conn.handshakeRefused = true;
          this.writeRaw(conn, this.handshake(HandshakeKind.refuse, 'authentication failed: the network secrets differ'));
          conn.discard = true;
          conn.socket.end();
          return false;
        }
        this.writeRaw(conn, this.handshake(HandshakeKind.proof, '', EMPTY, proof(this.o.key, 'dialer', t)));
        const keys = sessionKeys(this.o.key, t, conn.nonceSelf!, hs.nonce);
        conn.sealer = new Sealer(keys.dialerToAcceptor);
        conn.opener = new Opener(keys.acceptorToDialer);
      }
      this.opened(conn, hs.address, key);
      return true;
    }
    if (!read.ok) {
      if (read.otherVersion !== undefined) return this.refuse(conn, read.error);
      return this.bad(conn, `bad handshake from ${conn.label}: ${read.error}`);
    }
    const hs = read.hs;
    if (conn.pendingRemote !== null) return this.onProof(conn, hs);
    if (hs.kind !== HandshakeKind.hello) return this.bad(conn, `bad handshake from ${conn.label}: expected hello`);
    if (hs.network !== this.o.network) {
      return this.refuse(conn, this.networkMismatch(hs.network));
    }
    if (!this.validPeerAddress(hs.address)) {
      return this.refuse(conn, `bad advertised address ${JSON.stringify(hs.address)}`);
    }
    if (hs.address === this.address) {
      return this.refuse(conn, `the dialer advertises ${hs.address}, this endpoint's own address`);
    }
    if (this.o.key === null && hs.auth) {
      return this.refuse(conn, 'this endpoint has no network secret, and the dialer requires one');
    }
    if (this.o.key !== null) {
      if (!hs.auth || hs.nonce.length === 0) {
        return this.refuse(conn, 'authentication required: this network needs its shared secret, and the dialer offered none');
      }
      // Challenge and prove; the connection opens once the dialer proves it too.
      conn.noncePeer = hs.nonce;
      conn.nonceSelf = freshNonce();
      conn.pendingRemote = hs.address;
      const t = transcript(this.o.network, hs.address, this.address, hs.nonce, conn.nonceSelf);
      this.writeRaw(conn, this.handshake(HandshakeKind.helloAck, '', conn.nonceSelf, proof(this.o.key, 'acceptor', t)));
      return true;
    }
    this.writeRaw(conn, this.handshake(HandshakeKind.helloAck));
    this.opened(conn, hs.address, hs.address);
    return true;
  }

  /** Acceptor with a secret: the dialer's proof, the last step of the handshake. */
  private onProof(conn: Conn, hs: Handshake): boolean {
    const remote = conn.pendingRemote!;
    if (hs.kind === HandshakeKind.refuse) {
      this.counters.refused++;
      this.log(`refusing a connection from ${conn.label} (advertising ${remote}): it refused us: ${hs.reason}`, 'warn');
      conn.discard = true;
      conn.socket.destroy();
      return false;
    }
    if (hs.kind !== HandshakeKind.proof) return this.bad(conn, `bad handshake from ${conn.label}: expected proof`);
    const t = transcript(this.o.network, remote, this.address, conn.noncePeer!, conn.nonceSelf!);
    if (!proofMatches(proof(this.o.key!, 'dialer', t), hs.proof)) {
      return this.refuse(conn, 'authentication failed: wrong network secret');
    }
    const keys = sessionKeys(this.o.key!, t, conn.noncePeer!, conn.nonceSelf!);
    conn.sealer = new Sealer(keys.acceptorToDialer);
    conn.opener = new Opener(keys.dialerToAcceptor);
    conn.pendingRemote = null;
    this.opened(conn, remote, remote);
    return true;
  }

  private networkMismatch(theirs: string): string {
    return `network mismatch: expected ${JSON.stringify(this.o.network)}, got ${JSON.stringify(theirs)}`;
  }

  private validPeerAddress(a: string): boolean {
    try {
      return parseHostPort(a).port !== 0;
    } catch {
      return false;
    }
  }

  /** Refuses a dialer's hello: tell it why, half-close, ignore what else it sends. */
  private refuse(conn: Conn, reason: string): false {
    this.counters.refused++;
    this.log(`refusing a connection from ${conn.label}: ${reason}`, 'warn');
    this.writeRaw(conn, this.handshake(HandshakeKind.refuse, reason));
    this.retire(conn);
    conn.discard = true;
    return false;
  }

  /** Closes a connection for bad input. */
  private bad(conn: Conn, why: string): false {
    this.counters.badFrames++;
    this.log(`closing the connection with ${conn.remote ?? conn.label}: ${why}`, 'warn');
    conn.discard = true;
    conn.socket.destroy();
    return false;
  }

  /** The handshake completed on `conn`: make it the peer's connection, or resolve a duplicate. */
  private opened(conn: Conn, remote: string, key: string): void {
    conn.state = ConnState.open;
    conn.remote = remote;
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    const peer = this.peers.get(key) ?? this.newPeer(key);
    conn.peer = peer;
    if (peer.dialing === conn) peer.dialing = null;
    if (peer.retryTimer !== null) clearTimeout(peer.retryTimer);
    peer.retryTimer = null;
    const current = peer.conn;
    if (current === null) {
      peer.conn = conn;
      // The rule keeps our dial when our address sorts lower: dial back now, so the pair
      // settles on the same connection whoever spoke first, and traffic between two
      // endpoints always takes the same path (through a proxy or NAT in front of the
      // higher one). Until it opens, and for good if it cannot (a one-way NAT), the
      // accepted connection carries everything.
      if (!conn.dialed && this.address < remote && peer.dialing === null && this.validPeerAddress(key)) this.dial(peer);
    } else {
      const keep = this.preferred(current, conn);
      const lose = keep === current ? conn : current;
      peer.conn = keep;
      this.log(`two connections with ${key}: keeping the one dialed by ${this.dialer(keep)}, closing the one dialed by ${this.dialer(lose)}`, 'debug');
      this.retire(lose);
    }
    if (peer.queue.length > 0) {
      this.dirty.add(peer);
      this.schedule();
    }
  }

  /** The advertised address of the endpoint that dialed `conn` (known on both sides). */
  private dialer(conn: Conn): string {
    return conn.dialed ? this.address : conn.remote!;
  }

  /**
   * The one-connection rule: of two open connections with one peer, keep the one
   * dialed by the endpoint whose advertised address sorts lower; if one endpoint
   * dialed both, the newer (`b`), since the older likely belongs to its previous run.
   * Both sides see the same two dialer addresses, so both keep the same connection.
   */
  private preferred(a: Conn, b: Conn): Conn {
    const da = this.dialer(a);
    const db = this.dialer(b);
    if (da === db) return b;
    return da < db ? a : b;
  }

  /**
   * Stops writing on `conn` and half-closes it: the peer still reads what we wrote,
   * and we still read until its FIN; it is destroyed if that takes too long.
   */
  private retire(conn: Conn): void {
    this.detach(conn);
    if (conn.state === ConnState.closed) return;
    conn.state = ConnState.closing;
    conn.socket.end();
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.socket.destroy();
    }, this.o.handshakeTimeoutMs);
  }

  /** Takes `conn` out of its peer's service; queued frames wait for (or dial) another. */
  private detach(conn: Conn): void {
    const peer = conn.peer;
    if (peer === null || peer.conn !== conn) return;
    peer.conn = null;
    if (peer.queue.length > 0 && !this.closed) {
      this.dirty.add(peer);
      this.schedule();
    }
  }

  /** The peer sent FIN: no more writes on this connection (Node ends our side too). */
  private onEnd(conn: Conn): void {
    if (this.closed || conn.state === ConnState.closed) return;
    if (conn.state === ConnState.open) conn.state = ConnState.closing;
    this.detach(conn);
  }

  private onClose(conn: Conn): void {
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    conn.state = ConnState.closed;
    if (this.closed || !this.conns.delete(conn)) return;
    this.detach(conn);
    const reason = conn.error ?? 'closed by the peer';
    if (conn.dialed) {
      const peer = this.peers.get(conn.dialKey!);
      if (peer !== undefined && peer.dialing === conn) {
        // The dial never completed: back off, and drop what waited for it unless
        // another connection (the peer's own dial) can carry it.
        peer.dialing = null;
        const delay = this.dialFailed(peer);
        let dropped = '';
        if (peer.conn === null && peer.queue.length > 0) {
          this.counters.framesDropped += peer.queuedFrames;
          dropped = `; dropped ${peer.queuedFrames} queued frames`;
          peer.queue = [];
          peer.queuedBytes = 0;
          peer.queuedFrames = 0;
        }
        peer.problem = { kind: conn.handshakeRefused ? 'refused' : 'unreachable', reason };
        // A refused handshake (another secret, certificate or network) is a configuration error to see.
        this.log(`dial ${peer.key} failed: ${reason}${dropped}; next attempt in ${delay} ms or later`, conn.handshakeRefused ? 'warn' : 'debug');
        if (conn.refused) this.refusedHandler?.(peer.key);
        return;
      }
      // A dialed connection that closes before the peer sent a single message counts
      // as a failed dial (a message resets the count), so a peer that accepts and
      // drops us at once is redialed with backoff, not in a loop.
      if (peer !== undefined && conn.peer === peer && conn.messages === 0) {
        this.dialFailed(peer);
        peer.problem = { kind: conn.handshakeRefused ? 'refused' : 'unreachable', reason };
      }
    }
    this.log(`connection with ${conn.remote ?? conn.label} closed: ${reason}`, 'debug');
    if (conn.peer !== null) this.forgetIfIdle(conn.peer);
  }

  /** Drops a peer record that holds nothing worth keeping, so accepted peers do not accumulate. */
  private forgetIfIdle(peer: Peer): void {
    if (
      peer.conn === null &&
      peer.dialing === null &&
      peer.queue.length === 0 &&
      peer.retryTimer === null &&
      peer.failures === 0 &&
      this.peers.get(peer.key) === peer
    ) {
      this.peers.delete(peer.key);
    }
  }

  private log(line: string, level: TransportLogLevel): void {
    const onLog = this.o.onLog;
    if (onLog === null) return;
    try {
      onLog(`tcp ${this.address}: ${line}`, level);
    } catch {
      // A logger that throws must not leave a connection half-updated: ignore it.
    }
  }
}
