/**
 * Choosing a proposal from promises, alone and with tables: Paxos's "the highest
 * accepted ballot wins", the founding rule that skips a proposal naming a gone
 * incarnation, the cut as the longest gap-free prefix the promisers hold, and the next
 * view's removals. No network, no clock: each row is promises in, a decision out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryKind, memberKey } from '../src/core/types.js';
import type { Ballot, Failure, LogEntry, MemberInfo, PromiseMsg, Proposal } from '../src/core/types.js';
import { cutEntries, cutOf, floorOf, foundingProposal, gatherCutLog, highestAccepted, nextView } from '../src/core/viewchange/choose.js';

const m = (id: string, inc = 1): MemberInfo => ({ id, inc, addr: `${id}:1` });
const a = m('a');
const b = m('b');
const c = m('c');

function entry(gseq: number, payload: Uint8Array | null = new Uint8Array([gseq])): LogEntry {
  return { gseq, sender: { id: 'a', inc: 1 }, seq: gseq, kind: EntryKind.app, group: 'g', safe: false, payload };
}

function view(epoch: number, members: MemberInfo[]): Proposal {
  return { view: { epoch, members }, cut: 0, joined: [], left: [], failed: [], failures: [], restored: [] };
}

function promise(from: MemberInfo, o: { accepted?: [Ballot, Proposal]; stable?: number; log?: LogEntry[] } = {}): PromiseMsg {
  return {
    t: 'promise',
    from: { id: from.id, inc: from.inc },
    addr: from.addr,
    epoch: 1,
    ballot: { round: 9, proposer: 'a#1' },
    acceptedBallot: o.accepted?.[0] ?? null,
    accepted: o.accepted?.[1] ?? null,
    held: 0,
    stable: o.stable ?? 0,
    log: o.log ?? [],
    heardAgoMs: [],
  };
}

const promises = (...ps: PromiseMsg[]): Map<string, PromiseMsg> => new Map(ps.map((p) => [memberKey(p.from), p]));

test('the highest accepted ballot is proposed again', () => {
  const pA = view(2, [a, b]);
  const pB = view(2, [a, c]);
  const rows: { name: string; ps: Map<string, PromiseMsg>; epoch: number; want: Proposal | null }[] = [
    { name: 'none accepted', ps: promises(promise(a), promise(b)), epoch: 1, want: null },
    { name: 'one accepted', ps: promises(promise(a), promise(b, { accepted: [{ round: 3, proposer: 'b#1' }, pA] })), epoch: 1, want: pA },
    {
      name: 'higher round wins',
      ps: promises(promise(a, { accepted: [{ round: 4, proposer: 'a#1' }, pB] }), promise(b, { accepted: [{ round: 3, proposer: 'b#1' }, pA] })),
      epoch: 1,
      want: pB,
    },
    {
      name: 'same round: higher proposer key wins',
      ps: promises(promise(a, { accepted: [{ round: 3, proposer: 'a#1' }, pB] }), promise(b, { accepted: [{ round: 3, proposer: 'b#1' }, pA] })),
      epoch: 1,
      want: pA,
    },
    {
      name: 'a founding naming an incarnation that did not promise is skipped',
      ps: promises(promise(a, { accepted: [{ round: 3, proposer: 'a#1' }, view(1, [a, m('b', 7)])] }), promise(b)),
      epoch: 0,
      want: null,
    },
    {
      name: 'a founding naming promisers is proposed again',
      ps: promises(promise(a, { accepted: [{ round: 3, proposer: 'a#1' }, view(1, [a, b])] }), promise(b)),
      epoch: 0,
      want: view(1, [a, b]),
    },
  ];
  for (const r of rows) assert.deepEqual(highestAccepted(r.ps, r.epoch)?.accepted ?? null, r.want, r.name);
});

test('the cut: the longest prefix the promisers hold between them, above the highest stable', () => {
  const ps = promises(promise(a, { stable: 2, log: [entry(3), entry(4)] }), promise(b, { stable: 3, log: [entry(4), entry(5), entry(7)] }), promise(c, { log: [entry(6, null)] }));
  const log = gatherCutLog(ps);
  assert.deepEqual([...log.keys()].sort(), [3, 4, 5, 7], 'an entry known without its data is no holding');
  assert.equal(floorOf(1, ps), 3);
  assert.equal(floorOf(5, ps), 5);
  assert.equal(cutOf(3, log), 5, 'entry 6 is held by nobody: the cut stops before it');
  assert.equal(cutOf(0, log), 0, 'nothing above the floor without a gap');
  assert.deepEqual(cutEntries(log, 5, 3).map((e) => e.gseq), [4, 5]);
  assert.deepEqual(cutEntries(log, 7, 0).map((e) => e.gseq), [3, 4, 5, 7]);
});

test('the founding view: every promiser, sorted by id then incarnation', () => {
  const p = foundingProposal(promises(promise(c), promise(m('a', 2)), promise(b)));
  assert.deepEqual(p.view.members.map(memberKey), ['a#2', 'b#1', 'c#1']);
  assert.deepEqual(p.joined, [{ id: 'a', inc: 2 }, { id: 'b', inc: 1 }, { id: 'c', inc: 1 }]);
  assert.equal(p.view.epoch, 1);
});

test('the next view: leavers left, silent, replaced and removed members failed, joiners last', () => {
  const d = m('d');
  const e = m('e');
  const why: string[] = [];
  const failureOf = (x: MemberInfo, promised: boolean, replaced: boolean): Failure => {
    why.push(`${memberKey(x)} promised=${promised} replaced=${replaced}`);
    return { member: { id: x.id, inc: x.inc }, by: { id: 'a', inc: 1 }, cause: replaced ? 'replaced' : 'unresponsive', silentMs: 0, verified: true };
  };
  const p = nextView(
    {
      epoch: 4,
      members: [a, b, c, d, e],
      joiners: [m('c', 2), m('f')],
      leaving: new Set(['b#1']),
      promises: new Map([['a#1', 1], ['b#1', 1], ['c#1', 1], ['e#1', 1]]),
      removed: (k) => k === 'e#1',
      failureOf,
    },
    17,
  );
  assert.equal(p.view.epoch, 5);
  assert.equal(p.cut, 17);
  assert.deepEqual(p.view.members.map(memberKey), ['a#1', 'c#2', 'f#1']);
  assert.deepEqual(p.left.map(memberKey), ['b#1']);
  assert.deepEqual(p.failed.map(memberKey), ['c#1', 'd#1', 'e#1']);
  assert.deepEqual(why, ['c#1 promised=true replaced=true', 'd#1 promised=false replaced=false', 'e#1 promised=true replaced=false']);
  assert.deepEqual(p.joined.map(memberKey), ['c#2', 'f#1']);
});
