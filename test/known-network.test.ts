/**
 * `KnownNetwork`: when a starting endpoint may treat a network it heard of as gone.
 * A network is gone only when a majority of its last known view is proven gone — a
 * refused address or another incarnation answering there; silence proves nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KnownNetwork } from '../src/core/known-network.js';
import type { EndpointView, MemberInfo } from '../src/core/types.js';

const m = (id: string, inc = 1): MemberInfo => ({ id, inc, addr: `${id}:1` });
const view = (epoch: number, ...members: MemberInfo[]): EndpointView => ({ epoch, members });

test('nothing known: dead (a fresh endpoint may found)', () => {
  assert.equal(new KnownNetwork().dead, true);
});

test('a majority proven gone, and only then, makes the known network dead', () => {
  const rows: { size: number; gone: number; dead: boolean }[] = [
    { size: 1, gone: 0, dead: false },
    { size: 1, gone: 1, dead: true },
    { size: 2, gone: 1, dead: false },
    { size: 2, gone: 2, dead: true },
    { size: 3, gone: 1, dead: false },
    { size: 3, gone: 2, dead: true },
    { size: 4, gone: 2, dead: false },
    { size: 4, gone: 3, dead: true },
    { size: 5, gone: 2, dead: false },
    { size: 5, gone: 3, dead: true },
  ];
  for (const r of rows) {
    const k = new KnownNetwork();
    const members = Array.from({ length: r.size }, (_, i) => m(`n${i}`));
    k.learn(view(3, ...members));
    for (let i = 0; i < r.gone; i++) k.refused(members[i]!.addr);
    assert.equal(k.dead, r.dead, `view of ${r.size}, ${r.gone} gone`);
  }
});

test('another incarnation answering at an address proves that member gone; the same one does not', () => {
  const k = new KnownNetwork();
  k.learn(view(2, m('a'), m('b'), m('c')));
  k.answered('a:1', { id: 'a', inc: 1 }); // the member itself (a late answer): proves nothing
  k.answered('b:1', { id: 'b', inc: 7 }); // restarted
  assert.equal(k.goneCount, 1);
  assert.equal(k.dead, false);
  k.answered('c:1', { id: 'x', inc: 1 }); // another process listens there now
  assert.equal(k.dead, true);
  k.answered('z:1', { id: 'z', inc: 1 }); // not in the view: ignored
  assert.equal(k.goneCount, 2);
});

test('a later view keeps the gone members it still holds and drops the others', () => {
  const k = new KnownNetwork();
  k.learn(view(2, m('a'), m('b'), m('c')));
  k.refused('b:1');
  k.refused('c:1');
  assert.equal(k.dead, true);
  // The network went on: b was replaced by its new incarnation, c is still listed.
  k.learn(view(3, m('a'), m('c'), m('b', 2), m('d')));
  assert.equal(k.goneCount, 1);
  assert.equal(k.dead, false);
  assert.deepEqual(k.addresses(), ['a:1', 'c:1', 'b:1', 'd:1']);
});

test('an empty view teaches nothing', () => {
  const k = new KnownNetwork();
  k.learn(view(0));
  assert.equal(k.view, null);
});
