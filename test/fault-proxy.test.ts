/**
 * Tests of the TCP fault proxy (src/tools/fault-proxy.ts) over real sockets on
 * 127.0.0.1: transparency, latency and jitter (never reordering), the bandwidth cap,
 * stall and unstall, resets, the blackhole, and bounded memory under a stall.
 *
 * Method: a tiny echo (or sink) server behind the proxy and a client in front of it,
 * all in this process. Delays are checked with loose lower bounds from
 * `performance.now()` (a fault injector must add at least the delay; the machine may
 * add more, so no upper bound is asserted). A wait is a bounded wait for an event; the
 * only fixed windows are where "nothing happened for a while" is the point of the test.
 * Every server, socket and proxy is closed in `finally`, even when an assertion fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClosedError, OptionError } from '../src/errors.js';
import {
  FaultProxy,
  formatAddress,
  parseAddress,
  type FaultProxyOptions,
} from '../src/tools/fault-proxy.js';

const T = { timeout: 20_000 } as const;
const MiB = 1024 * 1024;

// --- helpers -----------------------------------------------------------------------

/** Cleanups run in reverse order, each one even if an earlier one throws. */
class Scope {
  private readonly fns: (() => unknown)[] = [];
  defer(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async close(): Promise<void> {
    for (const fn of this.fns.reverse()) {
      try {
        await fn();
      } catch {
        // keep cleaning up
      }
    }
  }
}

/** Collects what a socket receives, and whether it ended, failed or closed. */
class Collector {
  private readonly chunks: Buffer[] = [];
  private readonly waiters = new Set<() => void>();
  length = 0;
  dataEvents = 0;
  ended = false;
  closed = false;
  error: Error | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.length += d.length;
      this.dataEvents += 1;
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolve once `cond()` holds; reject after `ms`. */
  until(cond: () => boolean, ms: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (got ${this.length} bytes, closed=${this.closed})`));
      }, ms);
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Collects a proxy's log lines; `until(re)` waits for a matching one. */
class LogWatch {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly onLog = (line: string): void => {
    this.lines.push(line);
    for (const w of [...this.waiters]) w();
  };
  until(re: RegExp, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!this.lines.some((l) => re.test(l))) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for a log line ${re}; got:\n${this.lines.join('\n')}`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }
}

/** A server on 127.0.0.1:0; `echo` writes back what it reads, otherwise it only counts. */
async function startServer(
  scope: Scope,
  mode: 'echo' | 'sink',
): Promise<{ address: string; received: () => number; waitReceived: (n: number, ms: number) => Promise<void> }> {
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let received = 0;
  const server: Server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.on('data', (d: Buffer) => {
      received += d.length;
      for (const w of [...waiters]) w();
    });
    if (mode === 'echo') s.pipe(s);
    else s.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  scope.defer(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const a = server.address() as net.AddressInfo;
  const waitReceived = (n: number, ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (received < n) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms: the server received ${received} of ${n} bytes`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { address: formatAddress(a.address, a.port), received: () => received, waitReceived };
}

async function startProxy(
  scope: Scope,
  target: string,
  extra: Partial<Omit<FaultProxyOptions, 'listen' | 'target'>> = {},
): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ listen: '127.0.0.1:0', target, ...extra });
  scope.defer(() => proxy.close());
  return proxy;
}

async function connect(scope: Scope, address: string): Promise<Collector> {
  const { host, port } = parseAddress(address);
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  const c = new Collector(socket);
  scope.defer(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return c;
}

/** Write `payload` and wait until as many more bytes came back; returns the elapsed ms. */
async function roundTrip(c: Collector, payload: Buffer | string, ms = 10_000): Promise<number> {
  const n = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const target = c.length + n;
  const t0 = performance.now();
  c.socket.write(payload);
  await c.until(() => c.length >= target, ms, `${n} echoed bytes`);
  return performance.now() - t0;
}

/** Resolve true if `event` fires within `ms`, false otherwise. */
function eventWithin(emitter: NodeJS.EventEmitter, event: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const on = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      resolve(false);
    }, ms);
    emitter.once(event, on);
  });
}

function numbered(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${i}\n`);
}

// --- tests -------------------------------------------------------------------------

test('parseAddress, formatAddress and option validation', T, async () => {
  assert.deepEqual(parseAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseAddress('localhost:65535'), { host: 'localhost', port: 65535 });
  for (const bad of ['', '127.0.0.1', '::1:80', '[::1]', 'h:65536', 'h:-1', 'h: 1', 'a b:1']) {
    assert.throws(() => parseAddress(bad), OptionError, bad);
  }
  assert.equal(formatAddress('::1', 80), '[::1]:80');
  assert.equal(formatAddress('10.0.0.1', 80), '10.0.0.1:80');

  await assert.rejects(FaultProxy.start({ listen: 'nope', target: '127.0.0.1:1' }), OptionError);
  await assert.rejects(FaultProxy.start({ listen: '127.0.0.1:0', target: '127.0.0.1:0' }), OptionError);
  await assert.rejects(
    FaultProxy.start({ listen: '127.0.0.1:0', target: '127.0.0.1:1', heldBytesMax: 1000 }),
    OptionError,
  );
  await assert.rejects(
    FaultProxy.start({ listen: '127.0.0.1:0', target: '127.0.0.1:1', bogus: 1 } as unknown as FaultProxyOptions),
    (e: unknown) => e instanceof OptionError && e.code === 'ERR_UNKNOWN_OPTION',
  );

  const scope = new Scope();
  try {
    const proxy = await startProxy(scope, '127.0.0.1:1');
    assert.match(proxy.address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(proxy.address, '127.0.0.1:0');
    assert.throws(() => proxy.set({ latencyMs: -1 }), OptionError);
    assert.throws(() => proxy.set({ jitterMs: Number.NaN }), OptionError);
    assert.throws(() => proxy.set({ bandwidthBytesPerS: 0.5 }), OptionError);
    assert.throws(() => proxy.set({ resetAfterBytes: 1.5 }), OptionError);
    assert.throws(() => proxy.set({ stall: 1 } as unknown as { stall: boolean }), OptionError);
    assert.throws(() => proxy.set({ direction: 'sideways' } as unknown as { direction: 'up' }), OptionError);
    assert.throws(
      () => proxy.set({ latency: 5 } as unknown as { latencyMs: number }),
      (e: unknown) => e instanceof OptionError && e.code === 'ERR_UNKNOWN_OPTION',
    );
    // A rejected set() changes nothing, even the valid fields in it.
    assert.throws(() => proxy.set({ latencyMs: 10, jitterMs: -1 }), OptionError);
    assert.equal(proxy.faults().up.latencyMs, 0);

    proxy.set({ latencyMs: 30, direction: 'down' });
    proxy.set({ stall: true });
    assert.deepEqual(proxy.faults().up, { latencyMs: 0, jitterMs: 0, bandwidthBytesPerS: 0, stall: true, resetAfterBytes: 0, blackhole: false });
    assert.equal(proxy.faults().down.latencyMs, 30);
    proxy.clear('up');
    assert.equal(proxy.faults().up.stall, false);
    assert.equal(proxy.faults().down.stall, true);

    await proxy.close();
    await proxy.close(); // idempotent
    assert.throws(() => proxy.set({ stall: false }), ClosedError);
  } finally {
    await scope.close();
  }
});

test('pass-through: bytes and FIN go through intact, including a 4 MiB blob', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const logs = new LogWatch();
    const proxy = await startProxy(scope, echo.address, { onLog: logs.onLog });
    const c = await connect(scope, proxy.address);

    await roundTrip(c, 'hello');
    assert.equal(c.data().toString(), 'hello');

    const blob = randomBytes(4 * MiB);
    c.socket.end(blob);
    await c.until(() => c.ended, 15_000, 'the echoed blob and FIN');
    const got = c.data();
    assert.equal(got.length, 5 + blob.length);
    assert.ok(got.subarray(5).equals(blob), 'blob echoed intact');

    await c.until(() => c.closed, 5_000, 'close');
    await logs.until(/#1 closed: closed$/, 5_000); // both sides closed cleanly
    const s = proxy.stats();
    assert.equal(s.open, 0);
    assert.equal(s.accepted, 1);
    assert.equal(s.up.forwarded, 5 + blob.length);
    assert.equal(s.down.forwarded, 5 + blob.length);
    assert.equal(s.resets, 0);
    assert.equal(echo.received(), 5 + blob.length);
    assert.ok(logs.lines.some((l) => l.includes('listening on')));
  } finally {
    await scope.close();
  }
});

test('latency: every direction adds its delay to a round trip', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'warm-up'); // the proxy has dialled the target

    proxy.set({ latencyMs: 100 });
    const both = await roundTrip(c, 'ping');
    assert.ok(both >= 180, `round trip with 100 ms each way took ${both.toFixed(1)} ms`);

    proxy.set({ latencyMs: 0, direction: 'down' });
    const upOnly = await roundTrip(c, 'ping');
    assert.ok(upOnly >= 90, `round trip with 100 ms up took ${upOnly.toFixed(1)} ms`);

    proxy.clear();
    assert.equal(c.data().toString(), 'warm-uppingping');
  } finally {
    await scope.close();
  }
});

test('jitter: the injected rng draws the extra delay', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address, { rng: () => 0.999 });
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'warm-up');
    proxy.set({ jitterMs: 100 });
    const rtt = await roundTrip(c, 'ping');
    assert.ok(rtt >= 180, `round trip with ~100 ms jitter each way took ${rtt.toFixed(1)} ms`);
  } finally {
    await scope.close();
  }
});

test('jitter never reorders bytes: 1,000 numbered writes come back in order', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    // Alternate long and zero jitter: without the no-earlier-than-previous rule, every
    // other chunk would overtake the one before it.
    let flip = false;
    const rng = (): number => ((flip = !flip) ? 0.999 : 0);
    const proxy = await startProxy(scope, echo.address, { rng });
    proxy.set({ latencyMs: 5, jitterMs: 30 });
    const c = await connect(scope, proxy.address);

    const lines = numbered(1000);
    const expected = lines.join('');
    for (let i = 0; i < lines.length; i++) {
      c.socket.write(lines[i]!);
      if (i % 10 === 9) await sleep(1); // separate reads at the proxy, hence separate chunks
    }
    await c.until(() => c.length >= expected.length, 15_000, 'all numbered lines');
    assert.equal(c.data().toString(), expected);
    assert.ok(proxy.stats().up.forwarded === expected.length);
  } finally {
    await scope.close();
  }
});

test('bandwidth: 1 MiB at 1 MiB/s takes at least ~0.8 s', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'x');
    proxy.set({ bandwidthBytesPerS: MiB, direction: 'up' });

    const blob = randomBytes(MiB);
    const elapsed = await roundTrip(c, blob, 15_000);
    assert.ok(elapsed >= 800, `1 MiB at 1 MiB/s took ${elapsed.toFixed(1)} ms`);
    assert.ok(c.data().subarray(1).equals(blob), 'data intact');
    assert.equal(proxy.faults().down.bandwidthBytesPerS, 0);
  } finally {
    await scope.close();
  }
});

test('stall holds every byte until unset, then releases them in order', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'warm-up\n');
    const base = c.length;

    proxy.set({ stall: true });
    const lines = numbered(100);
    for (const line of lines) c.socket.write(line);
    const expected = lines.join('');

    // The point of this test: for a while, nothing at all may arrive.
    await sleep(400);
    assert.equal(c.length, base, 'no data reached the client during the stall');
    assert.equal(echo.received(), base, 'no data reached the target during the stall');
    assert.equal(proxy.heldBytes().up, expected.length);
    assert.equal(c.closed, false);

    proxy.set({ stall: false });
    await c.until(() => c.length >= base + expected.length, 10_000, 'released lines');
    assert.equal(c.data().subarray(base).toString(), expected);
    assert.deepEqual(proxy.heldBytes(), { up: 0, down: 0 });
  } finally {
    await scope.close();
  }
});

test('reset() resets every open connection; new ones still work', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const a = await connect(scope, proxy.address);
    const b = await connect(scope, proxy.address);
    await roundTrip(a, 'a');
    await roundTrip(b, 'b');

    assert.equal(proxy.reset(), 2);
    await a.until(() => a.closed, 5_000, 'client a closed');
    await b.until(() => b.closed, 5_000, 'client b closed');
    const s = proxy.stats();
    assert.equal(s.resets, 2);
    assert.equal(s.open, 0);

    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'again');
    assert.equal(c.data().toString(), 'again');
  } finally {
    await scope.close();
  }
});

test('resetAfterBytes forwards exactly N bytes, then resets the connection', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'hello'); // 5 bytes before the limit; it counts from the set()

    proxy.set({ resetAfterBytes: 1000, direction: 'up' });
    c.socket.write(Buffer.alloc(5000, 7));
    await c.until(() => c.closed, 5_000, 'client closed by the reset');
    const s = proxy.stats();
    assert.equal(s.up.forwarded, 5 + 1000);
    assert.equal(s.resets, 1);
    assert.ok(echo.received() <= 1005, `target got ${echo.received()} bytes`);
  } finally {
    await scope.close();
  }
});

test('blackhole drops bytes silently and keeps the connection open', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'before;');

    proxy.set({ blackhole: true });
    c.socket.write('lost;');
    await sleep(400); // nothing may arrive for a while
    assert.equal(c.data().toString(), 'before;');
    assert.equal(echo.received(), 7);
    assert.equal(c.closed, false);
    assert.equal(c.error, undefined);
    assert.equal(proxy.stats().open, 1);
    assert.equal(proxy.stats().up.dropped, 5);

    proxy.set({ blackhole: false });
    await roundTrip(c, 'after');
    assert.equal(c.data().toString(), 'before;after');
  } finally {
    await scope.close();
  }
});

test('heldBytesMax: a stalled link holds at most the cap and pushes back on the producer', T, async () => {
  const scope = new Scope();
  try {
    const cap = MiB;
    const sink = await startServer(scope, 'sink');
    const proxy = await startProxy(scope, sink.address, { heldBytesMax: cap });
    proxy.set({ stall: true, direction: 'up' });
    const c = await connect(scope, proxy.address);

    const chunk = randomBytes(64 * 1024);
    const guard = 512 * MiB;
    let written = 0;
    let pushedBack = false;
    while (written < guard) {
      const ok = c.socket.write(chunk);
      written += chunk.length;
      if (!ok && !(await eventWithin(c.socket, 'drain', 500))) {
        pushedBack = true;
        break;
      }
    }
    assert.ok(pushedBack, `the producer wrote ${written} bytes without backpressure`);

    const s = proxy.stats();
    assert.ok(s.up.held <= cap, `held ${s.up.held} > cap ${cap}`);
    assert.ok(s.up.heldPeak <= cap, `peak ${s.up.heldPeak} > cap ${cap}`);
    assert.ok(s.up.held >= cap / 2, `held only ${s.up.held}: the queue should fill up to the cap`);
    assert.ok(s.up.pauses >= 1);
    assert.equal(proxy.heldBytes().up, s.up.held);
    assert.equal(sink.received(), 0);

    proxy.set({ stall: false });
    await sink.waitReceived(written, 15_000);
    assert.equal(sink.received(), written);
    assert.equal(proxy.heldBytes().up, 0);
  } finally {
    await scope.close();
  }
});

test('close() closes piped sockets; a refused target closes the client', T, async () => {
  const scope = new Scope();
  try {
    const echo = await startServer(scope, 'echo');
    const proxy = await startProxy(scope, echo.address);
    const c = await connect(scope, proxy.address);
    await roundTrip(c, 'x');
    proxy.set({ latencyMs: 10_000 }); // a pending timer that close() must clear
    c.socket.write('y');
    await proxy.close();
    await c.until(() => c.closed, 5_000, 'client closed by proxy.close()');
    assert.equal(proxy.stats().open, 0);

    // A port with nothing listening.
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const logs = new LogWatch();
    const refused = await startProxy(scope, `127.0.0.1:${port}`, { onLog: logs.onLog });
    const d = await connect(scope, refused.address);
    await d.until(() => d.closed, 5_000, 'client closed after a refused dial');
    await logs.until(/#1 closed: target error: connect ECONNREFUSED/, 5_000);
    assert.equal(refused.stats().open, 0);
  } finally {
    await scope.close();
  }
});
