/**
 * The TCP transport's handshake: the codec of its frames, and `HandshakeMachine`, the
 * sans-I/O state machine that decides, frame by frame, whether a connection opens.
 *
 * Intuition: the handshake is the security-critical branching of the transport (who
 * may talk to us, and as whom), so it lives apart from sockets and timers, where it
 * can be scripted and fuzzed. The machine takes the frames a peer sends and returns
 * what to do: a frame to write, the connection open (with the peer's advertised
 * address and, with a secret, the session keys), or a refusal or close with its reason
 * text. The socket code (`tcp.ts`) feeds it, writes what it says, counts, logs and
 * closes; the machine itself never throws on input, and it opens a connection with a
 * secret only after the peer's proof checked out. Its only non-determinism, the nonce,
 * is injected.
 */
import { assert } from '../errors.js';
import { ADDRESS_CHARS_MAX, isDialable } from './address.js';
import { LENGTH_PREFIX_BYTES } from './frame-parser.js';
import { NONCE_BYTES, PROOF_BYTES, freshNonce, proof, proofMatches, sessionKeys, transcript } from './secure.js';

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
/** Longest network name, in UTF-8 bytes. */
export const NETWORK_BYTES_MAX = 255;
/** Longest refusal reason sent, in UTF-8 bytes (longer ones are cut). */
export const REASON_BYTES_MAX = 1024;
/** Frame limit before the handshake completes: a hello is far smaller. */
export const HANDSHAKE_FRAME_BYTES_MAX = 4096;

/** One handshake frame, decoded (or to encode). */
export interface Handshake {
  readonly kind: HandshakeKind;
  /** The sender's network name. */
  readonly network: string;
  /** The sender's advertised address. */
  readonly address: string;
  /** Why the sender refuses; empty unless `kind` is refuse. */
  readonly reason: string;
  /** True when the sender uses a network secret. */
  readonly auth: boolean;
  /** The sender's nonce ({@link NONCE_BYTES}), or empty. */
  readonly nonce: Buffer;
  /** The sender's proof ({@link PROOF_BYTES}), or empty. */
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

/**
 * The length-prefixed handshake frame of `h` (the format above). The reason is cut to
 * {@link REASON_BYTES_MAX} bytes; the other fields must be within their bounds.
 */
export function encodeHandshake(h: Handshake): Buffer {
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
export type HandshakeRead =
  | { readonly ok: true; readonly hs: Handshake }
  | { readonly ok: false; readonly error: string; readonly otherVersion?: number };

/**
 * Reads one handshake frame (without its length prefix). Never throws: a malformed
 * frame gives its error text, and a frame with the magic but another version also
 * gives that version (`otherVersion`), so an acceptor can refuse it politely.
 */
export function decodeHandshake(frame: Buffer): HandshakeRead {
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
// The handshake machine
// ---------------------------------------------------------------------------------

/** Which end of a connection a {@link HandshakeMachine} plays. */
export const HandshakeRole = {
  /** We dialed: we send hello, check the hello-ack (and its proof), then prove. */
  dialer: 'dialer',
  /** We accepted: we check the hello, answer hello-ack (and challenge), then check the proof. */
  acceptor: 'acceptor',
} as const;
/** One of {@link HandshakeRole}'s values. */
export type HandshakeRole = (typeof HandshakeRole)[keyof typeof HandshakeRole];

/** What our side of a handshake knows: the facts the frames carry and the key that proves. */
export interface HandshakeConfig {
  /** Our network name (1–{@link NETWORK_BYTES_MAX} UTF-8 bytes). */
  readonly network: string;
  /** Our advertised address: sent in every handshake frame, and part of the transcript. */
  readonly address: string;
  /** The network key derived from the secret (`networkKey` in `secure.ts`), or null without a secret. */
  readonly key: Buffer | null;
  /**
   * Draws our nonce ({@link NONCE_BYTES} bytes), once per handshake and only with a key.
   * Injected so that tests can script exchanges.
   * @default `freshNonce` of `secure.ts` (random bytes)
   */
  readonly freshNonce?: () => Buffer;
}

/** The two record keys of an authenticated connection, from our side's point of view. */
export interface SessionKeys {
  /** Seals the records we send. */
  readonly sendKey: Buffer;
  /** Opens the records the peer sends. */
  readonly receiveKey: Buffer;
}

/**
 * What the socket code must do after one handshake input. Every step may carry a
 * `note`, an info line to log before anything else (the dialer learns that the peer
 * advertises another address than the one dialed).
 *
 * - `send`: write `frame` and wait for the peer's next frame.
 * - `open`: write `frame` if any (in the clear: it is still the handshake), then
 *   protect later records with `session` if any; the connection is open, and its
 *   messages come from `remote`, the peer's advertised address.
 * - `bad`: malformed or unexpected input: close at once, counted as a bad frame;
 *   `reason` says what was wrong and names the peer.
 * - `fail` (dialer only): the handshake was refused, by the peer or by us; `error` is
 *   why (logged when the connection closes). With `frame`, write it and half-close
 *   (so that the peer learns why), ignoring further input; without, close at once.
 * - `refuse` (acceptor only): we refuse the dialer; log `line` as a warning. With
 *   `frame` (the refusal, with its reason), write it and half-close, ignoring further
 *   input; without (the dialer refused us), close at once.
 */
export type HandshakeStep = { readonly note: string | null } & (
  | { readonly kind: 'send'; readonly frame: Buffer }
  | { readonly kind: 'open'; readonly frame: Buffer | null; readonly remote: string; readonly session: SessionKeys | null }
  | { readonly kind: 'bad'; readonly reason: string }
  | { readonly kind: 'fail'; readonly error: string; readonly frame: Buffer | null }
  | { readonly kind: 'refuse'; readonly line: string; readonly frame: Buffer | null }
);

/** Where a machine stands: what it waits for. */
type Phase = 'start' | 'ack' | 'hello' | 'proof' | 'done';

/**
 * One connection's handshake, sans I/O (see the module comment and the frame format
 * above). The dialer calls {@link start} once its connection is up and writes the
 * hello it returns; both sides then pass each handshake frame the peer sends (the
 * frame body, without its length prefix) to {@link receive} and carry out the step it
 * returns. After a step other than `send` the handshake is over, and further frames
 * are answered with `bad`.
 *
 * Guarantees: `receive` never throws, whatever the bytes; with a key, `open` is
 * returned only after the peer proved the network secret for this connection's
 * transcript (both nonces, both addresses, the network).
 *
 * @example
 * ```ts
 * const dialer = new HandshakeMachine('dialer', { network: 'n', address: '10.0.0.1:7000', key }, '10.0.0.2:7000');
 * socket.write(dialer.start());
 * // for each handshake frame read: carry out dialer.receive(frame)
 * ```
 */
export class HandshakeMachine {
  private phase: Phase;
  private readonly config: HandshakeConfig;
  /** Our nonce, once drawn (with a key only). */
  private nonceSelf: Buffer | null = null;
  /** Acceptor with a key: the dialer's nonce and advertised address while its proof is awaited. */
  private noncePeer: Buffer | null = null;
  private pendingRemote: string | null = null;

  /**
   * @param role - Which end we are.
   * @param config - Our side's facts and key.
   * @param peer - Names the peer in reasons and log lines: the dialed address for a
   *   dialer, the socket's remote `host:port` for an acceptor.
   */
  constructor(
    readonly role: HandshakeRole,
    config: HandshakeConfig,
    readonly peer: string,
  ) {
    this.config = config;
    this.phase = role === HandshakeRole.dialer ? 'start' : 'hello';
  }

  /** True once the handshake ended (opened, refused or closed for bad input). */
  get done(): boolean {
    return this.phase === 'done';
  }

  /**
   * Dialer only, once: draws our nonce (with a key) and returns the length-prefixed
   * hello to write first.
   */
  start(): Buffer {
    assert(this.role === HandshakeRole.dialer && this.phase === 'start', 'HandshakeMachine.start: a dialer starts once');
    this.phase = 'ack';
    if (this.config.key !== null) this.nonceSelf = this.drawNonce();
    return this.frame(HandshakeKind.hello, '', this.nonceSelf ?? EMPTY);
  }

  /** One handshake frame from the peer (its body); returns what to do. Never throws. */
  receive(frame: Buffer): HandshakeStep {
    const phase = this.phase;
    if (phase === 'start' || phase === 'done') {
      this.phase = 'done';
      return { note: null, kind: 'bad', reason: `bad handshake from ${this.peer}: no handshake frame was expected` };
    }
    const step = phase === 'ack' ? this.onAck(frame) : this.onHelloOrProof(frame);
    if (step.kind !== 'send') this.phase = 'done';
    return step;
  }

  /** Dialer: the acceptor's answer to our hello. */
  private onAck(frame: Buffer): HandshakeStep {
    const peer = this.peer;
    const { network, address, key } = this.config;
    const read = decodeHandshake(frame);
    if (!read.ok) return bad(`bad handshake from ${peer}: ${read.error}`);
    const hs = read.hs;
    if (hs.kind === HandshakeKind.refuse) return fail(`refused by ${peer}: ${hs.reason}`);
    if (hs.kind !== HandshakeKind.helloAck) return bad(`bad handshake from ${peer}: expected hello-ack`);
    if (hs.network !== network) return fail(`refusing ${peer}: ${networkMismatch(network, hs.network)}`);
    if (!isDialable(hs.address)) return bad(`bad handshake from ${peer}: bad advertised address ${JSON.stringify(hs.address)}`);
    const note = hs.address !== peer ? `${peer} advertises itself as ${hs.address}; its messages come from that address` : null;
    if (key === null) return { note, kind: 'open', frame: null, remote: hs.address, session: null };
    if (!hs.auth || hs.nonce.length === 0 || hs.proof.length === 0) {
      return fail(`refusing ${peer}: it does not prove the network secret`, null, note);
    }
    const nonceSelf = this.nonceSelf!;
    const t = transcript(network, address, hs.address, nonceSelf, hs.nonce);
    if (!proofMatches(proof(key, 'acceptor', t), hs.proof)) {
      // Say why before closing, so that the acceptor logs who failed, too.
      const refusal = this.frame(HandshakeKind.refuse, 'authentication failed: the network secrets differ');
      return fail(`refusing ${peer}: authentication failed: its proof of the network secret is wrong (another secret?)`, refusal, note);
    }
    const ours = this.frame(HandshakeKind.proof, '', EMPTY, proof(key, 'dialer', t));
    const keys = sessionKeys(key, t, nonceSelf, hs.nonce);
    return { note, kind: 'open', frame: ours, remote: hs.address, session: { sendKey: keys.dialerToAcceptor, receiveKey: keys.acceptorToDialer } };
  }

  /** Acceptor: the dialer's hello, or (with a key) its proof. */
  private onHelloOrProof(frame: Buffer): HandshakeStep {
    const { network, address, key } = this.config;
    const read = decodeHandshake(frame);
    if (!read.ok) {
      if (read.otherVersion !== undefined) return this.refuse(read.error);
      return bad(`bad handshake from ${this.peer}: ${read.error}`);
    }
    const hs = read.hs;
    if (this.phase === 'proof') return this.onProof(hs);
    if (hs.kind !== HandshakeKind.hello) return bad(`bad handshake from ${this.peer}: expected hello`);
    if (hs.network !== network) return this.refuse(networkMismatch(network, hs.network));
    if (!isDialable(hs.address)) return this.refuse(`bad advertised address ${JSON.stringify(hs.address)}`);
    if (hs.address === address) return this.refuse(`the dialer advertises ${hs.address}, this endpoint's own address`);
    if (key === null && hs.auth) return this.refuse('this endpoint has no network secret, and the dialer requires one');
    if (key === null) return { note: null, kind: 'open', frame: this.frame(HandshakeKind.helloAck), remote: hs.address, session: null };
    if (!hs.auth || hs.nonce.length === 0) {
      return this.refuse('authentication required: this network needs its shared secret, and the dialer offered none');
    }
    // Challenge and prove; the connection opens once the dialer proves it too.
    this.noncePeer = hs.nonce;
    this.nonceSelf = this.drawNonce();
    this.pendingRemote = hs.address;
    this.phase = 'proof';
    const t = transcript(network, hs.address, address, hs.nonce, this.nonceSelf);
    return { note: null, kind: 'send', frame: this.frame(HandshakeKind.helloAck, '', this.nonceSelf, proof(key, 'acceptor', t)) };
  }

  /** Acceptor with a key: the dialer's proof, the last step of the handshake. */
  private onProof(hs: Handshake): HandshakeStep {
    const remote = this.pendingRemote!;
    const key = this.config.key!;
    if (hs.kind === HandshakeKind.refuse) {
      return { note: null, kind: 'refuse', line: `refusing a connection from ${this.peer} (advertising ${remote}): it refused us: ${hs.reason}`, frame: null };
    }
    if (hs.kind !== HandshakeKind.proof) return bad(`bad handshake from ${this.peer}: expected proof`);
    const t = transcript(this.config.network, remote, this.config.address, this.noncePeer!, this.nonceSelf!);
    if (!proofMatches(proof(key, 'dialer', t), hs.proof)) return this.refuse('authentication failed: wrong network secret');
    const keys = sessionKeys(key, t, this.noncePeer!, this.nonceSelf!);
    this.pendingRemote = null;
    return { note: null, kind: 'open', frame: null, remote, session: { sendKey: keys.acceptorToDialer, receiveKey: keys.dialerToAcceptor } };
  }

  /** Acceptor: refuses the dialer's hello, telling it why. */
  private refuse(reason: string): HandshakeStep {
    return { note: null, kind: 'refuse', line: `refusing a connection from ${this.peer}: ${reason}`, frame: this.frame(HandshakeKind.refuse, reason) };
  }

  private drawNonce(): Buffer {
    const nonce = (this.config.freshNonce ?? freshNonce)();
    assert(nonce.length === NONCE_BYTES, `HandshakeMachine: a nonce must be ${NONCE_BYTES} bytes`);
    return nonce;
  }

  /** Our handshake frame of `kind`, length-prefixed. */
  private frame(kind: HandshakeKind, reason = '', nonce: Buffer = EMPTY, proofBytes: Buffer = EMPTY): Buffer {
    const { network, address, key } = this.config;
    return encodeHandshake({ kind, network, address, reason, auth: key !== null, nonce, proof: proofBytes });
  }
}

function bad(reason: string): HandshakeStep {
  return { note: null, kind: 'bad', reason };
}

function fail(error: string, frame: Buffer | null = null, note: string | null = null): HandshakeStep {
  return { note, kind: 'fail', error, frame };
}

/** The refusal text for another network's handshake. */
function networkMismatch(ours: string, theirs: string): string {
  return `network mismatch: expected ${JSON.stringify(ours)}, got ${JSON.stringify(theirs)}`;
}
