/**
 * Bounded memory end to end: a group's undelivered events are bounded
 * (`deliveryQueueMax`); a member whose queue is full stops acknowledging, so flow
 * control makes the senders wait; one that stays full for `lagTimeoutMs` is removed as
 * a `slow-consumer` (an agreed view change) and rejoins with a fresh state. On the
 * sending side, `multicast` refuses beyond `pendingMulticastsMax` and `ready()` waits
 * for room. In the simulator (virtual time, the real endpoint and core).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CohortError } from '../src/errors.js';
import { Simulation } from '../src/sim/simulation.js';
import type { Endpoint, Group, GroupEvent } from '../src/endpoint.js';

// Small windows in bytes, so that a flood of 64-byte messages meets every bound at once.
const bounds = {
  suspectTimeoutMs: 1000,
  lagTimeoutMs: 4000,
  deliveryQueueBytesMax: 2048,
  orderWindowBytesMax: 4096,
  bundleBytesMax: 1024,
  sendWindowMax: 8,
};
/**
 * What a member that takes nothing may hold undelivered: its queue's bound, plus what
 * it had acknowledged beyond what it delivered and what the sequencer may order beyond
 * that — an order window each (one entry, a bundle, may go past the window).
 */
const heldMax = bounds.deliveryQueueBytesMax + 2 * (bounds.orderWindowBytesMax + bounds.bundleBytesMax);

/** A 64-byte message that carries `n`. */
const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

/** Keep `window` multicasts of `g` outstanding until `stop()` says so; counts the resolved ones. */
function flood(g: Group, window: number): { sent: () => number; stop: () => void } {
  let sent = 0;
  let stopped = false;
  const next = (): void => {
    if (stopped) return;
    g.multicast(u32(sent)).then(
      () => {
        sent++;
        next();
      },
      () => undefined,
    );
  };
  for (let i = 0; i < window; i++) next();
  return { sent: () => sent, stop: () => void (stopped = true) };
}

for (const mode of ['handler', 'iterator'] as const) {
  test(`a consumer that stops taking events (${mode}) holds the senders back with a bounded queue, is removed as a slow consumer, and rejoins with a fresh state`, async () => {
    const sim = new Simulation({ seed: 41, endpoint: { ...bounds, rejoin: true } });
    const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
    let count = 0;
    const counter = (e: GroupEvent): void => {
      if (e.type === 'message') count++;
      if (e.type === 'state') count = new DataView(e.data.buffer, e.data.byteOffset).getUint32(0, true);
    };
    const ga = await sim.run(a!.join('g', { onEvent: counter, checkpoint: () => u32(count) }));
    const gb = await sim.run(b!.join('g', { onEvent: () => undefined }));
    // c takes events only while `open`; its state follows the same counting.
    let open = true;
    let cCount = 0;
    let wake: (() => void) | null = null;
    const cEvents: string[] = [];
    const take = (e: GroupEvent): void => {
      cEvents.push(e.type);
      if (e.type === 'message') cCount++;
      if (e.type === 'state') cCount = new DataView(e.data.buffer, e.data.byteOffset).getUint32(0, true);
    };
    const gate = (): Promise<void> | undefined => (open ? undefined : new Promise<void>((r) => (wake = r)));
    let gc: Group;
    if (mode === 'handler') {
      gc = await sim.run(c!.join('g', { onEvent: (e) => (take(e), gate()) }));
    } else {
      gc = await sim.run(c!.join('g'));
      void (async () => {
        for await (const e of gc) {
          take(e);
          await gate();
        }
      })();
    }
    await sim.runUntil(() => cEvents.includes('state'), 5000);

    open = false;
    const fa = flood(ga, 16);
    const fb = flood(gb, 16);
    // c's handler blocks at the first message; the senders go on only within the windows.
    await sim.runFor(2000);
    const stalledAt = fa.sent() + fb.sent();
    assert.ok(gc.backlog.bytes >= bounds.deliveryQueueBytesMax, `c's queue filled (${gc.backlog.bytes} bytes)`);
    await sim.runFor(1000);
    assert.equal(fa.sent() + fb.sent(), stalledAt, 'the senders wait for c while its queue is full');
    assert.ok(gc.backlog.bytes <= heldMax, `c's queue stays bounded (${gc.backlog.bytes} of at most ${heldMax} bytes)`);

    // After lagTimeoutMs of saying it is behind, c is removed: one agreed view change, with the reason.
    await sim.runUntil(() => ga.view!.failed.includes('c') && gb.view!.failed.includes('c'), 10_000);
    for (const g of [ga, gb]) {
      const v = g.view!;
      assert.deepEqual(v.failures.map((f) => [f.member, f.cause]), [['c', 'slow-consumer']], v.reason);
      assert.match(v.reason, /slow consumer/);
    }
    // The others go on without it.
    const resumedFrom = fa.sent() + fb.sent();
    await sim.runUntil(() => fa.sent() + fb.sent() > resumedFrom + 100, 10_000);
    fa.stop();
    fb.stop();

    // c takes events again: it sees what it had, then the exclusion, a new view and a fresh state.
    open = true;
    (wake as (() => void) | null)?.();
    await sim.runUntil(() => cEvents.lastIndexOf('state') > cEvents.indexOf('excluded') && cEvents.includes('excluded'), 20_000);
    assert.equal(c!.group('g'), gc, 'the same handle');
    await sim.runFor(3000);
    assert.equal(cCount, count, 'c ends with the same count as the others');
    assert.ok(gc.backlog.events === 0 && !gc.backlog.full);
    const d = await sim.run(gc.multicast(u32(0)), 10_000);
    void d;
  });
}

test("a coordinator whose application stalls a while holds the group back, then everything flows again (its own hold lifted counts in stability)", async () => {
  const sim = new Simulation({ seed: 45, endpoint: bounds });
  const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
  assert.equal(a!.view.members[0]!.id, 'a', 'a coordinates (and sequences)');
  let stalledUntil = 0;
  const counts = new Map<string, number>();
  const groups: Group[] = [];
  for (const ep of [a!, b!, c!]) {
    counts.set(ep.id, 0);
    const onEvent = (e: GroupEvent): Promise<void> | undefined => {
      if (e.type === 'message') counts.set(ep.id, counts.get(ep.id)! + 1);
      const wait = ep.id === 'a' ? stalledUntil - sim.now : 0;
      return wait > 0 ? new Promise<void>((r) => sim.scheduler.after(wait, r)) : undefined;
    };
    groups.push(await sim.run(ep.join('g', { onEvent })));
  }
  const fb = flood(groups[1]!, 16);
  await sim.runFor(500);
  // Shorter than lagTimeoutMs: a is not removed, it holds the senders back and lets go.
  stalledUntil = sim.now + 2000;
  await sim.runFor(1500);
  const during = fb.sent();
  await sim.runFor(400);
  assert.equal(fb.sent(), during, 'b waits while the sequencer is behind');
  await sim.runUntil(() => fb.sent() > during + 500, 10_000);
  fb.stop();
  await sim.runUntil(() => new Set(counts.values()).size === 1, 10_000);
  assert.equal(a!.view.members.length, 3, 'nobody was removed');
});

test('a queue that drains in time never gets its member removed, and loses nothing', async () => {
  const sim = new Simulation({ seed: 42, endpoint: bounds });
  const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
  const seen = new Map<string, number[]>();
  const groups: Group[] = [];
  for (const ep of [a!, b!, c!]) {
    const got: number[] = [];
    seen.set(ep.id, got);
    // c is slow: each event takes 5 ms of its handler, while the senders could go much
    // faster; but it takes what goes beyond its queue's bound well within lagTimeoutMs.
    const slow = ep.id === 'c';
    groups.push(
      await sim.run(
        ep.join('g', {
          onEvent: (e) => {
            if (e.type !== 'message') return undefined;
            got.push(new DataView(e.data.buffer, e.data.byteOffset).getUint32(0, true));
            return slow ? new Promise<void>((r) => sim.scheduler.after(5, r)) : undefined;
          },
        }),
      ),
    );
  }
  const fa = flood(groups[0]!, 16);
  await sim.runUntil(() => fa.sent() >= 1500, 60_000);
  fa.stop();
  await sim.runUntil(() => [...seen.values()].every((s) => s.length === seen.get('a')!.length), 30_000);
  assert.deepEqual(seen.get('c'), seen.get('a'));
  assert.equal(a!.view.members.length, 3, 'nobody was removed');
  assert.ok(groups[2]!.backlog.events === 0);
  void ({} as Endpoint);
});

test('multicast refuses beyond pendingMulticastsMax (ERR_BACKPRESSURE, nothing sent) and ready() waits for room', async () => {
  const sim = new Simulation({ seed: 43, endpoint: { suspectTimeoutMs: 1000, pendingMulticastsMax: 100, pendingMulticastBytesMax: 1 << 20 } });
  const [a, b] = await sim.startAll(['a', 'b']);
  let delivered = 0;
  const ga = await sim.run(a!.join('g'));
  await sim.run(b!.join('g', { onEvent: (e) => void (e.type === 'message' && delivered++) }));
  const ps: Promise<void>[] = [];
  for (let i = 0; i < 100; i++) ps.push(ga.multicast(u32(i)));
  assert.throws(
    () => ga.multicast(u32(100)),
    (e: unknown) => e instanceof CohortError && e.code === 'ERR_BACKPRESSURE' && /pendingMulticastsMax 100/.test(e.message),
  );
  let ready = false;
  void ga.ready().then(() => (ready = true));
  const aborted = new AbortController();
  const gone = ga.ready({ signal: aborted.signal });
  aborted.abort();
  await assert.rejects(gone, (e: unknown) => e instanceof CohortError && e.code === 'ERR_ABORTED');
  await sim.run(Promise.all(ps), 10_000);
  assert.ok(ready, 'ready() resolved once the multicasts drained');
  await sim.run(ga.ready());
  await sim.run(ga.multicast(u32(100)));
  await sim.runUntil(() => delivered === 101, 5000);

  // Bytes bound: 10 messages of 100 bytes fill 1000 bytes.
  const sim2 = new Simulation({ seed: 44, endpoint: { suspectTimeoutMs: 1000, pendingMulticastBytesMax: 1000 } });
  const [x] = await sim2.startAll(['x']);
  const gx = await sim2.run(x!.join('g'));
  const qs: Promise<void>[] = [];
  for (let i = 0; i < 10; i++) qs.push(gx.multicast(new Uint8Array(100)));
  assert.throws(() => gx.multicast(new Uint8Array(1)), (e: unknown) => e instanceof CohortError && e.code === 'ERR_BACKPRESSURE');
  await sim2.run(Promise.all(qs), 5000);
  await sim2.run(gx.multicast(new Uint8Array(1)));
  // A stopped endpoint's ready() rejects rather than wait for ever.
  await sim2.run(x!.stop(), 5000);
  await assert.rejects(gx.ready(), (e: unknown) => e instanceof CohortError);
});
