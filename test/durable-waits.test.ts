/**
 * The waits of durable multicasts, alone: a wait is met once enough members of its
 * group's view told a position at or past its own, waits of a group settle in order,
 * and a wait whose members left the network without telling rejects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurableWaits } from '../src/api/durable-waits.js';
import type { Durability, DurableWait } from '../src/api/durable-waits.js';
import type { MemberRef, Position } from '../src/core/types.js';

const m = (id: string): MemberRef => ({ id, inc: 1 });
const abc = [m('a'), m('b'), m('c')];
const at = (epoch: number, gseq: number): Position => ({ epoch, gseq });

function wait(level: Exclude<Durability, 'none'>, pos: Position, members: readonly MemberRef[], log: string[], name: string, group = 'g'): DurableWait {
  return { level, group, pos, members, done: false, settle: (err) => log.push(err === null ? `${name} ok` : `${name} ${(err as { code?: string }).code}`) };
}

test('majority needs two of three at or past the position; all needs three; local needs this member', () => {
  const log: string[] = [];
  const w = new DurableWaits('a');
  w.view(abc);
  w.delivered(wait('majority', at(1, 5), abc, log, 'maj'));
  w.onTold(m('a'), at(1, 9));
  assert.deepEqual(log, []);
  w.onTold(m('b'), at(1, 4));
  assert.deepEqual(log, [], 'b is before the position');
  w.onTold(m('b'), at(2, 0));
  assert.deepEqual(log, ['maj ok'], 'a later epoch is past every position of the one before');
  w.delivered(wait('all', at(2, 3), abc, log, 'all', 'h'));
  w.delivered(wait('local', at(2, 7), abc, log, 'loc', 'k'));
  w.onTold(m('a'), at(2, 7));
  assert.deepEqual(log, ['maj ok', 'loc ok']);
  w.onTold(m('b'), at(2, 3));
  w.onTold(m('c'), at(2, 3));
  assert.deepEqual(log, ['maj ok', 'loc ok', 'all ok']);
  assert.equal(w.size, 0);
});

test("a group's waits settle in order; one whose members left without telling rejects, and the next goes on", () => {
  const log: string[] = [];
  const w = new DurableWaits('a');
  w.view(abc);
  w.delivered(wait('all', at(1, 1), abc, log, 'first'));
  w.delivered(wait('majority', at(1, 2), abc, log, 'second'));
  w.onTold(m('a'), at(1, 2));
  w.onTold(m('b'), at(1, 2));
  assert.deepEqual(log, [], 'the second is met, but waits behind the first');
  w.view([m('a'), m('b')]);
  assert.deepEqual(log, ['first ERR_NOT_DURABLE', 'second ok']);
});

test('a wait settled elsewhere (rejected at a close) leaves its queue', () => {
  const log: string[] = [];
  const w = new DurableWaits('a');
  w.view(abc);
  const first = wait('all', at(1, 1), abc, log, 'first');
  w.delivered(first);
  w.delivered(wait('local', at(1, 2), abc, log, 'second'));
  first.done = true;
  w.onTold(m('a'), at(1, 2));
  assert.deepEqual(log, ['first ok', 'second ok'], 'a done wait is passed (its settle is a no-op in PendingCalls)');
});
