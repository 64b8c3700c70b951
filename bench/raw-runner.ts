/**
 * A benchmark member over plain TCP: the raw Node fan-out limit of this harness.
 *
 * Every member listens on its port and dials every member of lower index, so each
 * pair shares one connection (full mesh). A sender writes each message, with a 4-byte
 * little-endian length prefix, to every other member; messages are coalesced into one
 * ~256 KiB write per event-loop turn, and the next batch waits for `'drain'` when a
 * socket pushes back. Receivers count. There is no ordering protocol at all — no
 * sequencer, no acknowledgements, no retransmission — so this is what the same
 * processes, payloads and accounting reach when all a multicast costs is the sockets.
 *
 * A sender counts its own messages as delivered when it writes them (multicast
 * accounting), as Cohort's senders deliver their own messages.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { writeSeq } from './accounting.js';
import type { MemberConfig } from './ipc.js';
import type { AnomalyReporter, LatencyRun, Runner, Sink } from './runner.js';

/** Target bytes of one coalesced write. */
const BATCH_BYTES = 256 * 1024;
const PREFIX = 4;

/** Open the mesh; the returned runner's `ready` resolves once every connection is up. */
export async function startRaw(cfg: MemberConfig, sink: Sink, anomaly: AnomalyReporter): Promise<Runner> {
  const n = cfg.ids.length;
  const me = cfg.index;
  const size = cfg.size;
  const peers = new Map<number, net.Socket>();
  let echo = false;
  // Latency sender: echoes still to come for the message in flight.
  let echoesLeft = 0;
  let echoed: ((at: number) => void) | null = null;

  let readyResolve!: (order: readonly string[]) => void;
  const ready = new Promise<readonly string[]>((resolve) => {
    readyResolve = resolve;
  });
  const checkReady = (): void => {
    if (peers.size === n - 1) readyResolve(cfg.ids);
  };

  const onFrame = (peer: number, socket: net.Socket, buf: Buffer, start: number, length: number, now: number): void => {
    if (echoed !== null) {
      // Only the latency sender has a waiter, and only echoes come back to it.
      echoesLeft -= 1;
      if (echoesLeft === 0) {
        const f = echoed;
        echoed = null;
        f(now);
      }
      return;
    }
    sink.message(peer, buf, start, length, now);
    if (echo) {
      // A copy: Node may reuse the buffers it hands to 'data' listeners.
      socket.write(Buffer.from(buf.subarray(start - PREFIX, start + length)));
    }
  };

  const attach = (peer: number, socket: net.Socket, first: Buffer | null): void => {
    socket.setNoDelay(true);
    peers.set(peer, socket);
    let pending: Buffer | null = null;
    const onData = (chunk: Buffer): void => {
      const now = performance.now();
      const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
      let off = 0;
      while (buf.length - off >= PREFIX) {
        const len = buf.readUInt32LE(off);
        if (buf.length - off - PREFIX < len) break;
        onFrame(peer, socket, buf, off + PREFIX, len, now);
        off += PREFIX + len;
      }
      pending = off === buf.length ? null : buf.subarray(off);
    };
    socket.on('data', onData);
    socket.on('close', () => {
      anomaly(`connection to ${cfg.ids[peer]!} closed during the run`);
    });
    if (first !== null && first.length > 0) onData(first);
    checkReady();
  };

  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    // The dialer's first 4 bytes are its index.
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      socket.off('data', onHead);
      attach(head.readUInt32LE(0), socket, head.subarray(4));
    };
    socket.on('data', onHead);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.ports[me]!, '127.0.0.1', () => resolve());
  });
  const dial = (j: number): void => {
    const s = net.connect(cfg.ports[j]!, '127.0.0.1');
    s.once('connect', () => {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(me, 0);
      s.write(h);
      attach(j, s, null);
    });
    // The peer may not listen yet: members start at the same instant.
    s.on('error', () => {
      if (!peers.has(j)) setTimeout(() => dial(j), 50);
    });
  };
  for (let j = 0; j < me; j++) dial(j);
  checkReady();

  return {
    ready,

    flood(_from, end, onStopped) {
      const stride = PREFIX + size;
      const per = Math.max(1, Math.floor(BATCH_BYTES / stride));
      const template = Buffer.alloc(per * stride);
      for (let k = 0; k < per; k++) template.writeUInt32LE(size, k * stride);
      const sockets = [...peers.values()];
      let seq = 0;
      let stopped = false;
      const stop = (): void => {
        if (stopped) return;
        stopped = true;
        clearTimeout(timer);
        // Writes complete asynchronously: there is no per-message completion to time.
        onStopped({ sent: seq, samples: [] });
      };
      const pump = (): void => {
        if (stopped) return;
        const now = performance.now();
        if (now >= end) {
          stop();
          return;
        }
        // A fresh buffer per batch: a socket may hold the previous one until it is sent.
        const batch = Buffer.allocUnsafe(template.length);
        template.copy(batch);
        for (let k = 0; k < per; k++) {
          const at = k * stride + PREFIX;
          writeSeq(batch, at, size, seq);
          seq += 1;
          sink.message(me, batch, at, size, now);
        }
        for (const s of sockets) s.write(batch);
        const blocked = sockets.filter((s) => s.writableNeedDrain);
        if (blocked.length === 0) {
          setImmediate(pump);
          return;
        }
        let waiting = blocked.length;
        for (const s of blocked) {
          s.once('drain', () => {
            waiting -= 1;
            if (waiting === 0) pump();
          });
        }
      };
      const timer = setTimeout(stop, Math.max(0, end - performance.now()));
      pump();
    },

    async latency(from, end): Promise<LatencyRun> {
      const samples: number[] = [];
      const sockets = [...peers.values()];
      let seq = 0;
      while (performance.now() < end) {
        const frame = Buffer.alloc(PREFIX + size);
        frame.writeUInt32LE(size, 0);
        writeSeq(frame, PREFIX, size, seq);
        seq += 1;
        const t0 = performance.now();
        sink.message(me, frame, PREFIX, size, t0);
        let t1 = t0;
        if (sockets.length > 0) {
          const back = new Promise<number>((resolve) => {
            echoed = resolve;
          });
          echoesLeft = sockets.length;
          for (const s of sockets) s.write(frame);
          t1 = await back;
        }
        if (t0 >= from) samples.push(t1 - t0);
      }
      return { sent: seq, samples };
    },

    setEcho(on) {
      echo = on;
    },

    stats() {
      return null;
    },
  };
}
