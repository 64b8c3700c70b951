/**
 * Founding a network: every address of the founding list (the seeds and the
 * endpoint's own) must be up and bootstrapping at once. A process restarted without
 * persistence cannot know it was a member, and views shrink legitimately, so a
 * majority of the seed list may be restarted processes while the network lives on at
 * other seed addresses; they must wait for it and join, never found a second network.
 * Replayed in the simulator with the schedule that once split the network (views 5 ->
 * 2, three members restarted while the two survivors were partitioned or paused),
 * judged by the checker (G4, G9) and by one network view at the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHistories, formatViolations } from '../src/check/checker.js';
import { Simulation } from '../src/sim/simulation.js';
import { Histories } from './histories.js';

const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
const seedsOf = (id: string, among: readonly string[] = ids): string[] => among.filter((x) => x !== id);

function netView(sim: Simulation, id: string): string {
  if (!sim.isUp(id)) return 'down';
  const v = sim.endpoint(id).view;
  return v === null ? '?' : `${v.epoch}[${v.members.map((m) => m.id).join(',')}]`;
}

for (const cutOff of ['partition', 'pause'] as const) {
  test(`members restarted while the survivors are unreachable (${cutOff}) wait and join them, never found a second network`, async () => {
    const sim = new Simulation({ seed: 3, endpoint: { suspectTimeoutMs: 1000 } });
    const h = new Histories(sim);
    const eps = await sim.startAll(ids);
    for (const ep of eps) await sim.run(h.join(ep, 'g'));
    let talking = true;
    const talk = (): void => {
      for (const id of ids) {
        const ep = sim.isUp(id) ? sim.endpoint(id) : undefined;
        if (ep?.group('g')?.view != null) h.send(ep, 'g');
      }
      if (talking) sim.scheduler.after(200, talk);
    };
    sim.scheduler.after(200, talk);
    // The view shrinks legitimately, one crash at a time: 5 -> 4 -> 3 -> 2.
    for (const id of ['n5', 'n4', 'n3']) {
      h.crash(id);
      await sim.runFor(3000);
    }
    assert.equal(netView(sim, 'n1'), netView(sim, 'n2'));
    assert.match(netView(sim, 'n1'), /\[n1,n2\]$/);
    if (cutOff === 'pause') {
      sim.pause('n1');
      sim.pause('n2');
    } else {
      sim.partition([
        ['n1', 'n2'],
        ['n3', 'n4', 'n5'],
      ]);
    }
    const restarted = ['n3', 'n4', 'n5'].map((id) => sim.open(id, seedsOf(id)));
    for (const ep of restarted) ep.ready.then(() => h.join(ep, 'g').catch(() => undefined), () => undefined);
    await sim.runFor(8000);
    // A majority of the seed list is up and bootstrapping, but not all of it: no founding.
    for (const id of ['n3', 'n4', 'n5']) assert.equal(sim.endpoint(id).status().endpoint.phase, 'bootstrapping', `${id} is ${netView(sim, id)}`);
    if (cutOff === 'pause') {
      sim.resume('n1');
      sim.resume('n2');
    } else {
      sim.heal();
    }
    const oneNetwork = (): boolean => {
      const vs = ids.map((id) => netView(sim, id));
      const gs = ids.map((id) => sim.endpoint(id).group('g')?.view);
      return new Set(vs).size === 1 && vs[0]!.split(',').length === 5 && gs.every((g) => g != null && g.id === gs[0]!.id && g.members.length === 5);
    };
    await sim.runUntil(oneNetwork, 30_000);
    talking = false;
    await sim.runFor(3000);
    const v = checkHistories(h.all, { quiescent: true });
    assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
  });
}

test('after a total failure every seed restarted together founds one network; with a host gone for good, the founders named as seeds do', async () => {
  const sim = new Simulation({ seed: 8, endpoint: { suspectTimeoutMs: 1000 } });
  await sim.startAll(ids);
  for (const id of ids) sim.crash(id);
  await sim.runFor(2000);
  // Four of five come back with the original seeds: they wait for the fifth.
  const back = ['n1', 'n2', 'n3', 'n4'];
  for (const id of back) sim.open(id, seedsOf(id));
  await sim.runFor(8000);
  for (const id of back) assert.equal(sim.endpoint(id).status().endpoint.phase, 'bootstrapping');
  // The fifth host is gone for good: the operator restarts the four naming only each other.
  for (const id of back) sim.crash(id);
  const eps = back.map((id) => sim.open(id, seedsOf(id, back)));
  await sim.run(Promise.all(eps.map((ep) => ep.ready)), 20_000);
  assert.deepEqual(new Set(back.map((id) => netView(sim, id))), new Set([`1[${back.join(',')}]`]));
  // The fifth, restarted later with the original seeds, joins the running network.
  const n5 = sim.open('n5', seedsOf('n5'));
  await sim.run(n5.ready, 20_000);
  await sim.runUntil(() => new Set(ids.map((id) => netView(sim, id))).size === 1, 10_000);
  assert.match(netView(sim, 'n5'), /\[n1,n2,n3,n4,n5\]$/);
});

test('a member left blocked when the rest of its view restarted leaves that view, and all of them found one network', async () => {
  // a, b, c; a and b crash at once, so c is blocked for good (its view can change only
  // with promises from a majority of a, b, c, and a and b restarted). a and b restart
  // with the same seeds. Before the fix c answered their probes as a member, they
  // waited to join a network that could never take them, and nothing moved again.
  const sim = new Simulation({ seed: 2, endpoint: { suspectTimeoutMs: 1000 } });
  const h = new Histories(sim);
  const abc = ['a', 'b', 'c'];
  // Every application joins g, and joins it again when told it was excluded.
  const joinG = (id: string): void => {
    const ep = sim.endpoint(id);
    if (ep.group('g') !== undefined) return;
    const again = (): void => {
      sim.scheduler.after(50, () => (sim.isUp(id) ? joinG(id) : undefined));
    };
    h.join(ep, 'g', again).catch(() => sim.scheduler.after(500, () => (sim.isUp(id) ? joinG(id) : undefined)));
  };
  await sim.startAll(abc);
  for (const id of abc) joinG(id);
  await sim.runUntil(() => abc.every((id) => sim.endpoint(id).group('g')?.view?.members.length === 3), 10_000);
  h.crash('a');
  h.crash('b');
  await sim.runFor(5000);
  assert.equal(sim.endpoint('c').status().endpoint.phase, 'member');
  for (const id of ['a', 'b']) {
    const ep = sim.open(id, seedsOf(id, abc));
    ep.ready.then(() => joinG(id), () => undefined);
  }
  await sim.runUntil(() => new Set(abc.map((id) => netView(sim, id))).size === 1 && /\[a,b,c\]$/.test(netView(sim, 'a')), 20_000);
  await sim.runUntil(() => abc.every((id) => sim.endpoint(id).group('g')?.view?.members.length === 3), 10_000);
  assert.equal(h.byId('c')[0]!.end, 'excluded', 'c left its old view as excluded');
  const v = checkHistories(h.all, { quiescent: true });
  assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
});

test('in a view of two, a member whose partner restarted removes the old incarnation and takes the new one in with its state', async () => {
  // a and b; b crashes and restarts with the same seeds. a alone is not a majority of
  // its view, but b's old incarnation is gone for good (its new one answers at its
  // address) and, being fewer than a majority, cannot have decided anything without
  // a: a's own promise is the quorum. So a installs a view without the old b, and the
  // new b joins it with a state transfer — the same network, the state kept. Before,
  // a blocked for good (or, with the rule that a dead view is left, everybody founded
  // anew and the groups' state was lost).
  const sim = new Simulation({ seed: 6, endpoint: { suspectTimeoutMs: 1000 } });
  const h = new Histories(sim);
  const ab = ['a', 'b'];
  const eps = await sim.startAll(ab);
  for (const ep of eps) await sim.run(h.join(ep, 'g'));
  for (let i = 0; i < 5; i++) h.send(eps[i % 2]!, 'g');
  await sim.runFor(500);
  const network = sim.endpoint('a').group('g')!.view!.network;
  const aIncarnation = sim.endpoint('a').incarnation;
  h.crash('b');
  await sim.runFor(300);
  const b = sim.open('b', ['a']);
  await sim.run(b.ready, 20_000);
  await sim.run(h.join(b, 'g'), 20_000);
  await sim.runUntil(() => sim.endpoint('a').group('g')?.view?.members.length === 2, 10_000);
  assert.equal(sim.endpoint('a').incarnation, aIncarnation, 'a kept its incarnation: it was never excluded');
  assert.equal(b.group('g')!.view!.network, network, 'the same network, not a new one');
  const state = h.byId('b')[1]!.events.find((e) => e.type === 'state');
  assert.ok(state !== undefined && state.type === 'state' && state.count === 5, `the new b got a's state of 5 messages (${JSON.stringify(state)})`);
  h.send(b, 'g');
  await sim.runFor(1000);
  const v = checkHistories(h.all, { quiescent: true });
  assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
});

/** Seeds n1 n2 n3 found a network, joiners j1 j2 (seeded with them) join it, all in group g. */
async function seedsAndJoiners(seed: number): Promise<{ sim: Simulation; h: Histories; seeds: string[]; all: string[] }> {
  const sim = new Simulation({ seed, endpoint: { suspectTimeoutMs: 1000 } });
  const h = new Histories(sim);
  const seeds = ['n1', 'n2', 'n3'];
  const all = [...seeds, 'j1', 'j2'];
  const eps = await sim.startAll(seeds);
  for (const id of ['j1', 'j2']) eps.push(sim.open(id, seeds));
  await sim.run(Promise.all(eps.map((ep) => ep.ready)), 20_000);
  for (const ep of eps) await sim.run(h.join(ep, 'g'));
  return { sim, h, seeds, all };
}

/** All of `ids` end in one network view of five, and the histories break no guarantee. */
async function oneNetwork(sim: Simulation, h: Histories, ids: readonly string[]): Promise<void> {
  await sim.runUntil(() => new Set(ids.map((id) => netView(sim, id))).size === 1 && netView(sim, 'n1').split(',').length === 5, 20_000);
  const v = checkHistories(h.all, { quiescent: true });
  assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
}

test('seeds that heard of a network living on only in joiners wait for it, never found a second one', async () => {
  // Seeds n1 n2 n3, joiners j1 j2. The view shrinks to n1 j1 j2 (n2 and n3 crash),
  // then j1 j2 are cut off and remove n1. n2 and n3 restart and hear of the network
  // from n1 (still a member of its stale view); then n1 crashes and restarts too.
  // Every seed is now a fresh process, but two of them know the network's view, with
  // only one of its three members proven gone: they must wait for it. Before, they
  // gave up after three suspicion timeouts of silence and founded with n1.
  const { sim, h, seeds, all } = await seedsAndJoiners(5);
  for (const id of ['n2', 'n3']) {
    h.crash(id);
    await sim.runFor(3000);
  }
  assert.match(netView(sim, 'j1'), /\[n1,j[12],j[12]\]$/);
  sim.partition([
    ['n1', 'n2', 'n3'],
    ['j1', 'j2'],
  ]);
  await sim.runFor(3000);
  assert.match(netView(sim, 'j1'), /\[j[12],j[12]\]$/);
  for (const id of ['n2', 'n3']) sim.open(id, seedsOf(id, seeds));
  await sim.runUntil(() => ['n2', 'n3'].every((id) => sim.endpoint(id).status().endpoint.phase === 'joining'), 5000);
  h.crash('n1');
  sim.open('n1', seedsOf('n1', seeds));
  await sim.runFor(10_000);
  // Every seed address is a fresh process, but n2 and n3 know the network lives on.
  assert.equal(sim.endpoint('n1').status().endpoint.phase, 'bootstrapping');
  for (const id of ['n2', 'n3']) assert.equal(sim.endpoint(id).status().endpoint.phase, 'joining', `${id} is ${netView(sim, id)}`);
  sim.heal();
  await oneNetwork(sim, h, all);
});

test('every seed restarting at once while the network lives on in joiners only: the network announces itself to the seed addresses, and they join it', async () => {
  // Seeds n1 n2 n3, joiners j1 j2 (seeded with n1 n2 n3). The seeds crash one by one,
  // so the view shrinks to j1 j2 legitimately; then all three seeds restart together,
  // fresh. Nothing they hold tells them of the network: before, they found a second
  // one (G9). The coordinator of a view without seed members now announces the view to
  // the seed addresses, so they learn of the network and join it.
  const { sim, h, seeds, all } = await seedsAndJoiners(21);
  for (const id of seeds) {
    h.crash(id);
    await sim.runFor(3000);
  }
  assert.match(netView(sim, 'j1'), /\[j[12],j[12]\]$/);
  for (const id of seeds) sim.open(id, seedsOf(id, seeds));
  await oneNetwork(sim, h, all);
});
