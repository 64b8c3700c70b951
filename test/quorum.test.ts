/**
 * The quorum arithmetic alone, with tables (as raft tests its `quorum/` package): the
 * majority of a view, the quorum when members are gone for good, and the stable and
 * committed prefixes from the members' held prefixes. Each row would fail under an
 * off-by-one in the index or a sort in the wrong direction.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heldByAll, heldByMajority, majority, quorumSize, sortDescending } from '../src/core/quorum.js';

test('majority of a view', () => {
  const rows: [n: number, want: number][] = [[1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [6, 4], [7, 4], [100, 51]];
  for (const [n, want] of rows) assert.equal(majority(n), want, `majority(${n})`);
});

test('quorum with members gone for good', () => {
  // [view size, gone, quorum]: fewer gone than a majority → every member not gone,
  // capped at a majority; a majority or more gone → a majority (unreachable: blocked).
  const rows: [n: number, gone: number, want: number][] = [
    [3, 0, 2], [3, 1, 2], [3, 2, 2], [2, 1, 1], [2, 2, 2], [5, 1, 3], [5, 2, 3], [5, 3, 3], [4, 1, 3], [4, 2, 2], [1, 0, 1],
  ];
  for (const [n, gone, want] of rows) assert.equal(quorumSize(n, gone), want, `quorumSize(${n}, ${gone})`);
});

test('stable and committed prefixes from held prefixes', () => {
  // [helds in rank order, stable (all hold), committed (a majority holds)]
  const rows: [helds: number[], stable: number, committed: number][] = [
    [[5], 5, 5],
    [[5, 3], 3, 3],
    [[5, 3, 9], 3, 5],
    [[0, 0, 7], 0, 0],
    [[4, 4, 4, 1], 1, 4],
    [[10, 2, 8, 6, 4], 2, 6],
    [[1, 2, 3, 4, 5, 6], 1, 3],
    [Array.from({ length: 20 }, (_, i) => i + 1), 1, 10],
    [Array.from({ length: 21 }, (_, i) => 21 - i), 1, 11],
  ];
  for (const [helds, stable, committed] of rows) {
    const xs = [...helds];
    sortDescending(xs);
    assert.deepEqual(xs, [...helds].sort((a, b) => b - a), `sorted ${helds.join(',')}`);
    assert.equal(heldByAll(xs, -1), stable, `stable of ${helds.join(',')}`);
    assert.equal(heldByMajority(xs, -1), committed, `committed of ${helds.join(',')}`);
  }
  assert.equal(heldByAll([], 42), 42);
  assert.equal(heldByMajority([], 42), 42);
});
