/**
 * The listening socket of the TCP transport: created, bound, and wired to hand over
 * the connections worth a handshake.
 *
 * Intuition: with TLS, a client certificate is checked before a single byte of ours
 * is read, so that a refusal can say why (expired, untrusted, missing) and the
 * transport only ever sees authorised sockets; without TLS, every socket is handed
 * over as it connects. Binding failures become errors that name the address and the
 * likely cause, because a wrong `listen` is the usual mistake at start.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { CohortError, ErrorCode } from '../errors.js';
import { formatHostPort, socketLabel } from './address.js';
import { errorText, type ResolvedOptions, type TransportLogLevel } from './tcp-options.js';

/** A server for `o`: plain TCP, or TLS 1.3 asking for (and checking later) a client certificate. */
export function createServer(o: ResolvedOptions): net.Server {
  return o.tls === null
    ? net.createServer({ allowHalfOpen: false })
    : // Client certificates are checked in 'secureConnection' (see `serveConnections`),
      // before a byte is read, so that the refusal can say why (expired, untrusted, missing).
      tls.createServer({ ...o.tls, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', handshakeTimeout: o.handshakeTimeoutMs, allowHalfOpen: false });
}

/**
 * Binds `server` to `o.listen`; resolves with the bound address.
 * @throws CohortError (as a rejection) for `EADDRINUSE`, `EADDRNOTAVAIL` and `EACCES`,
 *   naming the address; other system errors as they are.
 */
export async function bindServer(server: net.Server, o: ResolvedOptions): Promise<net.AddressInfo> {
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
  return server.address() as net.AddressInfo;
}

/** The advertised address: option `advertise` (port 0: the bound port), else the bound address. */
export function advertisedAddress(o: ResolvedOptions, bound: net.AddressInfo): string {
  return o.advertise === null
    ? formatHostPort(bound.address, bound.port)
    : formatHostPort(o.advertise.host, o.advertise.port === 0 ? bound.port : o.advertise.port);
}

/** What {@link serveConnections} tells the transport. */
export interface ServerHooks {
  /** A connection to run the handshake on (with TLS: its certificate was accepted). */
  accept(socket: net.Socket): void;
  /** A TLS connection refused (counted as refused, logged as a warning); the socket is gone. */
  refuse(line: string): void;
  /** Logs one line (the transport's `onLog`). */
  log(line: string, level: TransportLogLevel): void;
}

/** Wires `server`'s events: connections to `hooks.accept`, TLS refusals and server errors to the log. */
export function serveConnections(server: net.Server, o: ResolvedOptions, hooks: ServerHooks): void {
  if (o.tls === null) {
    server.on('connection', (socket) => hooks.accept(socket));
  } else {
    // The peer's address, noted when TCP connects: by the time TLS fails the socket may be gone.
    const labels = new WeakMap<net.Socket, string>();
    server.on('connection', (raw: net.Socket) => labels.set(raw, socketLabel(raw)));
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (!socket.authorized) {
        const why = socket.authorizationError === undefined ? 'no certificate' : String(socket.authorizationError);
        hooks.refuse(`refusing a TLS connection from ${socketLabel(socket)}: its certificate is not accepted (${why})`);
        socket.destroy();
        return;
      }
      hooks.accept(socket);
    });
    server.on('tlsClientError', (e, socket) => {
      const raw = (socket as unknown as { _parent?: net.Socket })._parent;
      hooks.refuse(`refusing a TLS connection from ${(raw === undefined ? undefined : labels.get(raw)) ?? socketLabel(socket)}: ${errorText(e)}`);
    });
  }
  server.on('error', (e) => hooks.log(`server error: ${errorText(e)}`, 'error'));
}

/**
 * Accepted connections open now per remote IP address, so that one host cannot hold
 * more than `connectionsPerAddressMax` of ours (e.g. by connecting and never
 * completing the handshake).
 */
export class OpenPerAddress {
  private readonly open = new Map<string, number>();

  /** Connections from `ip` open now. */
  count(ip: string): number {
    return this.open.get(ip) ?? 0;
  }

  /** Counts `socket` against `ip` until it closes. */
  hold(ip: string, socket: net.Socket): void {
    this.open.set(ip, this.count(ip) + 1);
    socket.once('close', () => {
      const left = (this.open.get(ip) ?? 1) - 1;
      if (left <= 0) this.open.delete(ip);
      else this.open.set(ip, left);
    });
  }
}
