/**
 * The status probe's client: asks one endpoint for its status document
 * (`src/ops/status.ts`) over the same TCP transport, with the same authentication, as a
 * member — so where the network has a secret or TLS, only a holder of it can look.
 *
 * How a reply reaches a prober that is not a member: the prober listens too (on an
 * ephemeral loopback port by default) and its hello advertises that address, so the
 * endpoint answers `status-req` with `status-reply` to the address it came from like
 * any other message — on the prober's own connection, or on the one the endpoint dials
 * back. The endpoint answers in its `Endpoint`, before the protocol core: the prober
 * never joins, is never suspected and never appears in a view.
 *
 * Faults become typed rejections (`ProbeError`): `ERR_UNREACHABLE` (nothing listens,
 * the dial failed), `ERR_REFUSED` (the handshake was refused, by either side: another secret, no
 * certificate, another network name) and `ERR_TIMEOUT` (no answer in time).
 */
import { randomInt } from 'node:crypto';
import type { MemberRef, Message } from './core/types.js';
import { ErrorCode, OptionError, ProbeError } from './errors.js';
import { decodeStatus } from './ops/status.js';
import type { StatusDocument } from './ops/status.js';
import { isLoopback, parseHostPort } from './transport/address.js';
import { TcpTransport } from './transport/tcp.js';

/** Options of {@link StatusProber.open} and {@link probeStatus}. */
export interface StatusProbeOptions {
  /**
   * Where the prober listens for the answer (`host:port`, port 0 picks one). Needed
   * when the target is not on loopback: an address of this machine the target can reach.
   * @default `127.0.0.1:0` (`[::1]:0` for an IPv6 loopback target)
   */
  readonly listen?: string;
  /** The network name, as the members have it. @default 'cohort' */
  readonly network?: string;
  /** The network secret, as the members have it (see `EndpointOptions.secret`). @default none */
  readonly secret?: Uint8Array | string;
  /** TLS files, as the members have them: a certificate signed by the network's CA. @default none */
  readonly tls?: {
    /** The prober's private key, PEM. */
    readonly key: string | Uint8Array;
    /** The prober's certificate, PEM, signed by `ca`. */
    readonly cert: string | Uint8Array;
    /** The network's certificate authority (one or more certificates), PEM. */
    readonly ca: string | Uint8Array;
  };
  /** Listen beyond loopback without a secret or TLS. @default false */
  readonly insecure?: boolean;
  /** Receives the transport's diagnostics (connections, refusals). @default none */
  readonly onLog?: (line: string) => void;
}

/** How long {@link StatusProber.request} waits for an answer by default, ms. */
export const STATUS_TIMEOUT_MS_DEFAULT = 3000;

/**
 * A prober of one endpoint. Open it once and call `request` as often as needed (each
 * answer is a fresh snapshot; `--watch` does this); close it at the end.
 *
 * @example
 * ```ts
 * const prober = await StatusProber.open('127.0.0.1:7001', { secret });
 * try {
 *   const s = await prober.request();
 *   console.log(s.view.members.length, s.view.coordinator?.id);
 * } finally {
 *   await prober.close();
 * }
 * ```
 */
export class StatusProber {
  /** The endpoint probed, `host:port`. */
  readonly target: string;
  private readonly transport: TcpTransport;
  private readonly self: MemberRef;
  private nextId: number;
  private waiting: { id: number; resolve(doc: StatusDocument): void; reject(err: Error): void } | null = null;
  private readonly onLog: ((line: string) => void) | undefined;
  /** The prober speaks TLS: a hang-up in the handshake is then about its certificate. */
  private readonly tls: boolean;

  private constructor(target: string, transport: TcpTransport, onLog: ((line: string) => void) | undefined, tls: boolean) {
    this.target = target;
    this.tls = tls;
    this.transport = transport;
    this.onLog = onLog;
    this.self = { id: 'cohort-status', inc: randomInt(2 ** 31) };
    this.nextId = randomInt(2 ** 31);
    transport.onMessage((from, msg) => this.onMessage(from, msg));
    transport.onRefused((addr) => {
      if (addr === this.target) this.fail(new ProbeError(ErrorCode.unreachable, `${this.target} refuses connections: nothing listens there`));
    });
  }

  /**
   * Listen for answers; no connection is made before the first `request`.
   * @throws OptionError (as a rejection) for a bad target or option.
   */
  static async open(target: string, options: StatusProbeOptions = {}): Promise<StatusProber> {
    if (typeof target !== 'string') throw new OptionError('the target must be a host:port string');
    const { host, port } = parseHostPort(target, 'target');
    if (port === 0) throw new OptionError(`target ${target} has port 0, which cannot be dialed`);
    let listen = options.listen;
    if (listen === undefined) {
      if (!isLoopback(host)) {
        throw new OptionError(`option listen is required to probe ${target}, which is not on loopback: an address of this machine it can reach, e.g. 10.0.0.5:0`);
      }
      listen = host === '::1' || host.includes(':') ? '[::1]:0' : '127.0.0.1:0';
    }
    // The prober's own diagnostics are kept too: a refusal's reason is in them.
    let prober: StatusProber | null = null;
    const transport = await TcpTransport.listen({
      listen,
      ...(options.network === undefined ? {} : { network: options.network }),
      ...(options.secret === undefined ? {} : { secret: options.secret }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
      onLog: (line) => prober?.onTransportLog(line),
    });
    prober = new StatusProber(target, transport, options.onLog, options.tls !== undefined);
    return prober;
  }

  /**
   * Ask the target for its status document.
   * @throws ProbeError (as a rejection): `ERR_UNREACHABLE`, `ERR_REFUSED` or `ERR_TIMEOUT`.
   */
  request(timeoutMs = STATUS_TIMEOUT_MS_DEFAULT): Promise<StatusDocument> {
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new OptionError(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
    if (this.waiting !== null) throw new OptionError('one request at a time: await the previous one');
    const id = (this.nextId = (this.nextId + 1) % 2 ** 31);
    return new Promise<StatusDocument>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ProbeError(ErrorCode.timeout, `no answer from ${this.target} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiting = null;
      };
      this.waiting = {
        id,
        resolve: (doc) => {
          done();
          resolve(doc);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      this.transport.send(this.target, { t: 'status-req', from: this.self, id });
    });
  }

  /** The prober's own address: where answers come back, as the target sees it. */
  get address(): string {
    return this.transport.address;
  }

  /** Stop listening and drop the connections; a request still waiting is rejected. */
  async close(): Promise<void> {
    this.fail(new ProbeError(ErrorCode.unreachable, 'the prober was closed'));
    await this.transport.close();
  }

  private onMessage(_from: string, msg: Message): void {
    const w = this.waiting;
    if (msg.t !== 'status-reply' || w === null || msg.id !== w.id) return;
    try {
      w.resolve(decodeStatus(msg.doc));
    } catch (e) {
      w.reject(new ProbeError(ErrorCode.unreachable, `${this.target} sent an unreadable status document: ${(e as Error).message}`));
    }
  }

  private fail(err: Error): void {
    this.waiting?.reject(err);
  }

  /**
   * A failed dial of the target ends the request at once, with the transport's reason:
   * a refusal in the handshake (secret, certificate, network name) is `ERR_REFUSED`.
   */
  private onTransportLog(line: string): void {
    if (this.onLog !== undefined) {
      try {
        this.onLog(line);
      } catch {
        // a logger that throws must not stop the probe
      }
    }
    const m = /dial (\S+) failed: (.*?)(?:; dropped \d+ queued frames)?; next attempt/.exec(line);
    if (m === null || m[1] !== this.target || this.waiting === null) return;
    // The transport's reason names the address again ("refused by X: …", "refusing X: …").
    const reason = m[2]!.replace(/^(refused by|refusing) \S+: /, '');
    if (/ECONNREFUSED/.test(reason)) {
      this.fail(new ProbeError(ErrorCode.unreachable, `${this.target} refuses connections: nothing listens there`));
    } else if (/refus|authenticat|certificate|alert|network mismatch|handshake/i.test(reason)) {
      this.fail(new ProbeError(ErrorCode.refused, `probe of ${this.target} refused: ${reason}`));
    } else if (/closed by the peer|ECONNRESET|socket hang up/.test(reason)) {
      // Connected, then hung up on before the handshake completed: a TLS endpoint does
      // that to a plain hello (and a plain one to a TLS hello).
      const hint = this.tls
        ? 'is this certificate signed by the network\'s CA and valid now? (the endpoint logs why)'
        : 'does the network use TLS (--tls-cert, --tls-key, --tls-ca)?';
      this.fail(new ProbeError(ErrorCode.refused, `probe of ${this.target} refused: the connection was closed during the handshake (${reason}); ${hint}`));
    } else {
      this.fail(new ProbeError(ErrorCode.unreachable, `cannot reach ${this.target}: ${reason}`));
    }
  }
}

/**
 * Ask the endpoint at `target` (`host:port`) for its status document, once.
 * @throws ProbeError (as a rejection): `ERR_UNREACHABLE`, `ERR_REFUSED` or `ERR_TIMEOUT`.
 * @example
 * ```ts
 * const s = await probeStatus('127.0.0.1:7001', { timeoutMs: 2000 });
 * ```
 */
export async function probeStatus(target: string, options: StatusProbeOptions & { readonly timeoutMs?: number } = {}): Promise<StatusDocument> {
  const { timeoutMs, ...rest } = options;
  const prober = await StatusProber.open(target, rest);
  try {
    return await prober.request(timeoutMs ?? STATUS_TIMEOUT_MS_DEFAULT);
  } finally {
    await prober.close();
  }
}
