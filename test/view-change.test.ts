/**
 * The view change under the schedules that once broke it, each replayed in the
 * simulator with single messages lost or delayed at the worst moment, and judged by
 * the checker (G1–G11) and by the direct property the schedule attacks.
 *
 * - A member that promised a ballot must vouch for nothing more: an old sequencer
 *   that missed the prepare (paused, the prepare to it lost) must not commit, and
 *   deliver, entries beyond the cut the next view is built on.
 * - A member that holds an entry's order record but received its data only with an
 *   accept must report the entry in a later promise: the next proposer must find
 *   every entry of the cut it proposes again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHistories, formatViolations } from '../src/check/checker.js';
import { Simulation } from '../src/sim/simulation.js';
import { Histories } from './histories.js';

/** "epoch[a,b,c]" of endpoint `id`, or "down". */
function netView(sim: Simulation, id: string): string {
  if (!sim.isUp(id)) return 'down';
  const v = sim.endpoint(id).view;
  return v === null ? '?' : `${v.epoch}[${v.members.map((m) => m.id).join(',')}]`;
}

for (const safe of [false, true]) {
  test(`an old sequencer that missed the prepare delivers nothing beyond the cut (${safe ? 'safe' : 'agreed'} multicasts)`, async () => {
    // Four members, n1 the sequencer. n1 pauses; n4 then n3 multicast (held at n1 in
    // that order). n2..n4 suspect n1 and n2 proposes; its prepare to n1 is lost and
    // its accepts are late, and n1 resumes in that window and multicasts a safe
    // message. Before the fix the wedged members acked n1's new order records, n1
    // committed n4's message before n3's and delivered its safe message; the new view
    // ordered them differently, without n1's.
    const sim = new Simulation({ seed: 1, endpoint: { suspectTimeoutMs: 1000 } });
    const h = new Histories(sim);
    const eps = await sim.startAll(['n1', 'n2', 'n3', 'n4']);
    for (const ep of eps) await sim.run(h.join(ep, 'g'));
    await sim.runFor(500);
    const [n1, , n3, n4] = eps as [typeof eps[0], typeof eps[0], typeof eps[0], typeof eps[0]];
    assert.equal(n1.view?.members[0]?.id, 'n1');
    const T = sim.now;
    let resumed = false;
    let acceptGate = Infinity;
    const seen = new Set<string>();
    sim.network.dropWhen((_from, to, msg) => {
      seen.add(msg.t);
      return (msg.t === 'prepare' && to === 'n1' && !resumed) || (msg.t === 'accept' && !msg.commit && sim.now < acceptGate);
    });
    sim.pause('n1');
    sim.scheduler.at(T + 100, () => h.send(n4, 'g', safe));
    sim.scheduler.at(T + 200, () => h.send(n3, 'g', safe));
    let n1Send: ReturnType<Histories['send']> | null = null;
    sim.scheduler.at(T + 1150, () => {
      sim.resume('n1');
      resumed = true;
      acceptGate = sim.now + 150;
      sim.slowLink('n4', 'n2', 30);
    });
    sim.scheduler.at(T + 1151, () => {
      if (n1.group('g')?.view !== null) n1Send = h.send(n1, 'g', true);
    });
    await sim.runFor(4000);
    sim.heal();
    sim.network.dropWhen(null);
    await sim.runFor(3000);
    assert.ok(seen.has('prepare') && seen.has('accept'), 'the schedule saw no prepare or accept: it no longer attacks the view change');
    assert.ok(n1Send !== null, 'n1 multicast nothing after it resumed');

    const v = checkHistories(h.all, { quiescent: false });
    assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
    const m1 = Histories.delivered(h.byId('n1')[0]!, 'g');
    const survivors = h.all.filter((x) => !x.member.startsWith('n1#') && x.end === 'up');
    assert.equal(survivors.length, 3);
    for (const s of survivors) {
      const m2 = Histories.delivered(s, 'g');
      const common = m1.filter((x) => m2.includes(x));
      assert.deepEqual(common, m2.filter((x) => m1.includes(x)), `n1 and ${s.member} delivered their common messages in different orders`);
    }
    const sent = n1Send as ReturnType<Histories['send']> | null;
    if (sent?.resolvedAt !== undefined) {
      for (const s of survivors) assert.ok(Histories.delivered(s, 'g').includes(sent.msgId), `n1's safe multicast resolved at ${sent.resolvedAt} but ${s.member} never delivered it`);
    }
  });
}

test('an entry whose data came only with an accept is in a later promise: the next proposer finds the whole cut', async () => {
  // Five members, n1 the sequencer. n2's lone multicast goes to n1, which orders it
  // and passes the data on with its order record; the data to n3..n5 is lost, the
  // records arrive. n1 crashes; n2 proposes, its accept (with the data) reaches n3
  // only, and no `accepted` comes back. n2 crashes; n3 proposes and must re-propose
  // n2's accepted cut, whose last entry n3 holds as a record plus the accept's data.
  // Before the fix n3's promise left that entry out and the proposer threw
  // "entry g of the cut … is held by no promiser".
  const sim = new Simulation({ seed: 5, endpoint: { suspectTimeoutMs: 1000 } });
  const h = new Histories(sim);
  const eps = await sim.startAll(['n1', 'n2', 'n3', 'n4', 'n5']);
  for (const ep of eps) await sim.run(h.join(ep, 'g'));
  await sim.runFor(500);
  let phase: 'relay' | 'after' = 'relay';
  const seen = new Set<string>();
  sim.network.dropWhen((from, to, msg) => {
    if (phase !== 'relay') return false;
    seen.add(msg.t);
    if (from === 'n1' && msg.t === 'data' && ['n3', 'n4', 'n5'].includes(to)) return true;
    if (from === 'n2' && msg.t === 'accept' && (to === 'n4' || to === 'n5')) return true;
    return msg.t === 'accepted' && to === 'n2';
  });
  const T = sim.now;
  h.send(eps[1]!, 'g');
  sim.scheduler.at(T + 12, () => h.crash('n1'));
  sim.scheduler.at(T + 150, () => {
    h.crash('n2');
    phase = 'after';
  });
  await sim.runFor(6000);
  const settled = (): boolean => {
    const vs = ['n3', 'n4', 'n5'].map((id) => netView(sim, id));
    return new Set(vs).size === 1 && vs[0] === `${sim.endpoint('n3').view?.epoch}[n3,n4,n5]`;
  };
  await sim.runUntil(settled, 30_000);
  assert.ok(seen.has('data') && seen.has('accept'), 'the schedule saw no data or accept: it no longer attacks the view change');
  const v = checkHistories(h.all, { quiescent: true });
  assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
});

test('a blocked member whose last view is gone finds the network again at its seed addresses', async () => {
  // a..e, each seeded with all. a and b crash (view c,d,e); e is cut off and c, d
  // remove it (e never hears of it); a and b restart with their seeds and join; c and
  // d stop gracefully; the partition heals. Every other member of e's last view is
  // gone, but live members answer at its seed addresses. Before the fix a blocked
  // member never probed again and stayed blocked for good.
  const sim = new Simulation({ seed: 11, endpoint: { suspectTimeoutMs: 1000 } });
  const h = new Histories(sim);
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const seedsOf = (id: string): string[] => ids.filter((x) => x !== id);
  // The application joins g again whenever it is told `excluded`.
  const joinG = (id: string): void => {
    const ep = sim.endpoint(id);
    if (ep.group('g') !== undefined) return;
    const again = (): void => {
      sim.scheduler.after(50, () => {
        if (sim.isUp(id)) joinG(id);
      });
    };
    h.join(ep, 'g', again).catch(() => sim.scheduler.after(500, () => (sim.isUp(id) ? joinG(id) : undefined)));
  };
  await sim.startAll(ids);
  for (const id of ids) joinG(id);
  await sim.runUntil(() => ids.every((id) => sim.endpoint(id).group('g')?.view?.members.length === 5), 10_000);
  h.crash('a');
  await sim.runFor(3000);
  h.crash('b');
  await sim.runFor(3000);
  sim.partition([['e']]);
  await sim.runFor(3000);
  assert.equal(netView(sim, 'c'), netView(sim, 'd'));
  assert.ok(!netView(sim, 'c').includes('e'), 'c and d removed e');
  for (const id of ['a', 'b']) {
    const ep = sim.open(id, seedsOf(id));
    await sim.run(ep.ready, 20_000);
    joinG(id);
  }
  await sim.runFor(2000);
  for (const id of ['c', 'd']) {
    await sim.run(sim.endpoint(id).stop(), 20_000);
    for (const x of h.byId(id)) if (x.end === 'up') x.end = 'stopped';
    await sim.runFor(1000);
  }
  assert.equal(sim.endpoint('e').status().endpoint.phase, 'member');
  assert.ok(netView(sim, 'e').includes('c'), `e still sees its old view (${netView(sim, 'e')})`);
  sim.heal();
  const back = (): boolean => {
    const ve = sim.endpoint('e').group('g')?.view;
    const va = sim.endpoint('a').group('g')?.view;
    return ve != null && va != null && ve.id === va.id && ve.members.includes('e');
  };
  await sim.runUntil(back, 30_000);
  const v = checkHistories(h.all, { quiescent: true });
  assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
});

for (const [n, seed] of [
  [6, 1],
  [9, 2],
] as const) {
  test(`a one-way cut into the coordinator (${n} members): the majority removes it and delivers again within seconds`, async () => {
    // Nothing reaches n1, the coordinator, but its heartbeats still arrive, so nobody
    // suspects it by silence. Before the fix n1 suspected everyone and proposed, its
    // prepares wedged the others, who then all proposed at once and pre-empted each
    // other's ballots for minutes. Now n1, hearing no majority, proposes nothing and
    // says so in its heartbeats; the others remove it as `isolated`.
    const sim = new Simulation({ seed, endpoint: { suspectTimeoutMs: 1000 } });
    const h = new Histories(sim);
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const eps = await sim.startAll(ids);
    for (const ep of eps) await sim.run(h.join(ep, 'g'));
    await sim.runFor(500);
    sim.network.dropWhen((from, to) => to === 'n1' && from !== 'n1');
    const T = sim.now;
    // Every member but n1 multicasts every 100 ms from now on.
    const loop = (): void => {
      for (const ep of eps.slice(1)) if (ep.group('g')?.view != null) h.send(ep, 'g');
      if (sim.now - T < 12_000) sim.scheduler.after(100, loop);
    };
    sim.scheduler.after(100, loop);
    // A majority delivers a message multicast after the cut.
    const resumed = (): boolean => {
      let count = 0;
      for (const x of h.all) {
        if (x.member.startsWith('n1#')) continue;
        if (x.events.some((e) => e.type === 'message' && e.time! > T + 200)) count++;
      }
      return count >= Math.floor(n / 2) + 1;
    };
    await sim.runUntil(resumed, 10_000);
    const view = sim.endpoint('n2').view!;
    assert.deepEqual(
      view.members.map((m) => m.id),
      ids.slice(1),
    );
    const removal = h.byId('n2')[0]!.events.find((e) => e.type === 'view' && e.failed.some((f) => f.startsWith('n1#')));
    assert.ok(removal !== undefined, 'n2 saw a view that removed n1');
    const g = sim.endpoint('n2').group('g')!.view!;
    assert.deepEqual(
      g.failures.map((f) => [f.member, f.cause]),
      [['n1', 'isolated']],
      `the agreed reason: ${g.reason}`,
    );
    sim.network.dropWhen(null);
    await sim.runFor(3000);
    const v = checkHistories(h.all, { quiescent: false });
    assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
  });
}

for (const [cutFrom, cutTo, removed] of [
  ['n3', 'n1', 'n1'],
  ['n1', 'n2', 'n2'],
] as const) {
  test(`a lone observer does not remove a member the others hear: ${cutFrom}'s messages to ${cutTo} are lost, and ${removed} is the one removed`, async () => {
    // Five members, n1 the coordinator, n2 next in rank. Only one direction of one
    // link fails. The member that cannot hear proposes to remove the one it cannot
    // hear; the promises show that a majority hears that one well, so the proposer
    // is the one cut off: it says it is isolated and the others remove it. Before,
    // it removed the member everyone else heard (the coordinator, or a member that
    // then could never rejoin through a coordinator that could not hear it).
    const sim = new Simulation({ seed: 21, endpoint: { suspectTimeoutMs: 1000 } });
    const h = new Histories(sim);
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const eps = await sim.startAll(ids);
    for (const ep of eps) await sim.run(h.join(ep, 'g'));
    const inc = new Map(ids.map((id) => [id, sim.endpoint(id).incarnation]));
    sim.network.dropWhen((from, to) => from === cutFrom && to === cutTo);
    const others = ids.filter((id) => id !== removed);
    await sim.runUntil(() => others.every((id) => !netView(sim, id).includes(removed)), 10_000);
    for (const id of others) assert.equal(sim.endpoint(id).incarnation, inc.get(id), `${id} was removed too`);
    // It said it is isolated, or (when the link it cannot hear is the coordinator's)
    // the coordinator's next prepare found it silent too.
    const g = sim.endpoint(others[0]!).group('g')!.view!;
    assert.equal(g.failures.length, 1, g.reason);
    assert.equal(g.failures[0]!.member, removed, g.reason);
    assert.ok(['isolated', 'unresponsive'].includes(g.failures[0]!.cause), g.reason);
    sim.network.dropWhen(null);
    await sim.runFor(5000);
    const v = checkHistories(h.all, { quiescent: true });
    assert.equal(v.length, 0, formatViolations(v.slice(0, 6)));
  });
}
