/**
 * Addresses of the TCP transport: parsing, validation and formatting of `host:port`.
 *
 * Intuition: an address is both configuration (`listen`, `advertise`) and input from
 * the network (the advertised address in every handshake), so one strict parser
 * serves both, with a length bound and no DNS lookup: a host is returned as written,
 * never resolved or normalised, because addresses are compared as strings (the
 * one-connection rule sorts them, and `from` of every message is one). Its own file
 * because `probe.ts`, the handshake and the option resolution all need it, and none of
 * them needs sockets.
 */
import * as net from 'node:net';
import { OptionError } from '../errors.js';

/** Longest address accepted, in characters; addresses travel in the handshake. */
export const ADDRESS_CHARS_MAX = 300;
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host);
  return false;
}

/** True for the wildcard hosts (`0.0.0.0`, `::` in any spelling), which nobody can dial. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || (net.isIPv6(host) && /^[0:]+$/.test(host));
}

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

/**
 * True when `a` is an address a peer may advertise: valid for {@link parseHostPort}
 * and with a port other than 0 (a dial needs one). Never throws.
 */
export function isDialable(a: string): boolean {
  try {
    return parseHostPort(a).port !== 0;
  } catch {
    return false;
  }
}

/** `host:port` of a socket's remote end, for logs (`unknown` once it is gone). */
export function socketLabel(socket: net.Socket): string {
  const a = socket.remoteAddress;
  return a === undefined ? 'unknown' : formatHostPort(a, socket.remotePort ?? 0);
}
