/**
 * The durable store alone, on a simulated disk: it reports how far the stream is on
 * disk only after a flush, holds that back behind a received state not yet on disk, and
 * gives up a checkpoint round whose checkpoints never come, for a new one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CoreEvent } from '../src/core/outbox.js';
import type { DataMsg, EndpointView, Position } from '../src/core/types.js';
import { SegmentLog } from '../src/persist/segment-log.js';
import { SimDisk } from '../src/persist/sim-disk.js';
import { DurableStore } from '../src/persist/store.js';
import { SeededRng } from '../src/sim/rng.js';

const view: EndpointView = { epoch: 1, members: [{ id: 'a', inc: 1, addr: 'a' }] };
const installed: CoreEvent = { type: 'installed', view, joined: [], left: [], failed: [], failures: [], restored: [] };
function entry(gseq: number, bytes = 100): CoreEvent {
  const d: DataMsg = { t: 'data', from: { id: 'a', inc: 1 }, epoch: 1, sender: { id: 'a', inc: 1 }, seq: gseq, kind: 0, group: 'g', safe: false, relay: false, payload: new Uint8Array(bytes) };
  return { type: 'persist', pos: { epoch: 1, gseq }, entry: d, localIds: null };
}

async function store(checkpointBytes = 1 << 20): Promise<{ s: DurableStore; told: Position[]; flushes: (() => void)[] }> {
  const flushes: (() => void)[] = [];
  const disk = new SimDisk(new SeededRng(7), { defer: (done) => flushes.push(done) });
  const log = await SegmentLog.open(disk.handle());
  const told: Position[] = [];
  const s = new DurableStore(log, { durable: (p) => told.push(p), failed: (e) => assert.fail(String(e)) }, { checkpointBytes });
  return { s, told, flushes };
}

/** Let the flushes under way complete, and their promises settle. */
async function completeFlushes(flushes: (() => void)[]): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    while (flushes.length > 0) flushes.shift()!();
  }
}

test('the store tells a position only once its flush completed, and not past a received state still unsynced', async () => {
  const { s, told, flushes } = await store();
  const net = () => 'n';
  s.onEvent(installed, net);
  s.onEvent(entry(1), net);
  s.commit();
  assert.equal(told.length, 0, 'nothing told before the flush completes');
  await completeFlushes(flushes);
  assert.deepEqual(told, [{ epoch: 1, gseq: 1 }]);
  // A joiner at gseq 2: its later entries 3 and 4 reach the log before its state does.
  s.onEvent(entry(3), net);
  s.onEvent(entry(4), net);
  s.commit(); // flush A: entries 3 and 4
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // A has taken its batch, and waits on the disk
  s.onEvent({ type: 'state', group: 'h', pos: { epoch: 1, gseq: 2 }, data: new Uint8Array(10) }, net);
  s.commit(); // flush B waits for A: the state
  // Only flush A completes: 3 and 4 are on disk, the state they apply to is not.
  assert.equal(flushes.length, 1, 'flush A waits on the disk');
  flushes.shift()!();
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(told, [{ epoch: 1, gseq: 1 }], 'nothing told past the state still unsynced');
  await completeFlushes(flushes);
  assert.deepEqual(told.at(-1), { epoch: 1, gseq: 4 }, 'once the state is on disk too');
});

test('a checkpoint round whose checkpoints never come is given up for a new one, twice its bytes later', async () => {
  const { s, flushes } = await store(4096);
  const net = () => 'n';
  s.onEvent(installed, net);
  let g = 0;
  const feed = (bytes: number): void => {
    for (let n = 0; n < bytes; n += 500) s.onEvent(entry(++g, 500), net);
  };
  feed(4096);
  assert.equal(s.checkpointDue, true);
  s.beginRound('n', view, [], 0, ['g']); // 'g' never gives its checkpoint
  feed(4096);
  assert.equal(s.checkpointDue, false, 'one round under way, not yet given up');
  feed(4096);
  assert.equal(s.checkpointDue, true, 'given up after twice the bytes');
  const pos = s.beginRound('n', view, [], 0, ['g']);
  assert.equal(s.checkpoints.failed, 1);
  s.addCheckpoint('g', pos, new Uint8Array(3));
  assert.equal(s.checkpoints.rounds, 1);
  s.commit();
  await completeFlushes(flushes);
});
