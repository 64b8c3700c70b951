/**
 * A benchmark member running Cohort: one `Endpoint` on loopback, joined to group
 * `bench` (or to `bench/0` … `bench/N-1` with several groups), counting every
 * delivered message into the sink.
 */
import { performance } from 'node:perf_hooks';
import { Endpoint } from '../src/index.js';
import type { Group, GroupEvent, MulticastOptions } from '../src/index.js';
import { writeSeq } from './accounting.js';
import type { MemberConfig } from './ipc.js';
import type { AnomalyReporter, LatencyRun, Runner, Sink } from './runner.js';

/** The groups every member joins: `bench`, or `bench/0` … when there are several. */
function groupNames(n: number): string[] {
  return n === 1 ? ['bench'] : Array.from({ length: n }, (_, i) => `bench/${i}`);
}

/** Start the endpoint and join; the returned runner's `ready` waits for the full view. */
export async function startCohort(cfg: MemberConfig, sink: Sink, anomaly: AnomalyReporter, log: (line: string) => void): Promise<Runner> {
  const self = cfg.ids[cfg.index]!;
  const n = cfg.ids.length;
  const indexOf = new Map(cfg.ids.map((id, i) => [id, i] as const));
  let readyResolve!: (order: readonly string[]) => void;
  const ready = new Promise<readonly string[]>((resolve) => {
    readyResolve = resolve;
  });
  let isReady = false;
  const names = groupNames(cfg.groups);
  /** Groups whose view holds every member, until all do. */
  const full = new Set<string>();
  // Latency mode: when this member's own message reached its handler.
  let ownAt = -1;

  const onEventOf = (name: string) => (e: GroupEvent): void => {
    switch (e.type) {
      case 'message': {
        const now = performance.now();
        // 0xffff: a sender outside the configured set would be a bug; it still changes the digest.
        sink.message(indexOf.get(e.sender) ?? 0xffff, e.data, 0, e.data.length, now);
        if (e.sender === self) ownAt = now;
        break;
      }
      case 'view':
        if (!isReady) {
          if (e.view.members.length === n) full.add(name);
          if (full.size === names.length) {
            isReady = true;
            // The network view's rank order, not the group's: its first member is the
            // coordinator, which sequences every multicast.
            readyResolve(ep.view.members.map((m) => m.id));
          }
        } else {
          // Any view change after the start means a member was suspected or left: the
          // numbers are not those of a stable group.
          anomaly(`view ${e.view.id} of ${name} during the run: members ${e.view.members.join(',')} failed ${e.view.failed.join(',')} left ${e.view.left.join(',')}`);
        }
        break;
      case 'blocked':
      case 'excluded':
        anomaly(`${e.type} during the run`);
        break;
      case 'state':
        break;
    }
  };

  // `onEvent` reads `ep`: safe, events come only after the `join` below.
  const ep = await Endpoint.start({
    id: self,
    listen: `127.0.0.1:${cfg.ports[cfg.index]!}`,
    seeds: cfg.ports.filter((_, i) => i !== cfg.index).map((p) => `127.0.0.1:${p}`),
    ...(cfg.suspectMs === null ? {} : { suspectTimeoutMs: cfg.suspectMs }),
    ...(cfg.secret === null ? {} : { secret: Buffer.from(cfg.secret, 'hex') }),
    ...(cfg.tls === null ? {} : { tls: cfg.tls }),
    ...(cfg.verbose ? { onLog: log } : {}),
    ...(cfg.persist === null ? {} : { persist: { dir: cfg.persist.dir, sync: cfg.persist.fsync } }),
  });
  const groups: Group[] = [];
  for (const name of names) groups.push(await ep.join(name, { onEvent: onEventOf(name) }));
  const opts: MulticastOptions = { ...(cfg.safe ? { safe: true } : {}), ...(cfg.persist === null ? {} : { durable: cfg.persist.durable }) };
  const size = cfg.size;
  const durableWait = cfg.persist !== null && cfg.persist.durable !== 'none';

  return {
    ready,

    flood(from, end, onStopped) {
      const buf = new Uint8Array(size);
      // At most ~100k samples whatever the rate: every `stride`-th message, the stride
      // doubling (and every other sample dropped) whenever the array fills.
      const loaded: number[] = [];
      let stride = 1;
      let tick = 0;
      let seq = 0;
      let outstanding = 0;
      let scheduled = false;
      let stopped = false;
      const stop = (): void => {
        if (stopped) return;
        stopped = true;
        clearTimeout(timer);
        onStopped({ sent: seq, samples: loaded });
      };
      let failures = 0;
      const failed = (err: unknown): void => {
        // Once is enough: after an exclusion every outstanding multicast fails alike.
        if (failures++ === 0) anomaly(`multicast failed: ${String(err)}`);
        stop();
      };
      // Refill at most once per event-loop turn: the submissions of one turn then leave
      // in one transport batch, and incoming traffic is read between refills.
      const settled = (t0: number): void => {
        const now = performance.now();
        if (t0 >= from && tick++ % stride === 0) {
          loaded.push(now - t0);
          if (loaded.length >= 100_000) {
            for (let i = 0; i < loaded.length / 2; i++) loaded[i] = loaded[2 * i]!;
            loaded.length = Math.floor(loaded.length / 2);
            stride *= 2;
          }
        }
        outstanding -= 1;
        if (!scheduled && !stopped) {
          scheduled = true;
          setImmediate(fill);
        }
      };
      const fill = (): void => {
        scheduled = false;
        if (stopped) return;
        if (performance.now() >= end) {
          stop();
          return;
        }
        try {
          while (outstanding < cfg.window) {
            writeSeq(buf, 0, size, seq);
            // `multicast` copies the payload, so one buffer serves every message.
            const t0 = performance.now();
            const p = groups[seq % groups.length]!.multicast(buf, opts);
            seq += 1;
            outstanding += 1;
            p.then(() => settled(t0), failed);
          }
        } catch (err) {
          failed(err);
        }
      };
      // Sending stops at `end` even if no multicast settles any more (a stalled group).
      const timer = setTimeout(stop, Math.max(0, end - performance.now()));
      fill();
    },

    async latency(from, end): Promise<LatencyRun> {
      const buf = new Uint8Array(size);
      const samples: number[] = [];
      let seq = 0;
      while (performance.now() < end) {
        writeSeq(buf, 0, size, seq);
        ownAt = -1;
        const t0 = performance.now();
        await groups[seq % groups.length]!.multicast(buf, opts);
        seq += 1;
        // The handler's timestamp is the delivery itself; the promise settles a few
        // microtasks later. A durable multicast is done when its promise settles (on
        // disk at the members asked), later than its delivery: that is its latency.
        const t1 = ownAt >= 0 && !durableWait ? ownAt : performance.now();
        if (t0 >= from) samples.push(t1 - t0);
      }
      return { sent: seq, samples };
    },

    setEcho() {
      // Cohort delivers to the sender itself: nothing to echo.
    },

    stats() {
      return { ...ep.stats() };
    },
  };
}
