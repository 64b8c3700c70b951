/**
 * Free TCP ports on 127.0.0.1, for the demos, the benchmark and the tests that start
 * members as processes: bound together (so they are distinct), then released. Another
 * program could take one in between — a tiny race, acceptable on loopback.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}
