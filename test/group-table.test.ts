/**
 * The replicated group table: who is in a group at each position, view ids, and who
 * owes a joiner its state — including takeover when a provider departs and the choice
 * of providers that never wait on the joiner. Scripted inputs, exact expectations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupTable } from '../src/core/group-table.js';
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
  const copy = GroupTable.from(t.snapshot());
  assert.deepEqual(copy.snapshot(), t.snapshot());
  assert.equal(copy.awaiting('g', m('b'))?.provider?.id, 'a');
});
