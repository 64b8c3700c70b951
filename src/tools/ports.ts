/**
 * Free TCP ports on 127.0.0.1, for the demos, the benchmark and the tests that start
 * members as processes: bound together (so they are distinct), then released for the
 * members to listen on.
 *
 * Between the release and the member's listen another socket may take a port. Ports
 * the kernel picks for `listen(0)` come from the ephemeral range, which every outgoing
 * connection on the machine also draws its local port from — with tests running side
 * by side, one did take such a port (EADDRINUSE). So the ports are drawn below that
 * range (`net.ipv4.ip_local_port_range`), where only another program's explicit
 * listen could take one; the kernel's pick is the fallback.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

/** Tries at drawing a port below the ephemeral range before the kernel picks. */
const drawsMax = 200;

/** The lowest ephemeral port (Linux's default when the setting cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isSafeInteger(low) && low > 1024 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Listen on `port` (0: the kernel picks); resolves with the server, or null if the port is taken. */
function tryListen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const high = ephemeralLow() - 1;
    const low = Math.max(1025, Math.min(10_000, high - 10_000));
    for (let draws = 0; servers.length < n && draws < drawsMax && high > low; draws++) {
      const s = await tryListen(low + Math.floor(Math.random() * (high - low)));
      if (s !== null) servers.push(s);
    }
    while (servers.length < n) {
      const s = await tryListen(0);
      if (s === null) throw new Error('no free TCP port on 127.0.0.1');
      servers.push(s);
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
