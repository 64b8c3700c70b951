/**
 * The guide's recipes (docs/guide.md), run. Goal: every recipe in examples/recipes/
 * does what the guide says, asserted on properties that a broken recipe (or a broken Cohort) would fail.
 * Method: the deterministic simulator for most (virtual time, seeded faults, crashes,
 * joiners), and one run of the key–value map over real TCP on 127.0.0.1. Nothing
 * sleeps on real time; every wait is bounded, in virtual or real milliseconds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Endpoint } from '../src/index.js';
import type { View } from '../src/index.js';
import { Simulation } from '../src/sim/index.js';
import { ReplicatedMap } from '../examples/recipes/kv-map.js';
import { GroupLock, leaderOf } from '../examples/recipes/leader-lock.js';
import { WorkPartition, ownerOf } from '../examples/recipes/partition-work.js';
import { firstDivergentSeed, runAccounts } from '../examples/recipes/sim-testing.js';

const lossy = { dropProbability: 0.05, duplicateProbability: 0.02, reorderProbability: 0.1 };

test('kv-map: concurrent writes from three members leave three equal maps, and a joiner gets the same map', async () => {
  const sim = new Simulation({ seed: 11, faults: lossy });
  const eps = await sim.startAll(['a', 'b', 'c']);
  const maps = new Map<string, ReplicatedMap>();
  for (const ep of eps) maps.set(ep.id, await sim.run(ReplicatedMap.join(ep, 'kv')));
  const map = (id: string): ReplicatedMap => maps.get(id) ?? assert.fail(`no map ${id}`);

  // Read your writes: the promise resolves once the write is applied here.
  await sim.run(map('a').set('owner', 'a'));
  assert.equal(map('a').get('owner'), 'a');

  // Concurrent writes to the same keys from everyone, none awaited before the next:
  // whoever the order puts last wins, and it is the same winner everywhere.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 20; i += 1) {
    for (const id of ['a', 'b', 'c']) {
      writes.push(map(id).set(`k${i % 5}`, `${id}${i}`));
      if (i % 7 === 3) writes.push(map(id).delete(`k${(i + 1) % 5}`));
    }
  }
  await sim.run(Promise.all(writes));
  await sim.runFor(500); // the last writes reach the members that did not send them
  const expected = map('a').snapshot();
  assert.ok(expected.length >= 3, `too few keys left to compare: ${JSON.stringify(expected)}`);
  for (const id of ['b', 'c']) assert.deepEqual(map(id).snapshot(), expected, `map of ${id}`);

  // A joiner starts from the checkpoint taken at its join point, then follows along.
  const d = sim.open('d', ['a']);
  await sim.run(d.ready);
  maps.set('d', await sim.run(ReplicatedMap.join(d, 'kv')));
  assert.deepEqual(map('d').snapshot(), expected, 'the joiner got a different map');
  await sim.run(map('d').set('owner', 'd'));
  await sim.runFor(500);
  for (const id of ['a', 'b', 'c', 'd']) assert.equal(map(id).get('owner'), 'd', `owner at ${id}`);

  // A crash in the middle of concurrent writes: the survivors still agree.
  const more = ['a', 'b', 'c'].map((id, i) => map(id).set(`late${i}`, id).catch(() => undefined));
  sim.crash('c');
  await sim.runFor(3000);
  await sim.run(Promise.all(more.slice(0, 2)));
  const survivors = ['a', 'b', 'd'].map((id) => map(id).snapshot());
  assert.deepEqual(survivors[1], survivors[0]);
  assert.deepEqual(survivors[2], survivors[0]);
});

test('kv-map: setMany loads more keys than the endpoint keeps in flight, waiting for room (ready) instead of failing', async () => {
  const sim = new Simulation({ seed: 12, faults: lossy, endpoint: { pendingMulticastsMax: 50 } });
  const eps = await sim.startAll(['a', 'b']);
  const maps: ReplicatedMap[] = [];
  for (const ep of eps) maps.push(await sim.run(ReplicatedMap.join(ep, 'kv')));
  const pairs = Array.from({ length: 500 }, (_, i) => [`k${i}`, `v${i}`] as const);
  await sim.run(maps[0]!.setMany(pairs), 60_000);
  assert.equal(maps[0]!.snapshot().length, 500);
  await sim.runUntil(() => maps[1]!.snapshot().length === 500, 10_000);
  assert.deepEqual(maps[1]!.snapshot(), maps[0]!.snapshot());
});

test('kv-map over real TCP on 127.0.0.1: three endpoints hold the same map', { timeout: 30_000 }, async () => {
  const eps: Endpoint[] = [];
  try {
    const a = await Endpoint.start({ id: 'kv-a', listen: '127.0.0.1:0' });
    eps.push(a);
    for (const id of ['kv-b', 'kv-c']) eps.push(await Endpoint.start({ id, listen: '127.0.0.1:0', seeds: [a.address] }));
    const maps: ReplicatedMap[] = [];
    for (const ep of eps) maps.push(await ReplicatedMap.join(ep, 'kv'));
    await Promise.all(maps.flatMap((m, i) => [m.set('shared', `from-${i}`), m.set(`own-${i}`, 'x')]));
    // Each has applied its own writes; wait (bounded) until all hold all six writes.
    const deadline = Date.now() + 10_000;
    while (maps.some((m) => m.snapshot().length < 4) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const expected = maps[0]!.snapshot();
    assert.equal(expected.length, 4, JSON.stringify(expected));
    for (const m of maps) assert.deepEqual(m.snapshot(), expected);
  } finally {
    await Promise.all(eps.map((ep) => ep.stop().catch(() => undefined)));
  }
});

test('leader-lock: one holder at every point of the order, the same everywhere, and work only by the holder', async () => {
  const sim = new Simulation({ seed: 21, faults: lossy });
  const ids = ['a', 'b', 'c'];
  const eps = await sim.startAll(ids);
  const holders = new Map<string, (string | undefined)[]>(ids.map((id) => [id, []]));
  const locks = new Map<string, GroupLock>();
  const workSeen = new Map<string, string[]>(ids.map((id) => [id, []]));
  const violations: string[] = [];
  for (const ep of eps) {
    const lock = await sim.run(GroupLock.join(ep, 'lock', (h) => holders.get(ep.id)?.push(h)));
    locks.set(ep.id, lock);
    // Work goes to another group: the endpoint's one delivery order spans both, so at
    // each work message every member can check who holds the lock at that point.
    await sim.run(
      ep.join('work', {
        onEvent: (e) => {
          if (e.type !== 'message') return;
          if (lock.holder() !== e.sender) violations.push(`at ${ep.id}: work by ${e.sender} while ${String(lock.holder())} holds the lock`);
          workSeen.get(ep.id)?.push(e.sender);
        },
      }),
    );
  }
  const critical = async (id: string): Promise<void> => {
    const lock = locks.get(id) ?? assert.fail();
    const work = sim.endpoint(id).group('work') ?? assert.fail();
    for (let round = 0; round < 2; round += 1) {
      await lock.acquire();
      for (let i = 0; i < 3; i += 1) await work.multicast(new TextEncoder().encode(`${id}${round}${i}`));
      await lock.release();
    }
  };
  await sim.run(Promise.all(ids.map(critical)));
  await sim.runFor(500);

  assert.deepEqual(violations, []);
  const trace = holders.get('a') ?? [];
  assert.ok(trace.filter((h) => h !== undefined).length >= 6, `each member held the lock twice: ${JSON.stringify(trace)}`);
  for (const id of ['b', 'c']) assert.deepEqual(holders.get(id), trace, `holder sequence at ${id}`);
  for (const id of ids) assert.equal(workSeen.get(id)?.length, 18, `work messages seen at ${id}`);
  // Mutual exclusion: a holder's three work messages are never interleaved with another's.
  const seen = workSeen.get('a') ?? [];
  const runLengths: number[] = [];
  seen.forEach((s, i) => (i > 0 && seen[i - 1] === s ? (runLengths[runLengths.length - 1]! += 1) : runLengths.push(1)));
  assert.ok(runLengths.every((n) => n % 3 === 0), `work interleaved: ${JSON.stringify(seen)}`);
});

test('leader-lock: the lock passes on when its holder crashes, and the oldest survivor leads', async () => {
  const sim = new Simulation({ seed: 22 });
  const eps = await sim.startAll(['a', 'b', 'c']);
  const locks = new Map<string, GroupLock>();
  for (const ep of eps) locks.set(ep.id, await sim.run(GroupLock.join(ep, 'lock')));
  const lock = (id: string): GroupLock => locks.get(id) ?? assert.fail();
  await sim.run(lock('a').acquire());
  let bHolds = false;
  void lock('b').acquire().then(() => (bHolds = true));
  await sim.runFor(200);
  assert.equal(bHolds, false, 'b got the lock while a holds it');
  for (const id of ['a', 'b', 'c']) assert.equal(lock(id).holder(), 'a', `holder at ${id}`);
  assert.equal(leaderOf(sim.endpoint('b').group('lock')?.view ?? assert.fail()), 'a');

  sim.crash('a'); // a never releases
  await sim.runUntil(() => bHolds, 5000);
  assert.equal(lock('b').holder(), 'b');
  await sim.runUntil(() => lock('c').holder() !== 'a', 1000); // c installs the same view a moment later
  assert.equal(lock('c').holder(), 'b');
  const view = sim.endpoint('c').group('lock')?.view ?? assert.fail();
  assert.deepEqual(view.failed, ['a']);
  assert.equal(leaderOf(view), 'b');
});

test('partition-work: in every view each item has exactly one owner, reassigned on joins and crashes', async () => {
  const sim = new Simulation({ seed: 31, faults: lossy });
  const items = Array.from({ length: 200 }, (_, i) => `job-${i}`);
  /** view id → member → its items, as that member computed them. */
  const assigned = new Map<number, Map<string, string[]>>();
  const views = new Map<number, View>();
  const join = async (id: string): Promise<void> => {
    await sim.run(
      WorkPartition.join(sim.endpoint(id), 'jobs', items, (view, mine) => {
        views.set(view.id, view);
        const byMember = assigned.get(view.id) ?? new Map<string, string[]>();
        byMember.set(id, mine);
        assigned.set(view.id, byMember);
      }),
    );
  };
  await sim.startAll(['a', 'b', 'c', 'd']);
  for (const id of ['a', 'b', 'c', 'd']) await join(id);
  sim.crash('b');
  await sim.runFor(3000);
  await sim.run(sim.open('e', ['a']).ready);
  await join('e');
  await sim.runFor(500);

  const sizes = [...views.values()].map((v) => v.members.length);
  assert.ok(sizes.includes(4) && sizes.includes(3), `views seen: ${JSON.stringify([...views.values()].map((v) => v.members))}`);
  let checked = 0;
  for (const [viewId, byMember] of assigned) {
    const view = views.get(viewId) ?? assert.fail();
    // Every member of every view computed its share (b crashed between views).
    const reporters = [...byMember.keys()].sort();
    assert.deepEqual(reporters, [...view.members].sort(), `view ${viewId}: shares from ${reporters.join(',')}`);
    const owners = new Map<string, string>();
    for (const [member, mine] of byMember) {
      for (const item of mine) {
        assert.equal(owners.get(item), undefined, `view ${viewId}: ${item} owned by ${owners.get(item)} and ${member}`);
        owners.set(item, member);
        assert.equal(ownerOf(item, view), member);
      }
    }
    assert.equal(owners.size, items.length, `view ${viewId}: ${items.length - owners.size} items without an owner`);
    checked += 1;
  }
  assert.ok(checked >= 3, `only ${checked} complete views checked`);
  // Nothing stays with a crashed member: the final view assigns all items to a, c, d, e.
  const last = views.get(Math.max(...views.keys())) ?? assert.fail();
  assert.deepEqual([...last.members].sort(), ['a', 'c', 'd', 'e']);
});

test('sim-testing: the correct account agrees on every seed; the planted bug is caught by some seed', async () => {
  for (const seed of [1, 2, 3]) {
    const digests = await runAccounts(seed);
    assert.equal(digests.size, 4, `seed ${seed}: replicas ${[...digests.keys()].join(',')}`);
    assert.equal(new Set(digests.values()).size, 1, `seed ${seed}: replicas disagree:\n${[...digests].join('\n')}`);
  }
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
  assert.equal(await firstDivergentSeed(seeds.slice(0, 5)), undefined, 'the correct account diverged');
  const caught = await firstDivergentSeed(seeds, { eager: true });
  assert.notEqual(caught, undefined, 'the eager (buggy) account never diverged in seeds 1..20');
});
