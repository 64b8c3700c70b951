/**
 * Only members get in: the network secret on real TCP connections over loopback.
 * Goal: with a shared secret, endpoints authenticate each other and every frame is
 * encrypted and authenticated, so that an endpoint with another secret, or none, is
 * refused before it can join, read or send (and the refusal is logged with its
 * address); recorded traffic cannot be read, replayed or altered; a connection that
 * stalls inside the handshake is dropped at the deadline. Method: transports and
 * endpoints in this process, and a recording/tampering relay of our own between two
 * of them. Every wait is for an event, bounded in time.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { afterEach, test } from 'node:test';
import type { Message } from '../src/core/types.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { MemberProc, cohortBin, freePorts, killAll, tempDir, until } from './procs.js';
import { TcpTransport } from '../src/transport/tcp.js';
import type { TcpTransportOptions } from '../src/transport/tcp.js';

const SECRET = 'correct horse battery staple 42';
const OTHER = 'another secret of enough bytes';
const quick = { handshakeTimeoutMs: 1000, connectTimeoutMs: 1000, reconnectMinMs: 20, reconnectMaxMs: 200 };

const transports: TcpTransport[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
const procs: MemberProc[] = [];
after(() => killAll(procs));
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function start(options: Partial<TcpTransportOptions>): Promise<{ t: TcpTransport; log: string[]; got: { from: string; msg: Message }[] }> {
  const log: string[] = [];
  const got: { from: string; msg: Message }[] = [];
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', ...quick, ...options, onLog: (l) => log.push(l) });
  t.onMessage((from, msg) => got.push({ from, msg }));
  transports.push(t);
  return { t, log, got };
}

function ping(t: TcpTransport, text: string): Message {
  return { t: 'probe', from: { id: text, inc: 1 }, addr: t.address, config: [] };
}

/**
 * A relay in front of `target`: records what the client sends, and when asked,
 * flips one byte of the next chunk in that direction.
 */
async function relay(target: string): Promise<{ address: string; upstream: Buffer[]; tamperNext: () => void }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const upstream: Buffer[] = [];
  let tamper = false;
  const server = net.createServer((client) => {
    sockets.push(client);
    const up = net.connect({ host, port });
    sockets.push(up);
    client.on('data', (chunk: Buffer) => {
      upstream.push(Buffer.from(chunk));
      if (tamper) {
        tamper = false;
        chunk = Buffer.from(chunk);
        chunk[chunk.length - 1]! ^= 0x01;
      }
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, upstream, tamperNext: () => (tamper = true) };
}

test('with the same secret, messages flow both ways and nothing of them is readable on the wire', { timeout: 30_000 }, async () => {
  const b = await start({ secret: SECRET });
  const r = await relay(b.t.address);
  const a = await start({ secret: SECRET });
  a.t.send(r.address, ping(a.t, 'marker-from-a-0123456789'));
  await until(() => b.got.length === 1, 5000, 'b receives');
  assert.equal((b.got[0]!.msg as { from: { id: string } }).from.id, 'marker-from-a-0123456789');
  b.t.send(b.got[0]!.from, ping(b.t, 'marker-from-b'));
  await until(() => a.got.length === 1, 5000, 'a receives the answer');
  const wire = Buffer.concat(r.upstream);
  assert.ok(wire.length > 0);
  assert.equal(wire.indexOf('marker-from-a'), -1, 'the payload crossed the wire in clear');
  assert.ok(b.t.stats().refused === 0 && a.t.stats().refused === 0);
});

test('an endpoint with another secret, or none, is refused both ways and logged with its address; nothing reaches the handler', { timeout: 30_000 }, async () => {
  const b = await start({ secret: SECRET });
  for (const [what, opts, pattern] of [
    ['another secret', { secret: OTHER, advertise: '127.0.0.0:1' }, /authentication failed: the network secrets differ/],
    ['no secret', { advertise: '127.0.0.0:2' }, /authentication required/],
  ] as const) {
    const a = await start(opts);
    for (let i = 0; i < 3; i++) a.t.send(b.t.address, ping(a.t, `intruder-${i}`));
    await until(() => b.log.some((l) => pattern.test(l)), 5000, `b logs the refusal of ${what}`);
    const line = b.log.find((l) => pattern.test(l))!;
    assert.match(line, /refusing a connection from 127\.0\.0\.1:\d+/, 'the refusal names the peer address');
    await until(() => a.log.some((l) => l.includes('refused by') || l.includes('refusing')), 5000, `${what}: the dialer learns why`);
    assert.equal(b.got.length, 0, `${what}: a message got through`);
  }
  // And the other way: an endpoint with a secret refuses to talk to one without.
  const open = await start({});
  b.t.send(open.t.address, ping(b.t, 'to-the-open-one'));
  await until(() => open.log.some((l) => /has no network secret, and the dialer requires one/.test(l)), 5000, 'the secretless acceptor refuses');
  assert.equal(open.got.length, 0);
});

test('recorded traffic replayed on a new connection is refused; a byte flipped in flight closes the connection and delivers nothing', { timeout: 30_000 }, async () => {
  const b = await start({ secret: SECRET });
  const r = await relay(b.t.address);
  // a's advertised address sorts below b's, so b never dials back: all goes through the relay.
  const a = await start({ secret: SECRET, advertise: '127.0.0.0:1' });
  a.t.send(r.address, ping(a.t, 'first'));
  await until(() => b.got.length === 1, 5000, 'the first message');
  // Replay everything the client sent, byte for byte, on a fresh connection.
  const recorded = Buffer.concat(r.upstream);
  const replay = net.connect({ host: '127.0.0.1', port: Number(b.t.address.split(':')[1]) });
  sockets.push(replay);
  replay.on('error', () => undefined);
  await new Promise<void>((resolve) => replay.once('connect', () => resolve()));
  replay.write(recorded);
  await until(() => b.log.some((l) => /authentication failed/.test(l)), 5000, 'the replay is refused');
  assert.equal(b.got.length, 1, 'the replayed message was delivered again');
  // Tamper with the next record on the real connection.
  r.tamperNext();
  a.t.send(r.address, ping(a.t, 'tampered'));
  await until(() => b.log.some((l) => /failed authentication/.test(l)), 5000, 'the tampered record is rejected');
  assert.ok(!b.got.some((g) => (g.msg as { from: { id: string } }).from.id === 'tampered'), 'a tampered message was delivered');
});

test('a dialer that sends its hello and never proves the secret is dropped at the handshake deadline', { timeout: 30_000 }, async () => {
  const b = await start({ secret: SECRET, handshakeTimeoutMs: 300 });
  const s = net.connect({ host: '127.0.0.1', port: Number(b.t.address.split(':')[1]) });
  sockets.push(s);
  s.on('error', () => undefined);
  s.resume(); // read (and drop) the hello-ack, or 'close' would wait for it to be consumed
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  // A valid hello with authentication and a nonce (layout in tcp.ts), then silence.
  const parts = [Buffer.from('COHORT'), Buffer.from([2, 1])];
  for (const f of ['cohort', '127.0.0.1:9', '']) {
    const bytes = Buffer.from(f);
    parts.push(Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes);
  }
  parts.push(Buffer.from([1, 0, 32]), Buffer.alloc(32, 7), Buffer.from([0, 0]));
  const body = Buffer.concat(parts);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(body.length);
  s.write(Buffer.concat([prefix, body]));
  const started = performance.now();
  await closed;
  assert.ok(performance.now() - started >= 200, 'dropped before the deadline');
  await until(() => b.log.some((l) => l.includes('handshake not completed within 300 ms')), 2000, 'the deadline logged');
});

test('members: one with a wrong secret is refused (logged with its address) and never appears in a view; the others carry on', { timeout: 60_000 }, async () => {
  const dir = tempDir('cohort-secret-');
  const good = join(dir, 'good.secret');
  const bad = join(dir, 'bad.secret');
  writeFileSync(good, `${SECRET}\n`, { mode: 0o600 });
  writeFileSync(bad, `${OTHER}\n`, { mode: 0o600 });
  const ports = await freePorts(3);
  const m1 = new MemberProc('m1', ports[0]!, [ports[1]!], dir, ['--secret-file', good]);
  const m2 = new MemberProc('m2', ports[1]!, [ports[0]!], dir, ['--secret-file', good]);
  procs.push(m1, m2);
  await Promise.all([m1, m2].map((m) => m.waitFor((l) => l.event === 'view' && (l.members as string[]).length === 2, 20_000, 'a view of two')));
  const mallory = new MemberProc('mallory', ports[2]!, [ports[0]!, ports[1]!], dir, ['--secret-file', bad]);
  procs.push(mallory);
  const refused = (m: MemberProc): boolean => /refusing a connection from 127\.0\.0\.1:\d+.*authentication failed/.test(m.stderr.join(''));
  await until(() => refused(m1) || refused(m2), 20_000, 'a member logs the refusal');
  await until(() => /authentication failed/.test(mallory.stderr.join('')), 20_000, 'mallory learns why');
  // The group goes on without it.
  m1.send('after-the-intruder');
  await m2.waitFor((l) => l.event === 'message' && l.data === 'after-the-intruder', 10_000, 'the message');
  for (const m of [m1, m2]) {
    assert.ok(!m.lines.some((l) => l.event === 'view' && (l.members as string[]).includes('mallory')), `${m.id} saw mallory in a view`);
  }
  assert.ok(!mallory.lines.some((l) => l.event === 'view' || l.event === 'message'), 'mallory got in');
  killAll([mallory]);
  await Promise.all([m1, m2].map((m) => m.end()));
});

test('cohort member: a secret too short, or no secret beyond loopback, is a one-line error and exit 2', { timeout: 30_000 }, () => {
  const dir = tempDir('cohort-secret-');
  const short = join(dir, 'short.secret');
  writeFileSync(short, 'abc\n', { mode: 0o600 });
  for (const [args, pattern] of [
    [['--secret-file', short], /at least 16/],
    [['--secret-file', join(dir, 'missing')], /--secret-file .*missing.*ENOENT/],
    [['--listen', '0.0.0.0:0', '--advertise', '127.0.0.1:1'], /refusing to listen on "0\.0\.0\.0:0" without a secret/],
    [['--insecure', '--secret-file', short], /exclude each other/],
  ] as const) {
    const r = spawnSync(process.execPath, [cohortBin, 'member', '--id', 'x', '--listen', '127.0.0.1:0', '--group', 'g', ...args], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});
