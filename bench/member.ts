/**
 * One benchmark member process, forked by `bench.ts` with an IPC channel.
 *
 * Lifecycle (every step is a message on the IPC channel, see `ipc.ts`): `init` →
 * start Cohort (or the raw mesh) and report `ready` once every member is in view →
 * `start` → flood, measure latency, or just receive, counting deliveries inside the
 * window → `sent` (senders, at the window's end) → `expect` → `final` once the
 * expected total was delivered → `exit`.
 *
 * Standard output is not used for anything; the driver points it at its standard
 * error. If the driver goes away, the IPC channel closes and the member exits: no
 * member outlives its benchmark.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { percentile } from './accounting.js';
import { startCohort } from './cohort-runner.js';
import type { FromMember, MemberConfig, MemberResult, ToMember } from './ipc.js';
import { startRaw } from './raw-runner.js';
import type { LatencyRun, Runner } from './runner.js';
import { Sink } from './runner.js';

let cfg: MemberConfig | null = null;
let runner: Runner | null = null;
let sink: Sink | null = null;
let sent = 0;
/** The latency sender's samples, one message at a time. */
let latencyRun: LatencyRun | null = null;
/** A flooding sender's samples, under load. */
let floodRun: LatencyRun | null = null;
let finalSent = false;
/**
 * Event-loop delay from the start on: a loop blocked longer than the suspicion timeout
 * is what gets a busy member suspected, so the run's worst stall is worth reporting.
 */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let rssPeak = 0;
const sampleRss = (): void => {
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
};

function send(msg: FromMember): void {
  // The channel may already be closed when the driver is tearing down.
  if (process.connected) process.send!(msg);
}

function index(): number {
  return cfg?.index ?? -1;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function fatal(err: unknown): void {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  send({ type: 'error', index: index(), text });
  log(`bench member ${index()}: ${text}`);
  // Let the IPC message go out before leaving.
  setTimeout(() => process.exit(1), 200);
}

/** Epoch ms (driver's scale) → this process's `performance.now()` ms. */
function local(epochMs: number): number {
  return epochMs - performance.timeOrigin;
}

function summary(run: LatencyRun | null): MemberResult['latency'] {
  if (run === null || run.samples.length === 0) return null;
  // A typed array sorts numerically, natively: a flood's samples must not block the
  // event loop for long (the member is still in the group, and could be suspected).
  const sorted = Float64Array.from(run.samples).sort();
  return { samples: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1]! };
}

function result(reached: boolean): MemberResult {
  const s = sink!;
  return {
    index: index(),
    reached,
    delivered: s.tally.delivered,
    windowMsgs: s.tally.windowMsgs,
    windowBytes: s.tally.windowBytes,
    digest: s.digest(),
    sent,
    perSecond: [...s.tally.perSecond],
    rssPeakBytes: Math.max(rssPeak, process.memoryUsage.rss()),
    latency: summary(latencyRun),
    loaded: summary(floodRun),
    loopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    stats: runner?.stats() ?? null,
  };
}

async function onControl(msg: ToMember): Promise<void> {
  switch (msg.type) {
    case 'init': {
      cfg = msg.config;
      const c = cfg;
      sink = new Sink(c.ids.length, c.raw);
      const anomaly = (text: string): void => send({ type: 'anomaly', index: c.index, text });
      runner = c.raw ? await startRaw(c, sink, anomaly) : await startCohort(c, sink, anomaly, log);
      const order = await runner.ready;
      send({ type: 'ready', index: c.index, order });
      return;
    }
    case 'start': {
      const r = runner!;
      sink!.tally.setWindow(local(msg.windowStart), local(msg.windowEnd));
      r.setEcho(msg.echo);
      const end = local(msg.windowEnd);
      loopDelay.enable();
      sampleRss();
      setInterval(sampleRss, 100).unref();
      const go = (): void => {
        if (msg.role === 'flood') {
          r.flood(local(msg.windowStart), end, (run) => {
            floodRun = run;
            sent = run.sent;
            send({ type: 'sent', index: index(), sent: run.sent });
          });
        } else if (msg.role === 'latency') {
          r.latency(local(msg.windowStart), end).then((run) => {
            latencyRun = run;
            sent = run.sent;
            send({ type: 'sent', index: index(), sent: run.sent });
          }, fatal);
        }
      };
      setTimeout(go, Math.max(0, local(msg.sendAt) - performance.now()));
      return;
    }
    case 'expect':
      sink!.expect(msg.total, () => {
        if (finalSent) return;
        finalSent = true;
        send({ type: 'final', result: result(true) });
      });
      return;
    case 'query':
      if (!finalSent) {
        finalSent = true;
        send({ type: 'final', result: result(false) });
      }
      return;
    case 'exit':
      // The run is over and judged: no graceful leave is measured, so just go.
      process.exit(0);
  }
}

process.on('message', (msg: ToMember) => {
  onControl(msg).catch(fatal);
});
// The driver is gone (killed, crashed): never outlive it.
process.on('disconnect', () => process.exit(1));
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
