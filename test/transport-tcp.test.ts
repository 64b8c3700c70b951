/**
 * Tests of the TCP transport (`src/transport/tcp.ts`): the transport contract suite on
 * 127.0.0.1 and on [::1] (skipped, with the reason printed, where the machine has no
 * IPv6 loopback), then what TCP adds: volume and order, large frames, the handshake and
 * its refusals, hostile input from raw sockets, the one-connection rule under
 * simultaneous dials, reconnection and its backoff, backpressure, and option checks.
 *
 * Method: every test opens its transports, raw sockets and servers through helpers that
 * record them, and an `afterEach` closes them all, pass or fail. All traffic is on
 * loopback. Waiting is event-driven or polling with a bound (`until`); the only
 * time-based wait is `settle`, which polls until every transport has nothing
 * buffered and no frame has arrived for a few polls in a row, the only way to check
 * that something did *not* arrive.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { DataMsg, HeartbeatMsg, Message } from '../src/core/types.js';
import { ErrorCode, OptionError } from '../src/errors.js';
import { encodeMessage } from '../src/wire/codec.js';
import {
  formatHostPort,
  parseHostPort,
  TcpTransport,
  type TcpTransportOptions,
} from '../src/transport/tcp.js';
import { transportContract, type TransportFixture } from './transport-contract-suite.js';

/** How long `until` waits for an awaited condition before failing the test. */
const PATIENCE_MS = 15_000;
/** Upper bound of one `settle`. */
const SETTLE_MAX_MS = 2_000;
/** `settle` returns after this many consecutive quiet polls ... */
const SETTLE_QUIET_POLLS = 4;
/** ... this far apart (ms). */
const SETTLE_POLL_MS = 5;
/** Per-test time limit. */
const TEST_TIMEOUT_MS = 60_000;

/** Options that keep failures quick in tests; every test may override them. */
const quick = {
  connectTimeoutMs: 1_000,
  handshakeTimeoutMs: 1_000,
  reconnectMinMs: 10,
  reconnectMaxMs: 100,
} as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `done` every few ms until it holds; rejects after `patienceMs`. */
async function until(done: () => boolean, what: string, patienceMs = PATIENCE_MS): Promise<void> {
  const deadline = performance.now() + patienceMs;
  while (!done()) {
    if (performance.now() >= deadline) throw new Error(`timed out after ${patienceMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Waits until nothing is buffered towards any of `transports` and no frame has
 * arrived for a few polls: anything in flight on loopback has then arrived.
 */
async function settle(transports: readonly TcpTransport[]): Promise<void> {
  const deadline = performance.now() + SETTLE_MAX_MS;
  let quiet = 0;
  let last = -1;
  while (performance.now() < deadline && quiet < SETTLE_QUIET_POLLS) {
    await sleep(SETTLE_POLL_MS);
    let received = 0;
    let buffered = 0;
    for (const t of transports) {
      received += t.stats().framesReceived;
      for (const u of transports) buffered += t.bufferedBytes(u.address);
    }
    quiet = buffered === 0 && received === last ? quiet + 1 : 0;
    last = received;
  }
}

/** An address on `host` where nothing listens: a port bound and released. */
async function deadAddress(host: string): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return formatHostPort(host, port);
}

/** Null if [::1] accepts a connection here, or why not. */
async function ipv6Unavailable(): Promise<string | null> {
  const server = net.createServer((s) => s.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '::1', port: 0 }, resolve);
    });
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '::1', port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
    return null;
  } catch (e) {
    return `no IPv6 loopback on this machine (${e instanceof Error ? e.message : String(e)})`;
  } finally {
    server.close();
  }
}

const noIpv6 = await ipv6Unavailable();
if (noIpv6 !== null) console.log(`skipping the [::1] tests: ${noIpv6}`);

function tcpFixture(host: string): () => Promise<TransportFixture> {
  return async () => {
    const opened: TcpTransport[] = [];
    const unreachable = await deadAddress(host);
    return {
      async open() {
        const t = await TcpTransport.listen({ listen: formatHostPort(host, 0), ...quick });
        opened.push(t);
        return t;
      },
      until: (done, what) => until(done, what),
      settle: () => settle(opened),
      unreachableAddress: () => unreachable,
      async dispose() {
        await Promise.all(opened.map((t) => t.close()));
      },
    };
  };
}

transportContract('TcpTransport on 127.0.0.1', tcpFixture('127.0.0.1'));
describe('TcpTransport on [::1]', { skip: noIpv6 ?? false }, () => {
  transportContract('TcpTransport on [::1]', tcpFixture('::1'));
});

// ---------------------------------------------------------------------------------
// Helpers for the TCP-specific tests
// ---------------------------------------------------------------------------------

function heartbeat(id: string, epoch: number): HeartbeatMsg {
  return { t: 'heartbeat', from: { id, inc: 1 }, epoch, ordered: 0, stable: 0, committed: 0, held: 0, hears: true, behind: false };
}

function data(id: string, seq: number, payload: Uint8Array): DataMsg {
  return { t: 'data', from: { id, inc: 1 }, epoch: 1, sender: { id, inc: 1 }, seq, kind: 0, group: 'atc', safe: false, relay: false, payload };
}

/** A payload that depends on `seq`, so a mixed-up delivery shows. */
function payloadFor(seq: number): Uint8Array {
  const p = new Uint8Array(64 + (seq % 64));
  for (let i = 0; i < p.length; i++) p[i] = (seq * 31 + i) & 0xff;
  return p;
}

interface Arrival {
  readonly from: string;
  readonly msg: Message;
}

function record(t: TcpTransport): Arrival[] {
  const got: Arrival[] = [];
  t.onMessage((from, msg) => got.push({ from, msg }));
  return got;
}

/** A handshake frame built by hand from the documented layout (length prefix included). */
function handshakeFrame(kind: number, network: string, address: string, reason = '', version = 2): Buffer {
  const parts = [Buffer.from('COHORT', 'ascii'), Buffer.from([version, kind])];
  for (const s of [network, address, reason]) {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    parts.push(len, b);
  }
  // No authentication: auth 0, empty nonce, empty proof.
  parts.push(Buffer.from([0, 0, 0, 0, 0]));
  const body = Buffer.concat(parts);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(body.length);
  return Buffer.concat([prefix, body]);
}

/** Parses a handshake frame (without its length prefix), for assertions. */
function readHandshake(frame: Buffer): { kind: number; network: string; address: string; reason: string } {
  assert.equal(frame.subarray(0, 6).toString('ascii'), 'COHORT');
  assert.equal(frame[6], 2);
  const kind = frame[7]!;
  let at = 8;
  const fields: string[] = [];
  for (let i = 0; i < 3; i++) {
    const n = frame.readUInt16BE(at);
    fields.push(frame.subarray(at + 2, at + 2 + n).toString('utf8'));
    at += 2 + n;
  }
  at += 1; // authentication
  for (let i = 0; i < 2; i++) at += 2 + frame.readUInt16BE(at); // nonce, proof
  assert.equal(at, frame.length, 'no trailing bytes');
  return { kind, network: fields[0]!, address: fields[1]!, reason: fields[2]! };
}

/** Everything a test opened, closed in `afterEach` whatever happened. */
const transports: TcpTransport[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function start(options: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', ...quick, ...options });
  transports.push(t);
  return t;
}

/** A logging transport: returns it and its log lines. */
async function startLogged(options: Partial<TcpTransportOptions> = {}): Promise<[TcpTransport, string[]]> {
  const lines: string[] = [];
  const t = await start({ ...options, onLog: (line) => lines.push(line) });
  return [t, lines];
}

/** A raw client socket, with its received bytes and a promise of its close. */
interface Raw {
  readonly socket: net.Socket;
  readonly received: Buffer[];
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

async function connectRaw(address: string): Promise<Raw> {
  const { host, port } = parseHostPort(address);
  const socket = net.connect({ host, port });
  sockets.push(socket);
  const received: Buffer[] = [];
  let closedFlag = false;
  socket.on('data', (b: Buffer) => received.push(b));
  socket.on('error', () => {}); // a reset from the transport is expected in these tests
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received, closed, isClosed: () => closedFlag };
}

/** A plain TCP server whose connections `onSocket` handles; returns its address. */
async function rawServer(onSocket: (s: net.Socket) => void): Promise<string> {
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return formatHostPort('127.0.0.1', port);
}

/** Resolves when `p` does, rejects if that takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends a ping from `a` to `b` and waits for it, so that their connection is up. */
async function connect(a: TcpTransport, b: TcpTransport, atB: Arrival[]): Promise<void> {
  const before = atB.length;
  a.send(b.address, heartbeat('ping', 1));
  await until(() => atB.length > before, `a ping from ${a.address} to ${b.address}`);
}

// ---------------------------------------------------------------------------------
// TCP-specific tests
// ---------------------------------------------------------------------------------

describe('TcpTransport', { timeout: TEST_TIMEOUT_MS * 4 }, () => {
  it('exchanges 10,000 messages each way, every one in order per direction', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    const b = await start();
    const atA = record(a);
    const atB = record(b);
    // One connection first: order is promised per connection, and this keeps a
    // simultaneous dial (tested below) out of this test.
    await connect(a, b, atB);
    atB.length = 0;
    const count = 10_000;
    // Sent in slices over several turns, so that batching spans many writes.
    for (let seq = 1; seq <= count; seq++) {
      a.send(b.address, data('a', seq, payloadFor(seq)));
      b.send(a.address, data('b', seq, payloadFor(seq)));
      if (seq % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => atA.length >= count && atB.length >= count, `${count} messages each way`);
    await settle([a, b]);
    for (const [got, sender, from] of [
      [atB, 'a', a.address],
      [atA, 'b', b.address],
    ] as const) {
      assert.equal(got.length, count, `exactly ${count} messages from ${sender}`);
      for (let i = 0; i < count; i++) {
        const x = got[i]!;
        assert.equal(x.from, from);
        assert.ok(x.msg.t === 'data' && x.msg.sender.id === sender);
        assert.equal(x.msg.seq, i + 1, `message ${i} from ${sender} out of order`);
        assert.deepEqual(x.msg.payload, payloadFor(i + 1));
      }
    }
    for (const t of [a, b]) {
      const s = t.stats();
      assert.equal(s.framesDropped, 0);
      assert.equal(s.badFrames, 0);
      assert.equal(s.connections, 1);
      // Batching: far fewer writes than frames would show as far fewer bytes per
      // frame of overhead; here we just check the counters add up.
      assert.ok(s.framesSent >= count && s.framesReceived >= count);
    }
  });

  it('writes the frames queued for a peer in one event-loop turn with one socket.write', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    const b = await start();
    const atB = record(b);
    await connect(a, b, atB);
    const proto = net.Socket.prototype;
    const original = proto.write;
    let writes = 0;
    proto.write = function (this: net.Socket, ...args: Parameters<typeof original>) {
      writes++;
      return original.apply(this, args);
    } as typeof original;
    try {
      for (let seq = 1; seq <= 100; seq++) a.send(b.address, data('a', seq, payloadFor(seq)));
      await until(() => atB.length === 101, 'the 100 messages');
    } finally {
      proto.write = original;
    }
    assert.equal(writes, 1, 'one write for the 100 frames of one turn');
  });

  it('encodes a message sent to several peers in one turn once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    const peers = [await start(), await start(), await start()];
    const got = peers.map(record);
    const msg = data('a', 1, payloadFor(1));
    for (const p of peers) a.send(p.address, msg);
    await until(() => got.every((g) => g.length === 1), 'the message at every peer');
    for (let i = 0; i < peers.length; i++) {
      assert.deepEqual(got[i]![0]!.msg, msg);
      assert.equal(got[i]![0]!.from, a.address);
    }
    // Another object is encoded afresh, not served from the cache.
    const next = { ...msg, seq: 2 };
    a.send(peers[0]!.address, next);
    await until(() => got[0]!.length === 2, 'the second message');
    assert.deepEqual(got[0]![1]!.msg, next);
  });

  it('reassembles frames that arrive split at every byte', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await start();
    const atT = record(t);
    const raw = await connectRaw(t.address);
    raw.socket.setNoDelay(true);
    const frames: Buffer[] = [handshakeFrame(1, 'cohort', '127.0.0.1:9')];
    const sent = [data('r', 1, payloadFor(1)), heartbeat('r', 2), data('r', 3, new Uint8Array(0))];
    for (const m of sent) {
      const body = Buffer.from(encodeMessage(m));
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(body.length);
      frames.push(prefix, body);
    }
    const bytes = Buffer.concat(frames);
    for (let i = 0; i < bytes.length; i++) {
      raw.socket.write(bytes.subarray(i, i + 1));
      // Yield now and then, so that the bytes arrive in many separate chunks.
      if (i % 8 === 0) await sleep(1);
    }
    await until(() => atT.length === sent.length, 'the three messages');
    assert.deepEqual(
      atT.map((x) => x.msg),
      sent,
    );
    assert.ok(atT.every((x) => x.from === '127.0.0.1:9'), 'from is the address in the hello');
    assert.equal(t.stats().badFrames, 0);
  });

  it('delivers an 8 MiB payload intact', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    const b = await start();
    const atB = record(b);
    const payload = new Uint8Array(randomBytes(8 * 1024 * 1024));
    a.send(b.address, data('a', 1, payload));
    a.send(b.address, heartbeat('a', 2)); // a small frame right behind the big one
    await until(() => atB.length >= 2, 'the 8 MiB message and the heartbeat');
    const got = atB[0]!.msg;
    assert.ok(got.t === 'data');
    assert.equal(got.payload.length, payload.length);
    assert.ok(Buffer.from(got.payload).equals(Buffer.from(payload)), 'payload bytes differ');
    assert.deepEqual(atB[1]!.msg, heartbeat('a', 2));
    assert.equal(b.stats().badFrames, 0);
  });

  it('refuses a peer of another network, logs the reason on the dialer, delivers nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, logA] = await startLogged({ network: 'alpha' });
    const [b, logB] = await startLogged({ network: 'beta' });
    const atA = record(a);
    const atB = record(b);
    a.send(b.address, heartbeat('a', 1));
    b.send(a.address, heartbeat('b', 1));
    const dialerSaw = (log: string[], expected: string, got: string): boolean =>
      log.some((l) => l.includes('refused by') && l.includes(`network mismatch: expected "${expected}", got "${got}"`));
    await until(() => dialerSaw(logA, 'beta', 'alpha') && dialerSaw(logB, 'alpha', 'beta'), 'both refusals logged by the dialers');
    await settle([a, b]);
    assert.equal(atA.length, 0);
    assert.equal(atB.length, 0);
    for (const t of [a, b]) {
      assert.ok(t.stats().refused >= 2, 'a refusal given and one received');
      assert.equal(t.stats().connections, 0);
      assert.equal(t.stats().framesReceived, 0);
    }
  });

  it('closes connections that send garbage or a huge length, and keeps serving honest peers', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [t, log] = await startLogged({ frameBytesMax: 1024 * 1024 });
    const atT = record(t);
    const attacks: [string, Buffer][] = [
      ['text instead of frames', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['a huge length prefix', Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])],
      ['a handshake-sized frame of garbage', Buffer.concat([Buffer.from([0, 0, 0, 12]), randomBytes(12)])],
      ['a hello with a wrong magic', Buffer.from(handshakeFrame(1, 'cohort', '127.0.0.1:9').fill(0x58, 4, 10))],
      ['an empty frame', Buffer.from([0, 0, 0, 0])],
    ];
    for (const [what, bytes] of attacks) {
      const raw = await connectRaw(t.address);
      raw.socket.write(bytes);
      await within(raw.closed, 5_000, `the transport to close the connection sending ${what}`);
    }
    assert.equal(t.stats().badFrames, attacks.length);

    // After a good handshake: a frame over frameBytesMax, then an undecodable one.
    const afterHandshake: [string, Buffer][] = [
      ['a frame over frameBytesMax', Buffer.from([0x00, 0x20, 0x00, 0x00])],
      ['an undecodable frame', Buffer.from([0, 0, 0, 3, 1, 99, 0])],
    ];
    for (const [what, bytes] of afterHandshake) {
      const raw = await connectRaw(t.address);
      raw.socket.write(handshakeFrame(1, 'cohort', '127.0.0.1:9'));
      await until(() => Buffer.concat(raw.received).length >= 4, 'the hello-ack');
      const got = Buffer.concat(raw.received);
      const ack = readHandshake(got.subarray(4, 4 + got.readUInt32BE(0)));
      assert.equal(ack.kind, 2);
      assert.equal(ack.address, t.address);
      raw.socket.write(bytes);
      await within(raw.closed, 5_000, `the transport to close the connection sending ${what}`);
    }
    assert.equal(t.stats().badFrames, attacks.length + afterHandshake.length);
    assert.ok(log.some((l) => l.includes('exceeds the limit')));
    assert.ok(log.some((l) => l.includes('undecodable frame')));
    assert.equal(atT.length, 0);

    const honest = await start();
    const atHonest = record(honest);
    honest.send(t.address, heartbeat('honest', 1));
    await until(() => atT.length === 1, 'the honest message');
    assert.equal(atT[0]!.from, honest.address);
    t.send(honest.address, heartbeat('t', 1));
    await until(() => atHonest.length === 1, 'the answer to the honest peer');
  });

  it('closes connections from one address beyond connectionsPerAddressMax at once, and accepts again once some close', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [t, log] = await startLogged({ connectionsPerAddressMax: 3, handshakeTimeoutMs: 10_000 });
    const held = [await connectRaw(t.address), await connectRaw(t.address), await connectRaw(t.address)];
    const extra = [await connectRaw(t.address), await connectRaw(t.address)];
    await within(Promise.all(extra.map((r) => r.closed)), 5_000, 'the connections beyond the limit to be closed');
    assert.ok(held.every((r) => !r.isClosed()), 'a connection within the limit was closed');
    assert.ok(log.some((l) => /refusing a connection from 127\.0\.0\.1:\d+: 3 open from 127\.0\.0\.1 already/.test(l)), log.join('\n'));
    held[0]!.socket.destroy();
    await held[0]!.closed;
    // Our side counts the close when its own 'close' event runs: try until it has.
    let accepted = false;
    for (let attempt = 0; attempt < 50 && !accepted; attempt++) {
      const r = await connectRaw(t.address);
      await sleep(20);
      accepted = !r.isClosed();
      r.socket.destroy();
    }
    assert.ok(accepted, 'no connection accepted after one closed');
  });

  it('closes a connection that does not complete the handshake in time', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [t, log] = await startLogged({ handshakeTimeoutMs: 200 });
    const silent = await connectRaw(t.address);
    const partial = await connectRaw(t.address);
    partial.socket.write(handshakeFrame(1, 'cohort', '127.0.0.1:9').subarray(0, 10));
    const started = performance.now();
    await within(Promise.all([silent.closed, partial.closed]), 5_000, 'both connections to be closed');
    assert.ok(performance.now() - started >= 150, 'closed before the handshake timeout');
    // Our side's 'close' event may come a moment after the raw socket saw the FIN.
    await until(
      () => log.filter((l) => l.includes('handshake not completed within 200 ms')).length === 2,
      'the two timeouts logged',
    );
  });

  it('refuses a hello of another handshake version with a reason', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await start();
    const raw = await connectRaw(t.address);
    raw.socket.write(handshakeFrame(1, 'cohort', '127.0.0.1:9', '', 1));
    await within(raw.closed, 5_000, 'the refusal and close');
    const got = Buffer.concat(raw.received);
    const refusal = readHandshake(got.subarray(4, 4 + got.readUInt32BE(0)));
    assert.equal(refusal.kind, 3);
    assert.match(refusal.reason, /version mismatch/);
    assert.equal(t.stats().refused, 1);
  });

  it('refuses a hello that claims the acceptor\'s own address or an undialable one', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await start();
    for (const [claimed, reason] of [
      [t.address, /own address/],
      ['127.0.0.1:0', /bad advertised address/],
      ['no port here', /bad advertised address/],
    ] as const) {
      const raw = await connectRaw(t.address);
      raw.socket.write(handshakeFrame(1, 'cohort', claimed));
      await within(raw.closed, 5_000, 'the refusal and close');
      const got = Buffer.concat(raw.received);
      const refusal = readHandshake(got.subarray(4, 4 + got.readUInt32BE(0)));
      assert.equal(refusal.kind, 3);
      assert.match(refusal.reason, reason);
    }
    assert.equal(t.stats().refused, 3);
    assert.equal(t.stats().connections, 0);
  });

  it('survives random input before and after a valid hello', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await start({ frameBytesMax: 64 * 1024 });
    const atT = record(t);
    const raws: Raw[] = [];
    for (let i = 0; i < 40; i++) {
      const raw = await connectRaw(t.address);
      raws.push(raw);
      if (i % 2 === 1) raw.socket.write(handshakeFrame(1, 'cohort', `127.0.0.1:${1000 + i}`));
      // Random frames with plausible lengths, so that some get past the length check.
      for (let k = 0; k < 5; k++) {
        const body = randomBytes(1 + ((i * 7 + k * 13) % 200));
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(k === 4 ? 0x00ff_ffff : body.length);
        raw.socket.write(Buffer.concat([prefix, body]));
      }
    }
    // Every one ends in a bad frame (wrong magic, undecodable, or too long).
    await until(() => raws.every((r) => r.isClosed()), 'every fuzzing connection closed');
    assert.equal(t.stats().badFrames, raws.length);
    assert.equal(atT.length, 0, 'random bytes decoded as a message');
    const honest = await start();
    honest.send(t.address, heartbeat('honest', 1));
    await until(() => atT.length === 1, 'an honest message afterwards');
  });

  it('keeps exactly one connection after a simultaneous dial, losing no message', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (let round = 0; round < 5; round++) {
      const [a, logA] = await startLogged();
      const [b, logB] = await startLogged();
      const atA = record(a);
      const atB = record(b);
      const count = 50;
      // Same turn on both sides: both flush and dial before either hello arrives.
      for (let seq = 1; seq <= count; seq++) {
        a.send(b.address, data('a', seq, payloadFor(seq)));
        b.send(a.address, data('b', seq, payloadFor(seq)));
      }
      await until(() => atA.length >= count && atB.length >= count, 'the messages of both sides');
      await until(() => a.stats().connections === 1 && b.stats().connections === 1, 'one connection on each side');
      await settle([a, b]);
      assert.ok(logA.some((l) => l.includes('two connections')), 'a saw a duplicate connection');
      assert.ok(logB.some((l) => l.includes('two connections')), 'b saw a duplicate connection');
      // Every message exactly once (order may differ across the two connections).
      for (const got of [atA, atB]) {
        const seqs = got.map((x) => (x.msg.t === 'data' ? x.msg.seq : -1)).sort((x, y) => x - y);
        assert.deepEqual(seqs, Array.from({ length: count }, (_, i) => i + 1));
      }
      assert.equal(a.stats().connections, 1);
      assert.equal(b.stats().connections, 1);
      // The kept connection carries traffic both ways.
      b.send(a.address, heartbeat('b', 9));
      a.send(b.address, heartbeat('a', 9));
      await until(() => atA.length === count + 1 && atB.length === count + 1, 'traffic on the kept connection');
      assert.equal(a.stats().connections, 1);
      assert.equal(b.stats().connections, 1);
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('reconnects to a new transport listening on the same port', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    const b = await start();
    const atB = record(b);
    await connect(a, b, atB);
    const port = parseHostPort(b.address).port;
    await b.close();
    const b2 = await start({ listen: `127.0.0.1:${port}` });
    assert.equal(b2.address, b.address);
    const atB2 = record(b2);
    // Sends before `a` notices the old connection's end may be lost: keep sending.
    let seq = 0;
    await until(() => {
      a.send(b2.address, heartbeat('a', ++seq));
      return atB2.length > 0;
    }, 'a message to the new transport');
    assert.equal(atB2[0]!.from, a.address);
    assert.equal(atB.length, 1, 'nothing reached the closed transport after the ping');
  });

  it('reports a refused address (nothing listens there), never one that accepts or hangs up', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start({ reconnectMinMs: 20, reconnectMaxMs: 40 });
    const refused: string[] = [];
    a.onRefused((addr) => refused.push(addr));
    const b = await start();
    const atB = record(b);
    await connect(a, b, atB);
    // A peer that accepts and hangs up at once is alive: never reported.
    const dropper = await rawServer((s) => s.destroy());
    a.send(dropper, heartbeat('a', 1));
    // The peer's process goes away: its connection ends, the next dial is refused.
    const gone = b.address;
    await b.close();
    let seq = 0;
    await until(() => {
      a.send(gone, heartbeat('a', ++seq));
      return refused.length > 0;
    }, 'a refusal');
    assert.equal(refused[0], gone);
    assert.ok(!refused.includes(dropper), 'a peer that accepted was reported as refusing');
  });

  it('dials again with exponential backoff, never in a tight loop, never throwing', { timeout: TEST_TIMEOUT_MS }, async () => {
    let accepted = 0;
    const dropper = await rawServer((s) => {
      accepted++;
      s.destroy(); // accept, then hang up before any handshake
    });
    const [a, log] = await startLogged({ reconnectMinMs: 50, reconnectMaxMs: 200 });
    const started = performance.now();
    while (performance.now() - started < 700) {
      assert.doesNotThrow(() => a.send(dropper, heartbeat('a', 1)));
      await sleep(2);
    }
    // Back-to-back dials would be hundreds; backoff 25–50, 50–100, 100–200, then at
    // most one per 100–200 ms allows about 8 in 700 ms.
    assert.ok(accepted >= 2, `redialed ${accepted} times`);
    assert.ok(accepted <= 12, `dialed ${accepted} times in 700 ms: a tight loop`);
    assert.ok(log.some((l) => l.includes('next attempt in')));
    assert.ok(a.stats().framesDropped > 0);
  });

  it('drops and counts frames over peerQueueBytesMax, and bounds bufferedBytes', { timeout: TEST_TIMEOUT_MS }, async () => {
    // A peer that accepts TCP but never answers the hello: frames wait in our queue.
    const sink = await rawServer(() => {});
    const limit = 64 * 1024;
    const [a, log] = await startLogged({ peerQueueBytesMax: limit, handshakeTimeoutMs: 300 });
    const sent = 1000;
    for (let seq = 1; seq <= sent; seq++) a.send(sink, data('a', seq, new Uint8Array(1024)));
    const buffered = a.bufferedBytes(sink);
    const dropped = a.stats().framesDropped;
    assert.ok(buffered > 0 && buffered <= limit, `bufferedBytes ${buffered}`);
    assert.ok(dropped > 0 && dropped < sent, `dropped ${dropped}`);
    assert.equal(log.filter((l) => l.includes('dropping frames to')).length, 1, 'one log line per episode');
    // The handshake times out: the dial failed, and what waited for it is dropped.
    await until(() => a.stats().framesDropped === sent, 'the queued frames dropped after the failed dial');
    assert.equal(a.bufferedBytes(sink), 0);
  });

  it('drops, without throwing, frames over frameBytesMax and sends to invalid addresses', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, log] = await startLogged({ frameBytesMax: 1024 });
    const b = await start();
    const atB = record(b);
    assert.doesNotThrow(() => a.send(b.address, data('a', 1, new Uint8Array(2048))));
    assert.doesNotThrow(() => a.send('not an address', heartbeat('a', 1)));
    assert.doesNotThrow(() => a.send('127.0.0.1:0', heartbeat('a', 1)));
    assert.equal(a.stats().framesDropped, 3);
    assert.ok(log.some((l) => l.includes('frameBytesMax is 1024')));
    a.send(b.address, heartbeat('a', 2));
    await until(() => atB.length === 1, 'a small message after the dropped one');
    assert.deepEqual(atB[0]!.msg, heartbeat('a', 2));
  });

  it('picks a free port for port 0, and advertises the advertise option', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    assert.match(a.address, /^127\.0\.0\.1:[1-9][0-9]*$/);
    const fixed = await start({ advertise: 'cohort-node.example:7000' });
    assert.equal(fixed.address, 'cohort-node.example:7000');
    // Port 0 in advertise stands for the bound port; peers dial the advertised name.
    const b = await start({ advertise: 'localhost:0' });
    assert.match(b.address, /^localhost:[1-9][0-9]*$/);
    const atA = record(a);
    const atB = record(b);
    a.send(b.address, heartbeat('a', 1));
    await until(() => atB.length === 1, 'a message to the advertised name');
    assert.equal(atB[0]!.from, a.address);
    // b's messages carry its advertised address as from, on a's own connection.
    b.send(a.address, heartbeat('b', 1));
    await until(() => atA.length === 1, 'the answer');
    assert.equal(atA[0]!.from, b.address);
    assert.equal(a.stats().connections, 1);
  });

  it('round-trips over IPv6 loopback [::1]', { timeout: TEST_TIMEOUT_MS, skip: noIpv6 ?? false }, async () => {
    const a = await start({ listen: '[::1]:0' });
    const b = await start({ listen: '[::1]:0' });
    assert.match(a.address, /^\[::1\]:[1-9][0-9]*$/);
    const atA = record(a);
    b.onMessage((from, msg) => b.send(from, msg));
    const msg = data('a', 7, payloadFor(7));
    a.send(b.address, msg);
    await until(() => atA.length === 1, 'the echo over [::1]');
    assert.equal(atA[0]!.from, b.address);
    assert.deepEqual(atA[0]!.msg, msg);
  });

  it('is inert after close: send is a no-op, the handler is not called, close is idempotent', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await start();
    const b = await start();
    const atA = record(a);
    await a.close();
    await a.close();
    assert.doesNotThrow(() => a.send(b.address, heartbeat('a', 1)));
    a.send(a.address, heartbeat('a', 2));
    b.send(a.address, heartbeat('b', 1));
    await settle([a, b]);
    assert.equal(atA.length, 0);
    assert.equal(a.stats().framesSent, 0);
    assert.equal(b.stats().connections, 0);
  });

  it('rejects bad options with OptionError', async () => {
    const rejects = async (options: unknown, pattern: RegExp, code: string = ErrorCode.badOption): Promise<void> => {
      await assert.rejects(TcpTransport.listen(options as TcpTransportOptions), (e: unknown) => {
        assert.ok(e instanceof OptionError, `not an OptionError: ${String(e)}`);
        assert.equal(e.code, code);
        assert.match(e.message, pattern);
        return true;
      });
    };
    await rejects({ listen: '127.0.0.1:0', frameSize: 1 }, /unknown option frameSize/, ErrorCode.unknownOption);
    await rejects({}, /option listen is required/);
    await rejects(null, /options must be an object/);
    await rejects({ listen: '127.0.0.1' }, /option listen "127.0.0.1".*":port" is missing/);
    await rejects({ listen: '::1:0' }, /must be in brackets/);
    await rejects({ listen: '0.0.0.0:0' }, /wildcard.*advertise/);
    await rejects({ listen: '[::]:0' }, /wildcard.*advertise/);
    await rejects({ listen: '127.0.0.1:0', advertise: 'x:99999' }, /option advertise "x:99999".*port/);
    await rejects({ listen: '127.0.0.1:0', network: '' }, /option network/);
    await rejects({ listen: '127.0.0.1:0', network: 'n'.repeat(256) }, /option network/);
    await rejects({ listen: '127.0.0.1:0', frameBytesMax: 2 ** 32 }, /option frameBytesMax/);
    await rejects({ listen: '127.0.0.1:0', peerQueueBytesMax: 0 }, /option peerQueueBytesMax/);
    await rejects({ listen: '127.0.0.1:0', connectTimeoutMs: 1.5 }, /option connectTimeoutMs/);
    await rejects({ listen: '127.0.0.1:0', reconnectMinMs: 500, reconnectMaxMs: 100 }, /reconnectMaxMs \(100\) must be at least/);
    await rejects({ listen: '127.0.0.1:0', onLog: 'yes' }, /option onLog must be a function/);
    await rejects({ listen: '127.0.0.1:0', secret: 'too short' }, /option secret is 9 bytes; at least 16/);
    await rejects({ listen: '127.0.0.1:0', secret: 42 }, /option secret must be a Uint8Array or a string/);
    await rejects({ listen: '127.0.0.1:0', insecure: 'yes' }, /option insecure must be a boolean/);
    // Beyond loopback, a secret or an explicit insecure: true.
    await rejects({ listen: '0.0.0.0:0', advertise: '127.0.0.1:0' }, /refusing to listen on "0.0.0.0:0" without a secret/, ErrorCode.insecure);
    // A wildcard with advertise is fine, given a secret or insecure.
    const t = await start({ listen: '0.0.0.0:0', advertise: '127.0.0.1:0', insecure: true });
    assert.match(t.address, /^127\.0\.0\.1:[1-9]/);
    const u = await start({ listen: '0.0.0.0:0', advertise: '127.0.0.1:0', secret: 'sixteen bytes ok' });
    assert.match(u.address, /^127\.0\.0\.1:[1-9]/);
  });

  it('parses and formats host:port addresses', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
    assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseHostPort('[fe80::1%eth0]:65535'), { host: 'fe80::1%eth0', port: 65535 });
    assert.deepEqual(parseHostPort('node-1.cluster_a.example:80'), { host: 'node-1.cluster_a.example', port: 80 });
    assert.deepEqual(parseHostPort('localhost:1'), { host: 'localhost', port: 1 });
    for (const bad of [
      '',
      'localhost',
      ':7000',
      '127.0.0.1:',
      '127.0.0.1:65536',
      '127.0.0.1:07000',
      '127.0.0.1:+7',
      '127.0.0.1:7e3',
      '::1:7000',
      '[::1]7000',
      '[::1:7000',
      '[127.0.0.1]:7000',
      '256.1.1.1:7000',
      '1.2.3:7000',
      '-bad.example:7000',
      'a b:7000',
      `${'a'.repeat(64)}.example:7000`,
    ]) {
      assert.throws(() => parseHostPort(bad), OptionError, `accepted ${JSON.stringify(bad)}`);
    }
    assert.equal(formatHostPort('::1', 7000), '[::1]:7000');
    assert.equal(formatHostPort('127.0.0.1', 0), '127.0.0.1:0');
    assert.equal(formatHostPort('example.org', 80), 'example.org:80');
    for (const s of ['[::1]:7000', '10.0.0.1:1', 'h:2']) {
      const { host, port } = parseHostPort(s);
      assert.equal(formatHostPort(host, port), s);
    }
  });
});
