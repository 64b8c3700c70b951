/**
 * The checker across networks: a network founded anew after a total failure starts
 * its groups over (view ids from 1, empty state), which is a new history, not a fork;
 * but two networks live at the same time are a split brain (G9). Hand-made histories.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHistories } from '../src/check/checker.js';
import type { HistoryEvent, MemberHistory } from '../src/check/history.js';

function view(network: string, viewId: number, members: string[], time: number): HistoryEvent {
  return { type: 'view', group: 'g', viewId, members, joined: viewId === 1 ? members : [], left: [], failed: [], network, time };
}
function msg(viewId: number, sender: string, n: number, time: number): HistoryEvent {
  return { type: 'message', group: 'g', viewId, sender, msgId: `${sender}:g:${n}`, senderSeq: n, time };
}
function send(n: number, sender: string, time: number): HistoryEvent {
  return { type: 'send', group: 'g', msgId: `${sender}:g:${n}`, senderSeq: n, time };
}
/** Two members of network `net`, live from `t` to `t + 10`, each sending one message. */
function network(net: string, a: string, b: string, t: number, end: MemberHistory['end']): MemberHistory[] {
  return [
    { member: a, end, events: [view(net, 1, [a, b], t), send(1, a, t + 1), msg(1, a, 1, t + 5), msg(1, b, 1, t + 10)] },
    { member: b, end, events: [view(net, 1, [a, b], t), send(1, b, t + 1), msg(1, a, 1, t + 5), msg(1, b, 1, t + 10)] },
  ];
}

test('a network founded after the old one went quiet is a new history of its groups, not a fork', () => {
  const old = network('a#1/1', 'a#1', 'b#1', 0, 'crashed');
  const next = network('a#2/1', 'a#2', 'b#2', 100, 'up');
  assert.deepEqual(checkHistories([...old, ...next], { quiescent: true }), []);
});

test('two networks live at once are two primary components (G9)', () => {
  const old = network('a#1/1', 'a#1', 'b#1', 0, 'up');
  const next = network('c#1/1', 'c#1', 'd#1', 5, 'up');
  const v = checkHistories([...old, ...next], { quiescent: true });
  assert.ok(v.some((x) => x.guarantee === 'G9' && /two networks live at once/.test(x.message)), JSON.stringify(v));
});

test('without network names the same histories are judged as one network: the fork shows as G4/G9', () => {
  const strip = (hs: MemberHistory[]): MemberHistory[] => hs.map((h) => ({ ...h, events: h.events.map((e) => (e.type === 'view' ? { ...e, network: '' } : e)) }));
  const v = checkHistories(strip([...network('x', 'a#1', 'b#1', 0, 'crashed'), ...network('y', 'a#2', 'b#2', 100, 'up')]), { quiescent: true });
  assert.ok(v.some((x) => x.guarantee === 'G4' || x.guarantee === 'G9'), JSON.stringify(v));
});
