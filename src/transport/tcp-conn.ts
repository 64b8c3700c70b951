/**
 * A connection of the TCP transport, and the reading of its byte stream into messages.
 *
 * Intuition: what arrives on a connection goes through three layers, each bounded and
 * none throwing on bad input: the stream is cut into length-prefixed frames
 * (`FrameParser`, with a tiny limit until the handshake completes); with a secret,
 * each frame after the handshake is a record that must authenticate (`secure.ts`) and
 * holds whole frames; each message frame is decoded and handed to the handler with
 * `from` set to the peer's advertised address. Bad input closes that one connection
 * (logged, counted in `badFrames`). With TLS and `idFrom: 'cn'`, a message whose
 * sender id is not the certificate's CN is dropped: a member speaks only as itself.
 *
 * The handshake frames go to the transport (`onHandshake`), which decides with the
 * `HandshakeMachine` and manages the connection's life.
 */
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Message } from '../core/types.js';
import { decodeMessage, resolveWireLimits, type WireLimits } from '../wire/codec.js';
import { FrameParser, LENGTH_PREFIX_BYTES } from './frame-parser.js';
import { HANDSHAKE_FRAME_BYTES_MAX, type HandshakeMachine } from './handshake.js';
import { RECORD_PLAIN_BYTES, TAG_BYTES, type Opener, type Sealer } from './secure.js';
import { errorText, type ResolvedOptions, type TransportLogLevel } from './tcp-options.js';
import type { Peer, PeerLink } from './tcp-peer.js';
import type { MessageHandler } from './transport.js';

/** Lifecycle of a connection. */
export const ConnState = {
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
/** One of {@link ConnState}'s values. */
export type ConnState = (typeof ConnState)[keyof typeof ConnState];

/**
 * One TCP connection, dialed or accepted: its state, its handshake, its record
 * protection once authenticated, and what the logs need. A plain record; the
 * transport and {@link Inbound} act on it.
 */
export class Conn implements PeerLink {
  state: ConnState;
  /** The peer's advertised address, from its handshake; `from` of its messages. */
  remote: string | null = null;
  /** The peer record this connection serves (set once open). */
  peer: Peer<Conn> | null = null;
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
    /** Decides whether the connection opens, from the handshake frames the peer sends. */
    readonly handshake: HandshakeMachine,
  ) {
    this.state = dialed ? ConnState.connecting : ConnState.handshake;
  }
}

/**
 * With `tls.idFrom: 'cn'`: the subject CN of the peer's certificate on `socket`, the
 * only sender id it may use (empty when the certificate has no CN: it names nobody);
 * else null (any id).
 */
export function certificateId(o: Pick<ResolvedOptions, 'tls' | 'tlsIdFrom'>, socket: net.Socket): string | null {
  if (o.tls === null || o.tlsIdFrom !== 'cn' || !(socket instanceof tls.TLSSocket)) return null;
  const cn = socket.getPeerCertificate().subject?.CN;
  // A certificate without one CN names nobody: it may send as no id.
  return typeof cn === 'string' ? cn : '';
}

/** The counters {@link Inbound} updates (the transport's, shared). */
export interface InboundCounters {
  bytesReceived: number;
  framesReceived: number;
  framesDropped: number;
}

/** What {@link Inbound} asks of the transport it serves. */
export interface InboundHost {
  /** The counters to update. */
  readonly counters: InboundCounters;
  /** True once the transport closed: no more input is read. */
  isClosed(): boolean;
  /** The message handler now, if any. */
  handler(): MessageHandler | null;
  /** A handshake frame on `conn`; false when `conn` must not be read further. */
  onHandshake(conn: Conn, frame: Buffer): boolean;
  /** Closes `conn` for bad input (logged, counted); returns false. */
  bad(conn: Conn, why: string): false;
  /** Logs one line (the transport's `onLog`). */
  log(line: string, level: TransportLogLevel): void;
}

/**
 * Reads every connection of one transport: bytes to frames, records to frames, frames
 * to messages (see the module comment). Exceptions thrown by the handler propagate,
 * after the connection they came from is destroyed.
 */
export class Inbound {
  private readonly recvLimits: Readonly<WireLimits>;

  /**
   * @param host - The transport.
   * @param frameBytesMax - Largest message frame accepted, without its length prefix.
   */
  constructor(
    private readonly host: InboundHost,
    private readonly frameBytesMax: number,
  ) {
    this.recvLimits = resolveWireLimits({ frameBytesMax });
  }

  /**
   * Starts reading `conn`: its frame limit (a handshake frame's until the handshake
   * completes, then a message frame's, or a record's with a session), its frame
   * handler, and its socket's `'data'` listener.
   */
  attach(conn: Conn): void {
    conn.frameLimit = (): number =>
      conn.state === ConnState.handshake
        ? HANDSHAKE_FRAME_BYTES_MAX
        : conn.opener !== null
          ? Math.max(this.frameBytesMax + LENGTH_PREFIX_BYTES, RECORD_PLAIN_BYTES) + TAG_BYTES
          : this.frameBytesMax;
    conn.frameHandler = (frame: Buffer): boolean => this.onFrame(conn, frame);
    conn.socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
  }

  /** Bytes read from `conn`: cut into frames, each handed to {@link onFrame}. */
  private onData(conn: Conn, chunk: Buffer): void {
    if (!this.readable(conn)) return;
    this.host.counters.bytesReceived += chunk.length;
    const error = conn.parser.push(chunk, conn.frameLimit, conn.frameHandler);
    if (error !== null) this.host.bad(conn, error);
  }

  /** One complete frame; returns false when the connection must not be read further. */
  private onFrame(conn: Conn, frame: Buffer): boolean {
    if (!this.readable(conn)) return false;
    if (conn.state === ConnState.handshake) return this.host.onHandshake(conn, frame);
    if (conn.opener !== null) return this.onRecord(conn, frame);
    return this.onMessageFrame(conn, frame);
  }

  /** An encrypted record: authenticate, then every whole frame inside it, in order. */
  private onRecord(conn: Conn, record: Buffer): boolean {
    let plain: Buffer;
    try {
      plain = conn.opener!.open(record);
    } catch {
      return this.host.bad(conn, 'a record failed authentication (forged, replayed, reordered or corrupted)');
    }
    let at = 0;
    while (at < plain.length) {
      if (plain.length - at < LENGTH_PREFIX_BYTES) return this.host.bad(conn, 'a record ends inside a length prefix');
      const len = plain.readUInt32BE(at);
      at += LENGTH_PREFIX_BYTES;
      if (len > this.frameBytesMax) return this.host.bad(conn, `a frame of ${len} bytes exceeds the limit of ${this.frameBytesMax}`);
      if (plain.length - at < len) return this.host.bad(conn, 'a record ends inside a frame');
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
      this.host.bad(conn, `undecodable frame: ${errorText(e)}`);
      return false;
    }
    this.host.counters.framesReceived++;
    conn.messages++;
    const peer = conn.peer;
    if (peer !== null && (peer.failures > 0 || peer.problem !== null) && peer.conn === conn) {
      peer.failures = 0;
      peer.problem = null;
    }
    // TLS with ids bound to certificates: a peer speaks only as the member its
    // certificate names (an operator's status probe changes nothing and is answered).
    if (conn.certId !== null && msg.from.id !== conn.certId && msg.t !== 'status-req' && msg.t !== 'status-reply') {
      this.host.counters.framesDropped++;
      if (!conn.idMismatchLogged) {
        conn.idMismatchLogged = true;
        this.host.log(`dropping messages from ${conn.remote ?? conn.label}: they claim id ${JSON.stringify(msg.from.id)}, its certificate names ${JSON.stringify(conn.certId)} (tls.idFrom)`, 'warn');
      }
      return true;
    }
    const h = this.host.handler();
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
  readable(conn: Conn): boolean {
    return !this.host.isClosed() && !conn.discard && conn.state !== ConnState.closed;
  }
}
