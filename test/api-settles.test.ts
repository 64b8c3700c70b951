/**
 * Every promise of the API settles: `join` has a timeout and a signal, `multicast`,
 * `leave` and `stop` a signal. Run in the simulator (virtual time), where a partition
 * keeps a join from ever completing on its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CohortError, OptionError } from '../src/errors.js';
import { Simulation } from '../src/sim/simulation.js';
import type { Group, GroupEvent } from '../src/endpoint.js';

async function rejection(sim: Simulation, p: Promise<unknown>, limitMs = 120_000): Promise<CohortError> {
  try {
    await sim.run(p, limitMs);
  } catch (e) {
    if (e instanceof CohortError) return e;
    throw e;
  }
  assert.fail('the promise resolved');
}

test('a join that cannot complete (no majority) rejects ERR_TIMEOUT after timeoutMs, and can be retried once healed', async () => {
  const sim = new Simulation({ seed: 11, endpoint: { suspectTimeoutMs: 1000 } });
  const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
  await sim.run(b!.join('g'));
  sim.partition([['a'], ['b', 'c']]);
  await sim.runFor(3000);
  const t0 = sim.now;
  const err = await rejection(sim, a!.join('g', { timeoutMs: 5000 }));
  assert.equal(err.code, 'ERR_TIMEOUT', err.message);
  assert.equal(sim.now - t0, 5000);
  assert.match(err.message, /join of group g not complete after 5000 ms .*(blocked|not in a network view|changing its view).*leaving the group again/);
  sim.heal();
  // After the heal, a is excluded or back in; either way it is not left in g, and a new join works.
  await sim.runUntil(() => a!.group('g') === undefined, 30_000);
  const g = await sim.run(a!.join('g'), 30_000);
  assert.deepEqual(new Set(g.view!.members), new Set(['a', 'b']));
  void c;
});

test('an aborted join rejects ERR_ABORTED with the signal\'s reason', async () => {
  const sim = new Simulation({ seed: 12, endpoint: { suspectTimeoutMs: 1000 } });
  const [a] = await sim.startAll(['a', 'b', 'c']);
  sim.partition([['a'], ['b', 'c']]);
  await sim.runFor(2000);
  const ac = new AbortController();
  const p = a!.join('g', { signal: ac.signal, timeoutMs: 0 });
  sim.scheduler.after(700, () => ac.abort(new Error('user went away')));
  const t0 = sim.now;
  const err = await rejection(sim, p);
  assert.equal(err.code, 'ERR_ABORTED');
  assert.equal(sim.now - t0, 700);
  assert.equal((err.cause as Error).message, 'user went away');
  await assert.rejects(a!.join('h', { signal: AbortSignal.abort() }), (e: unknown) => e instanceof CohortError && e.code === 'ERR_ABORTED');
});

test('an aborted multicast rejects ERR_ABORTED; the message is still delivered to every member alike', async () => {
  const sim = new Simulation({ seed: 13, endpoint: { suspectTimeoutMs: 1000 } });
  const eps = await sim.startAll(['a', 'b', 'c']);
  const seen = new Map<string, string[]>(eps.map((ep) => [ep.id, []]));
  const gs: Group[] = [];
  for (const ep of eps) gs.push(await sim.run(ep.join('g', { onEvent: (e) => void (e.type === 'message' ? seen.get(ep.id)!.push(new TextDecoder().decode(e.data)) : undefined) })));
  const ac = new AbortController();
  const p = gs[0]!.multicast(new TextEncoder().encode('x'), { signal: ac.signal, safe: true });
  ac.abort();
  const err = await rejection(sim, p);
  assert.equal(err.code, 'ERR_ABORTED');
  await sim.runUntil(() => [...seen.values()].every((s) => s.length === 1), 10_000);
  assert.throws(() => gs[0]!.multicast(new Uint8Array(1), { signal: AbortSignal.abort() }), (e: unknown) => e instanceof CohortError && e.code === 'ERR_ABORTED');
  assert.throws(() => gs[0]!.multicast(new Uint8Array(1), { safe: 'yes' as unknown as boolean }), OptionError);
  assert.throws(() => gs[0]!.multicast(new Uint8Array(1), { signal: 'soon' as unknown as AbortSignal }), OptionError);
});

test('an aborted stop closes the endpoint at once and rejects ERR_ABORTED; the others remove it', async () => {
  const sim = new Simulation({ seed: 14, endpoint: { suspectTimeoutMs: 1000 } });
  const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
  // Cut off, a graceful stop cannot complete (nobody acknowledges the leave).
  sim.partition([['a'], ['b', 'c']]);
  const ac = new AbortController();
  const p = a!.stop({ signal: ac.signal });
  sim.scheduler.after(200, () => ac.abort());
  const err = await rejection(sim, p);
  assert.equal(err.code, 'ERR_ABORTED');
  await assert.rejects(a!.join('g'), (e: unknown) => e instanceof CohortError && e.code === 'ERR_CLOSED');
  sim.heal();
  await sim.runUntil(() => b!.view.members.length === 2 && c!.view.members.length === 2, 20_000);
});

test('an onEvent that throws stops delivery in that group, rejects what waits on it with ERR_HANDLER, and leaves the group', async () => {
  for (const how of ['throws', 'rejects'] as const) {
    const sim = new Simulation({ seed: 15, endpoint: { suspectTimeoutMs: 1000 } });
    const eps = await sim.startAll(['a', 'b', 'c']);
    const seen = new Map<string, string[]>(eps.map((ep) => [ep.id, []]));
    const errors: CohortError[] = [];
    const gs: Group[] = [];
    for (const ep of eps) {
      const onEvent = (e: GroupEvent): void | Promise<void> => {
        if (e.type !== 'message') return;
        const text = new TextDecoder().decode(e.data);
        if (ep.id === 'a' && text === 'boom') {
          if (how === 'throws') throw new Error('cannot apply boom');
          return Promise.reject(new Error('cannot apply boom'));
        }
        seen.get(ep.id)!.push(text);
      };
      gs.push(await sim.run(ep.join('g', { onEvent, onError: (err) => errors.push(err) })));
    }
    const send = (i: number, text: string): Promise<void> => gs[i]!.multicast(new TextEncoder().encode(text));
    await sim.run(send(1, 'one'));
    const boom = send(0, 'boom');
    const after = send(0, 'after');
    const err = await rejection(sim, boom);
    assert.equal(err.code, 'ERR_HANDLER', `${how}: ${err.message}`);
    assert.match(err.message, /onEvent handler of group g (threw|rejected) on a message event \(cannot apply boom\)/);
    assert.equal((await rejection(sim, after)).code, 'ERR_HANDLER', `${how}: a later own multicast is not delivered here either`);
    assert.equal(errors.length, 1);
    assert.equal(errors[0], err);
    assert.throws(() => gs[0]!.multicast(new Uint8Array(1)), (e: unknown) => e === err);
    // The others delivered everything, and saw a leave.
    await sim.runUntil(() => ['b', 'c'].every((id) => eps.find((ep) => ep.id === id)!.group('g')?.view?.members.length === 2), 10_000);
    assert.deepEqual(seen.get('b'), ['one', 'boom', 'after']);
    assert.deepEqual(seen.get('c'), ['one', 'boom', 'after']);
    assert.deepEqual(seen.get('a'), ['one']);
    // The same agreed reason at both: a left because its handler failed.
    for (const i of [1, 2]) {
      const v = gs[i]!.view!;
      assert.deepEqual([v.left, v.leaveCauses], [['a'], ['handler-failed']], v.reason);
      assert.equal(v.reason, 'a left: its onEvent handler failed, so it stopped delivering here');
    }
    await sim.runUntil(() => eps[0]!.group('g') === undefined, 10_000);
  }
});

test('an onEvent that rejects on the first view makes join reject with ERR_HANDLER (it used to hang)', async () => {
  const sim = new Simulation({ seed: 16 });
  const [a] = await sim.startAll(['a']);
  const err = await rejection(sim, a!.join('g', { onEvent: async (e) => (e.type === 'view' ? Promise.reject(new Error('no view for me')) : undefined) }));
  assert.equal(err.code, 'ERR_HANDLER');
  assert.match(err.message, /rejected on a view event \(no view for me\)/);
  await sim.runUntil(() => a!.group('g') === undefined, 10_000);
  const g = await sim.run(a!.join('g'));
  assert.deepEqual(g.view!.members, ['a']);
});

test('a checkpoint that throws is never a 0-byte state: another member provides it, or the join fails with ERR_CHECKPOINT', async () => {
  const sim = new Simulation({ seed: 17, endpoint: { suspectTimeoutMs: 1000 } });
  const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
  const state = new TextEncoder().encode('the sector');
  const errors: string[] = [];
  // a's checkpoint works once (for b), then fails; b's works: c's state comes from b
  // (a, the oldest, is asked first).
  let asked = 0;
  const failing = (): Uint8Array => {
    if (asked++ > 0) throw new Error('disk on fire');
    return state;
  };
  await sim.run(a!.join('g', { checkpoint: failing, onError: (e) => errors.push(`a ${e.code}`) }));
  const views: { left: readonly string[]; causes: readonly string[] }[] = [];
  await sim.run(b!.join('g', { checkpoint: () => state, onEvent: (e) => void (e.type === 'view' && views.push({ left: e.view.left, causes: e.view.leaveCauses })) }));
  const got: Uint8Array[] = [];
  await sim.run(c!.join('g', { onEvent: (e) => void (e.type === 'state' ? got.push(e.data) : undefined) }));
  assert.deepEqual(errors, ['a ERR_CHECKPOINT']);
  assert.equal(asked, 2);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], state);
  await sim.runUntil(() => a!.group('g') === undefined, 10_000);
  await sim.runUntil(() => views.some((v) => v.left.includes('a')), 10_000);
  assert.deepEqual(views.find((v) => v.left.includes('a')), { left: ['a'], causes: ['checkpoint-failed'] });

  // Now only b has the state, and its checkpoint fails too: a joiner gets no state at all.
  const sim2 = new Simulation({ seed: 18, endpoint: { suspectTimeoutMs: 1000 } });
  const [x, y] = await sim2.startAll(['x', 'y']);
  await sim2.run(x!.join('g', { checkpoint: async () => Promise.reject(new Error('no')), onError: () => undefined }));
  const err = await rejection(sim2, y!.join('g', { onEvent: () => undefined }));
  assert.equal(err.code, 'ERR_CHECKPOINT', err.message);
  assert.match(err.message, /could not provide it/);
  await sim2.runUntil(() => x!.group('g') === undefined && y!.group('g') === undefined, 10_000);
});

test('after an exclusion the handle goes on by default (excluded, a new view, a fresh state); with rejoin: false it closes', async () => {
  for (const rejoin of [true, false]) {
    const sim = new Simulation({ seed: 19, endpoint: { suspectTimeoutMs: 1000, rejoin } });
    const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
    const log: string[] = [];
    let n = 0;
    await sim.run(a!.join('g', { checkpoint: () => new TextEncoder().encode(String(n)), onEvent: (e) => void (e.type === 'message' && n++) }));
    await sim.run(b!.join('g'));
    const gc = await sim.run(c!.join('g', { onEvent: (e) => void log.push(e.type === 'state' ? `state:${new TextDecoder().decode(e.data)}` : e.type) }));
    sim.pause('c');
    await sim.runUntil(() => a!.view.members.length === 2, 5000);
    const ga = a!.group('g')!;
    for (let i = 0; i < 3; i++) await sim.run(ga.multicast(new Uint8Array([i])));
    sim.resume('c');
    await sim.runUntil(() => log.includes('excluded'), 5000);
    if (rejoin) {
      await sim.runUntil(() => log.slice(log.indexOf('excluded')).includes('state:3'), 10_000);
      assert.equal(c!.group('g'), gc, 'the same handle');
      await sim.run(gc.multicast(new Uint8Array([9])));
      await sim.runUntil(() => n === 4, 5000); // its multicasts reach the others again
    } else {
      await sim.runUntil(() => c!.group('g') === undefined, 5000);
      assert.throws(() => gc.multicast(new Uint8Array(1)), (e: unknown) => e instanceof CohortError && e.code === 'ERR_EXCLUDED');
    }
  }
});

test('with rejoin: false, a handle whose exclusion is still queued behind a slow handler refuses multicasts at once (ERR_EXCLUDED)', async () => {
  const sim = new Simulation({ seed: 20, endpoint: { suspectTimeoutMs: 1000, rejoin: false } });
  const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
  await sim.run(a!.join('g'));
  await sim.run(b!.join('g'));
  // c's handler holds its queue from the first message on, until released.
  let release: (() => void) | null = null;
  const seen: string[] = [];
  const gc = await sim.run(c!.join('g', { onEvent: (e) => (seen.push(e.type), e.type === 'message' ? new Promise<void>((r) => (release = r)) : undefined) }));
  await sim.run(a!.group('g')!.multicast(new Uint8Array(1)));
  await sim.runUntil(() => release !== null, 5000);
  sim.pause('c');
  await sim.runUntil(() => a!.view.members.length === 2, 5000);
  sim.resume('c');
  await sim.runUntil(() => c!.incarnation !== gc.view!.refs.members.find((m) => m.id === 'c')!.inc, 10_000);
  // Excluded, though the handle has not delivered `excluded` yet: it sends nothing more.
  assert.ok(!seen.includes('excluded'));
  assert.throws(() => gc.multicast(new Uint8Array(1)), (e: unknown) => e instanceof CohortError && e.code === 'ERR_EXCLUDED');
  await assert.rejects(gc.leave(), (e: unknown) => e instanceof CohortError && e.code === 'ERR_EXCLUDED');
  (release as (() => void) | null)?.();
  await sim.runUntil(() => seen.includes('excluded'), 5000);
});
