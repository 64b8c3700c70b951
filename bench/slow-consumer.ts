/**
 * `npm run bench:slow-consumer`: what one slow application does to a group, and what it
 * costs the slow member's memory. Four member processes on loopback; three flood one
 * group with 1 KiB multicasts (1000 outstanding each); after a warm-up the fourth's
 * `onEvent` stops taking events (`--rate 0`, the default: it never resolves again) or
 * takes them at `--rate` per second. Every second it prints the senders' delivery rate
 * and the slow member's RSS; at the end one JSON line with the figures:
 *
 *   {"rate":0,"msgs_per_s_before":…,"msgs_per_s_slow":…,"msgs_per_s_after":…,
 *    "removed_after_ms":…,"slow_rss_before_mib":…,"slow_rss_peak_mib":…}
 *
 * msgs_per_s_*: messages a sender delivers per second before the stall, while the slow
 * member is in the view, and after it was removed; removed_after_ms: from the stall to
 * the view that removes it as a `slow-consumer` (null: it was not removed);
 * slow_rss_*: the slow member's resident memory before the stall and at its peak after.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Endpoint } from '../src/index.js';
import type { GroupEvent } from '../src/index.js';
import { freePorts } from '../src/tools/ports.js';

interface Report {
  readonly type: 'tick' | 'removed' | 'ready';
  readonly index: number;
  readonly delivered?: number;
  readonly rss?: number;
}

const SIZE = 1024;
const WINDOW = 1000;

async function child(index: number, ports: number[], slowFrom: number, rate: number, suspectMs: number): Promise<void> {
  const self = `m${index}`;
  const slow = index === ports.length - 1;
  let delivered = 0;
  let nextAt = 0;
  const onEvent = (e: GroupEvent): Promise<void> | undefined => {
    if (e.type === 'view' && e.view.failures.some((f) => f.cause === 'slow-consumer')) process.send!({ type: 'removed', index });
    if (e.type !== 'message') return undefined;
    delivered++;
    if (!slow || Date.now() < slowFrom) return undefined;
    if (rate === 0) return new Promise<void>(() => undefined);
    // Take events at `rate` per second: wait for this one's turn.
    nextAt = Math.max(nextAt, Date.now()) + 1000 / rate;
    const wait = nextAt - Date.now();
    return wait < 1 ? undefined : new Promise<void>((r) => setTimeout(r, wait));
  };
  const ep = await Endpoint.start({
    id: self,
    listen: `127.0.0.1:${ports[index]!}`,
    seeds: ports.filter((_, i) => i !== index).map((p) => `127.0.0.1:${p}`),
    suspectTimeoutMs: suspectMs,
    rejoin: false,
  });
  const g = await ep.join('bench', { onEvent });
  await new Promise<void>((r) => {
    const check = (): void => void (g.view!.members.length === ports.length ? r() : setTimeout(check, 20));
    check();
  });
  process.send!({ type: 'ready', index });
  setInterval(() => process.send!({ type: 'tick', index, delivered, rss: process.memoryUsage.rss() }), 1000);
  if (slow) return;
  const buf = new Uint8Array(SIZE);
  let outstanding = 0;
  const fill = (): void => {
    while (outstanding < WINDOW) {
      outstanding++;
      g.multicast(buf).then(
        () => {
          outstanding--;
          if (outstanding === WINDOW - 100) setImmediate(fill);
        },
        () => undefined,
      );
    }
  };
  fill();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '0' },
      warmup: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '15' },
      'suspect-ms': { type: 'string', default: '1000' },
      child: { type: 'string' },
      ports: { type: 'string' },
      'slow-from': { type: 'string' },
    },
  });
  const rate = Number(values.rate);
  const suspectMs = Number(values['suspect-ms']);
  if (values.child !== undefined) {
    await child(Number(values.child), values.ports!.split(',').map(Number), Number(values['slow-from']), rate, suspectMs);
    return;
  }
  const warmup = Number(values.warmup) * 1000;
  const seconds = Number(values.seconds);
  const ports = await freePorts(4);
  const self = fileURLToPath(import.meta.url);
  const kids: ChildProcess[] = [];
  const reports: Report[] = [];
  let ready = 0;
  let removedAt: number | null = null;
  let onReady!: () => void;
  const allReady = new Promise<void>((r) => (onReady = r));
  // Members learn when to slow down from the start time, fixed before they start.
  const stallAt = Date.now() + 8_000 + warmup;
  for (let i = 0; i < 4; i++) {
    const kid = fork(self, ['--child', String(i), '--ports', ports.join(','), '--slow-from', String(stallAt), '--rate', String(rate), '--suspect-ms', String(suspectMs)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    kid.on('message', (m: Report) => {
      if (m.type === 'ready' && ++ready === 4) onReady();
      if (m.type === 'removed' && removedAt === null) removedAt = Date.now();
      if (m.type === 'tick') reports.push({ ...m, at: Date.now() } as Report);
    });
    kids.push(kid);
  }
  try {
    await Promise.race([allReady, new Promise((_, rej) => setTimeout(() => rej(new Error('members not ready in 8 s')), 8_000))]);
    if (Date.now() > stallAt - warmup / 2) throw new Error('the members took too long to start');
    await new Promise((r) => setTimeout(r, stallAt - Date.now() + seconds * 1000));
  } finally {
    for (const k of kids) k.kill('SIGKILL');
  }
  const at = (r: Report): number => (r as unknown as { at: number }).at;
  const sender = reports.filter((r) => r.index === 0);
  const slowTicks = reports.filter((r) => r.index === 3);
  const rateIn = (from: number, to: number): number | null => {
    const xs = sender.filter((r) => at(r) >= from && at(r) <= to);
    if (xs.length < 2) return null;
    return Math.round(((xs.at(-1)!.delivered! - xs[0]!.delivered!) * 1000) / (at(xs.at(-1)!) - at(xs[0]!)));
  };
  const end = stallAt + seconds * 1000;
  const before = slowTicks.filter((r) => at(r) < stallAt).at(-1)?.rss ?? null;
  const peak = Math.max(...slowTicks.filter((r) => at(r) >= stallAt).map((r) => r.rss!));
  for (const r of sender) {
    const s = slowTicks.find((x) => Math.abs(at(x) - at(r)) < 600);
    process.stderr.write(`slow-consumer: t=${((at(r) - stallAt) / 1000).toFixed(1)} s sender delivered ${r.delivered} slow member RSS ${s === undefined ? '?' : (s.rss! / 2 ** 20).toFixed(0)} MiB\n`);
  }
  const mib = (b: number | null): number | null => (b === null ? null : Math.round(b / 2 ** 20));
  console.log(
    JSON.stringify({
      rate,
      msgs_per_s_before: rateIn(stallAt - warmup, stallAt),
      msgs_per_s_slow: rateIn(stallAt + 1000, removedAt ?? end),
      msgs_per_s_after: removedAt === null ? null : rateIn(removedAt + 500, end),
      removed_after_ms: removedAt === null ? null : removedAt - stallAt,
      slow_rss_before_mib: mib(before),
      slow_rss_peak_mib: mib(peak),
    }),
  );
}

await main();
