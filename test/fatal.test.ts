/**
 * A broken invariant in the core (a bug) must never leave a half-alive member: the
 * endpoint stops at once — its connections close, so the others remove it as crashed
 * — and the error is reported: `onFatal` once, every pending call rejected with
 * `ERR_INTERNAL`, every later call refused with it; without `onFatal` it is thrown
 * from the event that hit it. The core is made to throw by replacing one of its
 * methods (a mock, in this unit test only).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionFailure, CohortError, ErrorCode } from '../src/errors.js';
import type { Endpoint } from '../src/endpoint.js';
import { Simulation } from '../src/sim/simulation.js';

/** Make `ep`'s core throw an AssertionFailure on its next received message. */
function breakCore(ep: Endpoint): void {
  const core = (ep as unknown as { core: { receive: (...a: unknown[]) => void } }).core;
  core.receive = () => {
    throw new AssertionFailure('test: broken invariant');
  };
}

test('a broken invariant stops the endpoint, reports it once through onFatal, and the others remove it', async () => {
  const sim = new Simulation({ seed: 3, endpoint: { suspectTimeoutMs: 1000 } });
  const [a, b] = await sim.startAll(['a', 'b']);
  const fatals: CohortError[] = [];
  const c = sim.open('c', ['a', 'b'], { onFatal: (e) => fatals.push(e) });
  await sim.run(c.ready);
  const gc = await sim.run(c.join('g'));
  await sim.run(a!.join('g'));
  await sim.run(b!.join('g'));
  breakCore(c);
  // A multicast queued (not yet delivered) when the core breaks: its promise must settle.
  const pending = gc.multicast(new TextEncoder().encode('x'));
  const outcome = pending.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  await sim.runUntil(() => fatals.length > 0, 5000);
  assert.equal(fatals.length, 1);
  const err = fatals[0]!;
  assert.ok(err instanceof CohortError);
  assert.equal(err.code, ErrorCode.internal);
  assert.ok(err.cause instanceof AssertionFailure, 'the broken assertion is the cause');
  assert.match(err.message, /internal error.*broken invariant/);
  const settled = await sim.run(outcome);
  assert.equal(settled, err, 'the pending multicast rejects with the fatal error');
  assert.throws(() => gc.multicast(new Uint8Array(1)), (e: unknown) => e instanceof CohortError && e.code === ErrorCode.internal);
  // The others see it gone: one view without it, within the suspicion timeout and a bit.
  await sim.runUntil(() => a!.view?.members.length === 2 && b!.view?.members.length === 2, 3000);
  assert.deepEqual(a!.view?.members.map((m) => m.id), ['a', 'b']);
  await sim.runFor(2000);
  assert.equal(fatals.length, 1, 'reported once');
});

test('without onFatal the broken invariant is thrown from the event that hit it, after the endpoint stopped', async () => {
  const sim = new Simulation({ seed: 4, endpoint: { suspectTimeoutMs: 1000 } });
  const [a, b] = await sim.startAll(['a', 'b']);
  void a;
  breakCore(b!);
  // The next heartbeat b receives breaks it: the throw comes out of the simulator's event.
  await assert.rejects(sim.runFor(1000), (e: unknown) => e instanceof CohortError && e.code === ErrorCode.internal);
  await assert.rejects(b!.join('h'), (e: unknown) => e instanceof CohortError && e.code === ErrorCode.internal);
});
