/**
 * The replicated group table: who is in a group at each position, view ids, and who
 * owes a joiner its state — including takeover when a provider departs and the choice
 * of providers that never wait on the joiner. Scripted inputs, exact expectations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupTable } from '../src/core/groups/group-table.js';
import type { MemberRef } from '../src/core/types.js';

const m = (id: string): MemberRef => ({ id, inc: 1 });
const ids = (xs: readonly MemberRef[]): string[] => xs.map((x) => x.id);
const pos = (epoch: number, gseq: number) => ({ epoch, gseq });

test('the first member founds a group without state; later joiners get the oldest as provider', () => {
  const t = new GroupTable();
  const c1 = t.join('g', m('a'), pos(1, 1))!;
  assert.deepEqual([c1.viewId, ids(c1.members), ids(c1.fresh), c1.transfers.length], [1, ['a'], ['a'], 0]);
  const c2 = t.join('g', m('b'), pos(1, 2))!;
  assert.deepEqual([c2.viewId, ids(c2.members)], [2, ['a', 'b']]);
  assert.deepEqual(c2.transfers.map((x) => [x.member.id, x.provider?.id, x.pos.gseq]), [['b', 'a', 2]]);
  assert.equal(t.join('g', m('b'), pos(1, 3)), null, 'a second join of a member changes nothing');
  const c3 = t.join('g', m('c'), pos(1, 4))!;
  assert.deepEqual(c3.transfers.map((x) => x.provider?.id), ['a'], 'b still waits for its state, so a provides');
});

test('a departed provider is replaced at the view change; with nobody left the joiner starts empty', () => {
  const t = new GroupTable();
  t.join('g', m('a'), pos(1, 1));
  t.join('g', m('b'), pos(1, 2));
  t.stateDone('g', m('b'), pos(1, 9));
  assert.equal(t.awaiting('g', m('b'))?.provider?.id, 'a', 'a confirmation of another position changes nothing');
  t.stateDone('g', m('b'), pos(1, 2));
  assert.equal(t.awaiting('g', m('b')), undefined);
  t.join('g', m('c'), pos(1, 3));
  const [c] = t.removeEndpoints(new Map([['a#1', 'failed' as const]]), pos(2, 0));
  assert.deepEqual([c!.viewId, ids(c!.members), ids(c!.failed)], [4, ['b', 'c'], ['a']]);
  assert.deepEqual(c!.transfers.map((x) => [x.member.id, x.provider?.id, x.pos.epoch, x.pos.gseq]), [['c', 'b', 2, 0]]);
  const [d] = t.removeEndpoints(new Map([['b#1', 'failed' as const]]), pos(3, 0));
  assert.deepEqual([ids(d!.members), ids(d!.fresh), d!.transfers.length], [['c'], ['c'], 0]);
});

test('two orphaned joiners are never each other’s provider', () => {
  const t = new GroupTable();
  t.join('g', m('a'), pos(1, 1));
  t.join('g', m('b'), pos(1, 2));
  t.join('g', m('c'), pos(1, 3));
  const [c] = t.removeEndpoints(new Map([['a#1', 'failed' as const]]), pos(2, 0));
  assert.deepEqual(ids(c!.fresh).sort(), ['b', 'c']);
  assert.equal(c!.transfers.length, 0);
});

test('a provider that waits for the joiner (directly or not) is the last resort', () => {
  const t = new GroupTable();
  // x has the state of h; y has the state of g and waits for h from x... and x joins g.
  t.join('h', m('x'), pos(1, 1));
  t.join('g', m('y'), pos(1, 2));
  t.join('h', m('y'), pos(1, 3)); // y waits for h from x
  t.join('g', m('z'), pos(1, 4));
  t.stateDone('g', m('z'), pos(1, 4));
  const c = t.join('g', m('x'), pos(1, 5))!;
  // y has g's state but waits on x: z (free) provides instead.
  assert.deepEqual(c.transfers.map((a) => a.provider?.id), ['z']);
});

test('every network view change is a new view of every group with members', () => {
  const t = new GroupTable();
  t.join('g', m('a'), pos(1, 1));
  t.join('h', m('b'), pos(1, 2));
  t.leave('h', m('b'), pos(1, 3));
  const changes = t.removeEndpoints(new Map(), pos(2, 0));
  assert.deepEqual(changes.map((c) => [c.group, c.viewId, c.joined.length + c.left.length + c.failed.length]), [['g', 2, 0]]);
  const again = t.join('h', m('c'), pos(2, 1))!;
  assert.equal(again.viewId, 3, 'view ids keep increasing after a group empties');
});

test('snapshots round-trip through a welcome', () => {
  const t = new GroupTable();
  t.join('g', m('a'), pos(1, 1));
  t.join('g', m('b'), pos(1, 2));
  const copy = GroupTable.from(t.snapshot(), t.viewIdFloor);
  assert.deepEqual(copy.snapshot(), t.snapshot());
  assert.equal(copy.awaiting('g', m('b'))?.provider?.id, 'a');
});

// ------------------------------------------------------------------ groups with no members

type Departed = ReadonlyMap<string, 'left' | 'failed'>;
/** One step of a script: an entry of the order, or a view install's removals. */
type Step =
  | { readonly join: string; readonly by: string }
  | { readonly leave: string; readonly by: string }
  | { readonly done: string; readonly by: string; readonly at: number }
  | { readonly view: Departed };

/** Apply `steps` to `t` at consecutive positions (a view install starts a new epoch); returns the last change of every group. */
function play(t: GroupTable, steps: readonly Step[]): Map<string, { viewId: number; members: string[] }> {
  const last = new Map<string, { viewId: number; members: string[] }>();
  let epoch = 1;
  let gseq = 0;
  for (const s of steps) {
    const at = pos(epoch, ++gseq);
    if ('view' in s) {
      epoch += 1;
      gseq = 0;
      for (const c of t.removeEndpoints(s.view, pos(epoch, 0))) last.set(c.group, { viewId: c.viewId, members: ids(c.members) });
      continue;
    }
    if ('done' in s) {
      t.stateDone(s.done, m(s.by), pos(1, s.at));
      continue;
    }
    const c = 'join' in s ? t.join(s.join, m(s.by), at) : t.leave(s.leave, m(s.by), at);
    if (c !== null) last.set(c.group, { viewId: c.viewId, members: ids(c.members) });
  }
  return last;
}

const failed = (...xs: string[]): Departed => new Map(xs.map((x) => [`${x}#1`, 'failed' as const]));
const leftNet = (...xs: string[]): Departed => new Map(xs.map((x) => [`${x}#1`, 'left' as const]));

test('the change that leaves a group without members drops its record, at that very step', () => {
  const cases: { name: string; steps: Step[]; lastViewId: number }[] = [
    { name: 'its only member leaves', steps: [{ join: 'g', by: 'a' }, { leave: 'g', by: 'a' }], lastViewId: 2 },
    {
      name: 'its members leave one after the other',
      steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { done: 'g', by: 'b', at: 2 }, { leave: 'g', by: 'a' }, { leave: 'g', by: 'b' }],
      lastViewId: 4,
    },
    {
      name: 'every member fails at one view change',
      steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { done: 'g', by: 'b', at: 2 }, { view: failed('a', 'b') }],
      lastViewId: 3,
    },
    { name: 'every member leaves the network', steps: [{ join: 'g', by: 'a' }, { view: leftNet('a') }], lastViewId: 2 },
    {
      name: 'one member leaves, the other fails',
      steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { view: new Map([['a#1', 'left' as const], ['b#1', 'failed' as const]]) }],
      lastViewId: 3,
    },
    {
      name: 'a joiner still waiting for its state fails with its provider',
      steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { view: failed('a', 'b') }],
      lastViewId: 3,
    },
    {
      name: 'the provider fails, then the orphaned joiner (started empty) leaves',
      steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { view: failed('a') }, { leave: 'g', by: 'b' }],
      lastViewId: 4,
    },
  ];
  for (const c of cases) {
    const t = new GroupTable();
    t.join('other', m('z'), pos(1, 999));
    const last = play(t, c.steps);
    assert.deepEqual(last.get('g'), { viewId: c.lastViewId, members: [] }, `${c.name}: the emptying change is reported`);
    assert.deepEqual(t.snapshot().map((r) => r.name), ['other'], `${c.name}: only the group with members is left`);
    assert.equal(t.viewIdFloor, c.lastViewId, `${c.name}: the floor is the dropped group's last view id`);
    assert.deepEqual([t.members('g'), t.viewId('g'), t.owes('g', m('a')), t.groupsOf(m('a'))], [[], 0, false, []], c.name);
  }
});

test('a group that still has a member is kept, also when that member waits for its state or lost its provider', () => {
  const cases: { name: string; steps: Step[]; members: string[]; awaiting: string[] }[] = [
    { name: 'one of two leaves', steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { leave: 'g', by: 'a' }], members: ['b'], awaiting: [] },
    { name: 'the joiner waits for the state', steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }], members: ['a', 'b'], awaiting: ['b'] },
    {
      name: 'the provider fails; a second old member takes over',
      steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'c' }, { done: 'g', by: 'c', at: 2 }, { join: 'g', by: 'b' }, { view: failed('a') }],
      members: ['c', 'b'],
      awaiting: ['b'],
    },
    { name: 'the provider fails; the joiner starts empty', steps: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { view: failed('a') }], members: ['b'], awaiting: [] },
    { name: 'a view change removes nobody', steps: [{ join: 'g', by: 'a' }, { view: new Map() }], members: ['a'], awaiting: [] },
  ];
  for (const c of cases) {
    const t = new GroupTable();
    play(t, c.steps);
    const [r, ...rest] = t.snapshot();
    assert.equal(rest.length, 0, c.name);
    assert.deepEqual([r?.name, ids(r?.members ?? []), ids((r?.awaiting ?? []).map((a) => a.member))], ['g', c.members, c.awaiting], c.name);
    assert.equal(t.viewIdFloor, 0, `${c.name}: nothing was dropped`);
  }
});

test('a group joined again after it was dropped is a new group whose view ids continue above every dropped one', () => {
  const cases: { name: string; before: Step[] }[] = [
    { name: 'left by its only member', before: [{ join: 'g', by: 'a' }, { leave: 'g', by: 'a' }] },
    { name: 'its members failed', before: [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { done: 'g', by: 'b', at: 2 }, { view: failed('a', 'b') }] },
    { name: 'a provider owed a state when all failed', before: [{ join: 'g', by: 'a' }, { join: 'g', by: 'c' }, { view: failed('a', 'c') }] },
    {
      name: 'another group, with higher ids, was dropped later',
      before: [
        { join: 'g', by: 'a' },
        { leave: 'g', by: 'a' },
        { join: 'h', by: 'x' },
        { join: 'h', by: 'y' },
        { done: 'h', by: 'y', at: 4 },
        { view: new Map() },
        { leave: 'h', by: 'x' },
        { view: leftNet('y') },
      ],
    },
  ];
  for (const c of cases) {
    const t = new GroupTable();
    const seen = play(t, c.before);
    const highest = Math.max(...[...seen.values()].map((v) => v.viewId));
    assert.equal(t.snapshot().length, 0, `${c.name}: dropped`);
    assert.equal(t.viewIdFloor, highest, c.name);
    // The old members come back as new members: the record remembers nothing of them.
    const again = t.join('g', m('b'), pos(9, 1))!;
    assert.deepEqual(
      [again.viewId, ids(again.members), ids(again.joined), ids(again.fresh), again.transfers.length, ids(t.members('g'))],
      [highest + 1, ['b'], ['b'], ['b'], 0, ['b']],
      `${c.name}: a brand-new group, founded by its first joiner without state`,
    );
    assert.deepEqual([t.has('g', m('a')), t.owes('g', m('a')), t.awaiting('g', m('b')), t.groupsOf(m('a'))], [false, false, undefined, []], c.name);
    const second = t.join('g', m('a'), pos(9, 2))!;
    assert.deepEqual([second.viewId, second.transfers.map((x) => x.provider?.id)], [highest + 2, ['b']], `${c.name}: the next joiner gets the state of the new life`);
  }
});

test('a joiner’s table from a welcome continues view ids exactly like the table it was copied from', () => {
  const t = new GroupTable();
  play(t, [{ join: 'g', by: 'a' }, { join: 'g', by: 'b' }, { leave: 'g', by: 'b' }, { leave: 'g', by: 'a' }, { join: 'h', by: 'a' }]);
  assert.deepEqual([t.snapshot().map((r) => r.name), t.viewIdFloor], [['h'], 4]);
  const copy = GroupTable.from(t.snapshot(), t.viewIdFloor);
  assert.equal(copy.viewIdFloor, 4);
  const a = t.join('g', m('c'), pos(2, 1))!;
  const b = copy.join('g', m('c'), pos(2, 1))!;
  assert.deepEqual(b, a);
  assert.equal(a.viewId, 5);
});

test('join and leave of many distinct groups leave nothing behind', () => {
  const t = new GroupTable();
  t.join('kept', m('a'), pos(1, 1));
  let gseq = 1;
  for (let i = 0; i < 3000; i++) {
    const name = `session/${i}`;
    assert.equal(t.join(name, m(i % 2 === 0 ? 'a' : 'b'), pos(1, ++gseq))?.viewId, 2 * i + 1, 'each new group starts above the last dropped one');
    t.leave(name, m(i % 2 === 0 ? 'a' : 'b'), pos(1, ++gseq));
  }
  assert.deepEqual(t.snapshot().map((r) => r.name), ['kept']);
  assert.equal(t.viewIdFloor, 6000);
  // A view change has one group to process, not 3001.
  assert.deepEqual(t.removeEndpoints(new Map(), pos(2, 0)).map((c) => c.group), ['kept']);
});
