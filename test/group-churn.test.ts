/**
 * Group churn in the simulator: an application that joins and leaves many distinct,
 * short-lived groups (a group per session, per document, per call). Every endpoint
 * keeps the group table, processes it at each view change and ships it in the welcome
 * of every joiner, so the records of groups that have no members any more must go —
 * at the same position everywhere, and without a dropped group that is joined again
 * ever reusing a view id. The per-group counters of groups an endpoint left go too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GroupTable } from '../src/core/groups/group-table.js';
import type { Message, WelcomeMsg } from '../src/core/types.js';
import type { Endpoint, GroupEvent } from '../src/endpoint.js';
import { Simulation } from '../src/sim/simulation.js';
import { encodeMessage } from '../src/wire/codec.js';

/** The endpoint's replicated group table (internal: reached through the core). */
const tableOf = (ep: Endpoint): GroupTable => (ep as unknown as { core: { groupTable: GroupTable } }).core.groupTable;

/** Record every welcome `ep` receives from now on (until its core is replaced). */
function watchWelcomes(ep: Endpoint): WelcomeMsg[] {
  const core = (ep as unknown as { core: { receive(now: number, from: string, msg: Message): void } }).core;
  const seen: WelcomeMsg[] = [];
  const receive = core.receive.bind(core);
  core.receive = (now, from, msg) => {
    if (msg.t === 'welcome') seen.push(msg);
    receive(now, from, msg);
  };
  return seen;
}

const session = (i: number): string => `session/${String(i).padStart(6, '0')}/${'x'.repeat(40)}`;

test('join and leave of 2,000 distinct groups, and groups whose members all crashed, leave no records: tables, counters and a joiner’s welcome stay small', { timeout: 120_000 }, async () => {
  const sim = new Simulation({ seed: 2, endpoint: { suspectTimeoutMs: 1000 } });
  const [a, b, c, e] = await sim.startAll(['a', 'b', 'c', 'e']);
  assert.ok(a !== undefined && b !== undefined && c !== undefined && e !== undefined);
  // One group lives on throughout: it must be kept, and shipped.
  await sim.run(b.join('kept'));

  // Sessions of one member, and every tenth of two (the second leaves last).
  const K = 2000;
  for (let i = 0; i < K; i++) {
    const g = await sim.run(a.join(session(i)));
    const h = i % 10 === 0 ? await sim.run(c.join(session(i))) : null;
    if (i % 100 === 0) await sim.run(g.multicast(new Uint8Array(10)));
    await sim.run(g.leave());
    if (h !== null) await sim.run(h.leave());
  }
  // Groups whose members all crash: the view change that removes e drops them.
  for (let i = K; i < K + 50; i++) await sim.run(e.join(session(i)));
  assert.equal(tableOf(a).snapshot().length, 51, 'e’s groups are there while e is');
  sim.crash('e');
  await sim.runUntil(() => a.view.members.length === 3);
  await sim.runFor(2000);

  for (const ep of [a, b, c]) {
    assert.deepEqual(tableOf(ep).snapshot().map((r) => r.name), ['kept'], `${ep.id}: only the group with members is left`);
    assert.equal(tableOf(ep).viewIdFloor, tableOf(a).viewIdFloor, `${ep.id}: the same floor everywhere`);
  }
  assert.ok(tableOf(a).viewIdFloor >= 2 * K, 'every dropped group’s ids are remembered in the floor');
  assert.deepEqual([a.counters.groups.size, b.counters.groups.size, c.counters.groups.size], [0, 1, 0], 'counters of groups left are gone');
  const sent = a.status().counters;
  assert.deepEqual([sent.messagesSent, sent.bytesSent, a.counters.retired.multicasts], [K / 100, K / 10, K / 100], 'totals keep what the dropped counters counted');

  // A new endpoint joins: its welcome holds the one live group, not 2,050.
  const d = sim.open('d', ['a', 'b', 'c']);
  const welcomes = watchWelcomes(d);
  await sim.run(d.ready, 20_000);
  const [w] = welcomes;
  assert.ok(w !== undefined, 'd was welcomed');
  assert.deepEqual(w.groups.map((r) => r.name), ['kept']);
  const bytes = encodeMessage(w).length;
  assert.ok(bytes < 400, `the welcome is ${bytes} bytes`);
  assert.deepEqual([tableOf(d).snapshot(), tableOf(d).viewIdFloor], [tableOf(a).snapshot(), tableOf(a).viewIdFloor], 'the joiner’s table is everyone’s');

  // A dropped group joined again: the old member a and the joiner d agree on its view
  // ids, and a's continue above those it saw in the group's first life.
  const views = new Map<string, number[]>();
  const record = (id: string) => (ev: GroupEvent) => {
    if (ev.type === 'view') views.set(id, [...(views.get(id) ?? []), ev.view.id]);
  };
  const floor = tableOf(a).viewIdFloor;
  const ga = await sim.run(a.join(session(0), { onEvent: record('a') }));
  const gd = await sim.run(d.join(session(0), { onEvent: record('d') }));
  await sim.runFor(500);
  assert.deepEqual(views.get('a'), [floor + 1, floor + 2], 'a’s views of the second life continue above every dropped id');
  assert.deepEqual(views.get('d'), [floor + 2], 'd’s first view is a’s second');
  assert.deepEqual(tableOf(d).snapshot(), tableOf(a).snapshot());
  await sim.run(Promise.all([ga.leave(), gd.leave()]));
  await sim.runFor(500);
  for (const ep of [a, b, c, d]) assert.deepEqual(tableOf(ep).snapshot().map((r) => r.name), ['kept'], ep.id);
});
