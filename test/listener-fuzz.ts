/**
 * A fuzzer for a Cohort TCP listener: random bytes, mutated valid frames, truncated
 * frames, huge length prefixes and bursts of connections, all from a seeded generator
 * (the same seed replays the same inputs). Used by `listener-fuzz.test.ts` for a fixed
 * number of inputs and by `npm run fuzz` for long runs.
 *
 * Every byte goes to loopback only: a mutated frame that still decodes is sent only if
 * every address it names is on 127.0.0.1 (a member answers a probe at the address it
 * carries, and a fuzzer must not make it dial the world).
 */
import * as net from 'node:net';
import type { Message } from '../src/core/types.js';
import { SeededRng } from '../src/sim/rng.js';
import { decodeMessage, encodeMessage } from '../src/wire/codec.js';

export interface FuzzStats {
  inputs: number;
  connections: number;
  bytes: number;
  byKind: Record<string, number>;
}

const FAKE_ADDR = '127.0.0.1:1'; // nothing listens there: answers to it fail fast, on loopback

function prefixed(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  Buffer.from(body.buffer, body.byteOffset, body.length).copy(out, 4);
  return out;
}

/** A plain (no secret) hello of handshake version 2 from `addr`, length prefix included. */
export function hello(network: string, addr: string): Buffer {
  const parts: Buffer[] = [Buffer.from('COHORT'), Buffer.from([2, 1])];
  for (const f of [network, addr, '']) {
    const b = Buffer.from(f, 'utf8');
    parts.push(Buffer.from([b.length >> 8, b.length & 0xff]), b);
  }
  parts.push(Buffer.from([0, 0, 0, 0, 0]));
  return prefixed(Buffer.concat(parts));
}

/** Valid messages of several kinds, as seeds for mutation. */
function seeds(rng: SeededRng): Message[] {
  const who = { id: `fuzz${rng.below(4)}`, inc: rng.below(1000) };
  const epoch = rng.below(4);
  const payload = new Uint8Array(rng.below(64)).map(() => rng.below(256));
  return [
    { t: 'heartbeat', from: who, epoch, ordered: rng.below(100), stable: rng.below(50), committed: rng.below(50), held: rng.below(100), hears: rng.below(2) === 0, behind: rng.below(4) === 0 },
    { t: 'data', from: who, epoch, sender: who, seq: 1 + rng.below(10), kind: 0, group: 'atc/sector-xyz', safe: rng.chance(0.5), relay: rng.chance(0.5), payload },
    { t: 'ack', from: who, epoch, held: rng.below(100) },
    { t: 'nak', from: who, epoch, first: 1 + rng.below(10), last: 10 + rng.below(10) },
    { t: 'order', from: who, epoch, first: 1 + rng.below(10), entries: [{ rank: rng.below(3), seq: 1 + rng.below(5) }], stable: 0, committed: 0 },
    { t: 'probe', from: who, addr: FAKE_ADDR, config: [FAKE_ADDR] },
    { t: 'join-req', from: who, addr: FAKE_ADDR },
  ] as Message[];
}

/** True when every address-like string in `m` is on 127.0.0.1 (or there is none). */
function loopbackOnly(m: Message): boolean {
  const strings: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) Object.values(v).forEach(walk);
  };
  walk(m);
  return strings.every((s) => !/:\d+$/.test(s) || s.startsWith('127.0.0.1:'));
}

function mutate(rng: SeededRng, frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  switch (rng.below(4)) {
    case 0: // flip a few bytes of the body
      for (let i = rng.between(1, 4); i > 0 && out.length > 4; i--) out[4 + rng.below(out.length - 4)] = rng.below(256);
      return out;
    case 1: // truncate the body, keep the claimed length
      return out.subarray(0, 4 + rng.below(Math.max(1, out.length - 4)));
    case 2: // append garbage inside the frame (length fixed up)
      return prefixed(Buffer.concat([out.subarray(4), Buffer.from(new Uint8Array(rng.between(1, 32)).map(() => rng.below(256)))]));
    default: // a wrong length prefix
      out.writeUInt32BE(rng.below(out.length * 2 + 8), 0);
      return out;
  }
}

/**
 * Messages an endpoint without a secret must accept from anyone who can connect: asking
 * to join or leave is what an open network is for. Without a secret such a peer is a
 * member, not an intruder, so they are left out when fuzzing an open network (with a
 * secret nothing gets that far).
 */
const MEMBERSHIP_REQUESTS: ReadonlySet<string> = new Set(['join-req', 'leave-req']);

/** One input: its bytes (possibly several frames) and what kind it is. */
function input(rng: SeededRng, network: string, membership: boolean): { kind: string; bytes: Buffer[] } {
  const h = hello(network, FAKE_ADDR);
  const r = rng.below(100);
  if (r < 10) return { kind: 'random-bytes', bytes: [Buffer.from(new Uint8Array(rng.between(1, 512)).map(() => rng.below(256)))] };
  if (r < 15) {
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xffff_fff0 - rng.below(1000), 0);
    return { kind: 'huge-length', bytes: [rng.chance(0.5) ? Buffer.concat([h, huge]) : huge] };
  }
  if (r < 22) return { kind: 'mutated-hello', bytes: [mutate(rng, h)] };
  if (r < 27) return { kind: 'truncated-hello', bytes: [h.subarray(0, rng.below(h.length))] };
  // A good hello, then valid and mutated frames.
  const frames: Buffer[] = [h];
  const pool = seeds(rng).filter((m) => membership || !MEMBERSHIP_REQUESTS.has(m.t));
  for (let i = rng.between(1, 6); i > 0; i--) {
    const m = pool[rng.below(pool.length)]!;
    const frame = prefixed(encodeMessage(m));
    const bad = rng.chance(0.8) ? mutate(rng, frame) : frame;
    let ok = true;
    try {
      const decoded = decodeMessage(bad.subarray(4, 4 + Math.min(bad.length - 4, bad.readUInt32BE(0))));
      ok = loopbackOnly(decoded) && (membership || !MEMBERSHIP_REQUESTS.has(decoded.t));
    } catch {
      ok = true; // undecodable: the member must drop it; nothing to dial
    }
    if (ok) frames.push(bad);
  }
  return { kind: 'frames-after-hello', bytes: frames };
}

function send(target: string, bytes: Buffer[], holdMs: number): Promise<number> {
  const i = target.lastIndexOf(':');
  return new Promise((resolve) => {
    let sent = 0;
    const s = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) });
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(sent);
    };
    const timer = setTimeout(done, holdMs + 2000);
    s.on('error', done);
    s.on('close', done);
    s.resume(); // read and drop whatever the member answers
    s.on('connect', () => {
      for (const b of bytes) {
        s.write(b);
        sent += b.length;
      }
      setTimeout(() => s.end(), holdMs);
    });
  });
}

/**
 * Sends `inputs` fuzz inputs to the `targets`, `burst` connections at a time, and
 * resolves with what was sent. Deterministic in `seed` (the bytes, not the timing).
 */
export async function fuzzListener(
  targets: readonly string[],
  opts: { inputs: number; seed: number; network?: string; burst?: number; membership?: boolean },
): Promise<FuzzStats> {
  const rng = new SeededRng(opts.seed);
  const stats: FuzzStats = { inputs: 0, connections: 0, bytes: 0, byKind: {} };
  const burst = opts.burst ?? 16;
  while (stats.inputs < opts.inputs) {
    const batch: Promise<number>[] = [];
    for (let k = 0; k < burst && stats.inputs < opts.inputs; k++) {
      const { kind, bytes } = input(rng, opts.network ?? 'cohort', opts.membership ?? true);
      stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
      stats.inputs++;
      stats.connections++;
      batch.push(send(targets[rng.below(targets.length)]!, bytes, rng.chance(0.05) ? 200 : 0));
    }
    for (const n of await Promise.all(batch)) stats.bytes += n;
  }
  return stats;
}
